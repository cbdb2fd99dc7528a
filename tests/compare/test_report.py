"""The report: its readings, figures and HTML."""

import dataclasses
import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from sklearn_robust.compare import _measures as measures
from sklearn_robust.compare import _report, _run, write_report
from sklearn_robust.compare._settings import SETTINGS
from sklearn_robust.spectrum import RELATIVE_FLOOR

from .conftest import make_comparison, som_values


def test_som_reading_states_what_the_numbers_say():
    comparison = make_comparison(
        {"backprop": som_values(3.0, 1.0, 1.0), "l2": som_values(1.0, 2.0, 2.0)}
    )
    reading = _report._read_som(comparison)
    assert "the hidden layer of l2 keeps its top-10 BMUs closest" in reading
    assert "on the 10 x 10 torus" in reading
    assert "that of backprop moves them furthest (3.00)" in reading
    assert "for backprop but not for l2" in reading  # l2: noise moves them further
    assert "1 of 2 hidden layers gather the classes more tightly than the input map" in reading
    assert "widens this PGD/noise gap for 1 of 2 models (backprop)" in reading

    agreeing = make_comparison({m: som_values(3.0, 1.0, 1.0) for m in ("a", "b")})
    assert "for every model" in _report._read_som(agreeing)


def _density_values(rho_log_density, rho_kl):
    values = {measures.DPGMM_LOG_DENSITY_MEAN: 0.0, measures.DPGMM_KL_MEAN: 1.0}
    if rho_log_density is not None:
        values[measures.dpgmm_radius_spearman("log_density")] = rho_log_density
        values[measures.dpgmm_radius_spearman("kl")] = rho_kl
    return values


def _densities(models, n_classes=10):
    return pd.DataFrame(
        {"model": np.repeat(list(models), n_classes), "class": list(range(n_classes)) * len(models)}
    )


@pytest.mark.parametrize(
    "rhos, expected",
    [
        ({"a": (0.9, 0.1), "b": (0.8, 0.2)}, "positive for every model, the opposite of the paper"),
        ({"a": (-0.9, -0.1), "b": (-0.8, -0.2)}, "negative for every model, as in the paper"),
        ({"a": (-0.9, 0.1), "b": (0.8, 0.2)}, "negative, as in the paper, for 1 of 2 models"),
        ({"a": (-0.9, 0.1), "b": (None, None)}, "Undefined for b"),
    ],
)
def test_dpgmm_reading_says_whether_the_paper_holds(rhos, expected):
    comparison = make_comparison(
        {m: _density_values(*rho) for m, rho in rhos.items()}, densities=_densities(rhos)
    )
    reading = _report._read_densities(comparison)
    assert expected in reading
    assert "|rho| > 0.63" in reading  # the 5% level for 10 classes
    assert "own 16-dimensional PCA space" in reading


def test_readings_quote_the_settings_the_run_used():
    settings = dataclasses.replace(
        SETTINGS,
        som_size=7,
        som_top_k=5,
        smoothing_sigma=0.5,
        certified_radius=0.75,
        dpgmm_dimensions=32,
    )
    certified = measures.certified_accuracy(settings.certified_radius)
    values = {
        m: {**som_values(v, 1.0, 1.0), **_density_values(0.5, 0.5), certified: v / 4}
        for m, v in (("a", 2.0), ("b", 3.0))
    }
    certified_rows = pd.DataFrame({"model": "a", "class": [0, 1], "radius": [0.1, 0.9]})
    comparison = make_comparison(
        values, densities=_densities(values), certified=certified_rows, settings=settings
    )
    som = _report._read_som(comparison)
    assert "keeps its top-5 BMUs closest" in som and "on the 7 x 7 torus" in som
    assert "top-10" not in som and "10 x 10" not in som
    certification = _report._read_certification(comparison)
    assert certification.startswith("Certified accuracy at radius 0.75 (sigma 0.5): best b")
    assert "own 32-dimensional PCA space" in _report._read_densities(comparison)


def test_write_report_leaves_the_backend_and_pyplot_alone(comparison, tmp_path):
    import matplotlib
    import matplotlib.pyplot as plt

    previous = matplotlib.get_backend()
    try:
        matplotlib.use("svg")
        figure = plt.figure()  # the caller's own figure, current and open
        folder = write_report(comparison, tmp_path / "report")
        assert matplotlib.get_backend() == "svg"
        assert plt.get_fignums() == [figure.number] and plt.gcf() is figure
    finally:
        plt.close("all")
        matplotlib.use(previous)
    assert sorted(p.name for p in folder.glob("*.png")) == sorted(
        image for _, image, _ in _sections(folder)
    )


