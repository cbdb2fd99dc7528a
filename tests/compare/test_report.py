"""The report: its readings, figures and HTML."""

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest

from sklearn_robust.compare import _measures as measures
from sklearn_robust.compare import _report, write_report
from sklearn_robust.compare._settings import SETTINGS

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