def _sections(folder):
    """``(title, image, reading)`` of every section of the report's HTML."""
    text = (folder / "index.html").read_text()
    pattern = r'<h2>(.*?)</h2>\s*<p>(.*?)</p>\s*<img src="(.*?)"'
    return [(title, image, reading) for title, reading, image in re.findall(pattern, text, re.S)]


def _drawn(fig):
    """The figure drawn (by Agg, whatever the backend) and its renderer."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    return fig.canvas.get_renderer()


def _overlapping(boxes):
    return [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :] if a.overlaps(b)]


def test_spectra_leave_out_numerically_zero_eigenvalues_and_mark_the_fits(comparison):
    fig = _report._spectra_figure(comparison)
    ax = fig.axes[0]
    spectra = [*comparison.spectra.values(), comparison.data_spectrum]  # the data's last
    drawn = [line for line in ax.lines if line.get_linestyle() == "-"]
    for spectrum, line in zip(spectra, drawn, strict=True):  # each above its own floor
        assert line.get_ydata().min() > spectrum.floor  # each spectrum's first eigenvalue is 1
    # The KH encoder's representation, computed in float64, and the data are shown further
    # down than a float32 hidden layer.
    assert comparison.spectra["kh-hybrid"].floor == comparison.data_spectrum.floor == 1e-12
    assert comparison.spectra["l2"].floor == RELATIVE_FLOOR
    fits = [line for line in ax.lines if line.get_linestyle() == "--"]
    for spectrum, fit in zip(spectra, fits, strict=True):
        assert (fit.get_xdata()[0], fit.get_xdata()[-1]) == spectrum.fit_range
    low, high = _report._fitted_ranks(comparison)
    assert ax.patches and ax.patches[0].get_x() == low  # the shaded ranks
    assert f"fits, ranks {low}-{high}" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_critical_distance_labels_do_not_overlap(comparison):
    fig = _report._distances_figure(comparison)
    renderer = _drawn(fig)
    assert len(fig.axes) == len(comparison.config.attacks)  # one row per attack
    for ax in fig.axes:
        labels = [label for label in ax.get_xticklabels() if label.get_text()]
        assert all(label.get_rotation() == 0 for label in labels)
        assert not _overlapping([label.get_window_extent(renderer) for label in labels])


def test_jacobian_colour_bars_keep_clear_of_the_next_panel(comparison):
    fig = _report._landscapes_figure(comparison)
    renderer = _drawn(fig)
    colour_bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    panels = [ax for ax in fig.axes if ax not in colour_bars]
    assert len(colour_bars) == len(comparison.landscapes)
    for bar in colour_bars:
        ticks = [t for t in bar.yaxis.get_ticklabels(which="both") if t.get_text()]
        assert ticks and all("times" not in t.get_text() for t in ticks)  # no 6.2x10^0
        box = bar.get_tightbbox(renderer)
        assert not [ax for ax in panels if box.overlaps(ax.get_tightbbox(renderer))]


def test_a_median_beyond_the_search_is_drawn_at_its_limit():
    median = measures.median_critical_distance("noise")
    values = {
        "near": {measures.ACCURACY: 0.9, median: 2.0},
        "far": {measures.ACCURACY: 0.8, median: np.inf},  # most examples never fooled
    }
    config = dataclasses.replace(make_comparison({}).config, attacks=("noise",))
    comparison = make_comparison(values, config=config, max_eps={"noise": 12.5})
    ax = _report._tradeoff_figure(comparison).axes[0]
    labels = {text.get_text(): text.xy for text in ax.texts}
    assert labels == {"near": (0.9, 2.0), "far (> 12.5)": (0.8, 12.5)}
    assert ax.get_ylim()[1] > 12.5
    reading = _report._read_curves(comparison)
    assert (
        "Under noise, far holds its decisions longest: median critical distance > 12.5, half or "
        "more of the examples never fooled within distance 12.5." in reading
    )
    assert "Of the others, near gives way first (median critical distance 2)." in reading

    unknown = make_comparison(values, config=config)  # no recorded limit: top of the panel
    ax = _report._tradeoff_figure(unknown).axes[0]
    assert "far (beyond the search)" in [text.get_text() for text in ax.texts]


def test_a_median_beyond_the_search_reads_as_censored(comparison, tmp_path):
    """Mostly never fooled: "> max_eps" in the summary and the readings, inf in the files."""
    attack, model = "noise", comparison.model_names[0]
    distances = np.array([0.0, 0.4, 0.9, np.inf, np.inf, np.inf])  # 3 of 5 never fooled
    rows = _run._distance_rows(model, attack, distances)
    replaced = {measure for _, measure, _ in rows}
    results = comparison.results
    kept = results[~((results.model == model) & results.measure.isin(replaced))]
    far = dataclasses.replace(
        comparison,
        results=pd.concat([kept, pd.DataFrame(rows, columns=results.columns)], ignore_index=True),
        distances={**comparison.distances, (model, attack): distances},
    )
    median = measures.median_critical_distance(attack)
    limit = far.max_eps[attack]
    censored = f"> {limit:.3g}"

    assert far.summary().loc[median, model] == np.inf
    text = far.summary(as_text=True)
    assert text.loc[median, model] == censored
    others = [m for m in far.model_names if m != model]
    assert all(not cell.startswith(">") for cell in text.loc[median, others])
    assert censored in far.summary(as_text=True).to_string()
    assert f"{model} holds its decisions longest: median critical distance {censored}" in (
        _report._read_curves(far)
    )
    assert f"{model} (60%, median {censored})" in _report._read_distances(far)

    folder = write_report(far, tmp_path / "report")
    assert f"<td>&gt; {limit:.3g}</td>" in (folder / "index.html").read_text()
    csv = pd.read_csv(folder / "results.csv")
    assert csv[(csv.model == model) & (csv.measure == median)].value.tolist() == [np.inf]
    saved = json.loads((folder / "results.json").read_text())
    [row] = [r for r in saved["results"] if r["model"] == model and r["measure"] == median]
    assert row["value"] == np.inf
    assert saved["max_eps"] == far.max_eps
    assert saved["median_critical_distance_limits"][model][attack] == limit


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    CHROMIUM is None, reason="needs headless Chromium (/usr/bin/chromium); CI installs no browser"
)
def test_the_report_renders_in_a_browser_with_every_image(comparison, tmp_path):
    folder = write_report(comparison, tmp_path / "report")
    # A copy of the page that, once loaded, counts its images that decoded.
    script = (
        "<script>window.addEventListener('load', () => {"
        "const images = Array.from(document.images);"
        "const shown = images.filter((image) => image.complete && image.naturalWidth > 0);"
        "document.title = `${shown.length} of ${images.length} images`;});</script>"
    )
    page = folder / "index.html"
    checked = tmp_path / "checked"
    shutil.copytree(folder, checked)
    (checked / "index.html").write_text(page.read_text().replace("</body>", script + "</body>"))
    finished = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            (checked / "index.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    title = re.search(r"<title>(\d+) of (\d+) images</title>", finished.stdout)
    assert title, finished.stderr[-2000:]
    n_sections = len(_sections(folder))
    assert title.groups() == (str(n_sections), str(n_sections)) and n_sections == 8


def test_the_kh_encoders_convergence_is_measured_and_read(comparison):
    kh = measures.KH_CONVERGED_FRACTION
    rows = comparison.results[comparison.results.measure == kh]
    assert rows.model.tolist() == ["kh-hybrid"]  # models without an encoder have no row
    share = float(rows.value.iloc[0])
    assert 0.0 <= share <= 1.0
    reading = _report._read_spectra(comparison)
    verdict = "converged:" if share >= 0.9 else "had not converged"
    assert f"kh-hybrid's Krotov-Hopfield encoder {verdict}" in reading


@pytest.mark.parametrize(("share", "says"), [(0.97, "converged: 97%"), (0.3, "had not converged")])
def test_the_reading_follows_the_converged_share(share, says):
    values = {"kh": {measures.KH_CONVERGED_FRACTION: share}, "mlp": {measures.ACCURACY: 0.9}}
    reading = _report._read_encoder_convergence(make_comparison(values))
    assert reading.count("Krotov-Hopfield encoder") == 1 and f"encoder {says}" in reading
