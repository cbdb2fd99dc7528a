"""The comparison's report: figures, a short reading of each, results.csv and results.json.

:func:`write_report` writes everything into a temporary folder next to the
target and moves it into place only when complete, so an interrupted run never
leaves a half-written report that looks finished.
"""

from __future__ import annotations

import dataclasses
import html
import json
import logging
import os
import shutil
import signal
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..hebbian import _CONVERGED_SHARE
from ..spectrum import RELATIVE_FLOOR
from . import _measures as measures
from ._claims import AGREE, DISAGREE, NOT_MEASURED, claims_table

__all__ = ["check_report_folder", "write_report"]


# results.json names its writer and every file of the report, so that a later run
# can tell its own report (which it may replace) from a folder of the user's.
GENERATOR = "sklearn_robust compare"


def check_report_folder(out_dir) -> Path:
    """The report's folder, if writing the report there loses nothing of the user's.

    The folder may be absent, empty, or a report this command wrote (its
    ``results.json`` names this command and lists every file in the folder).
    Anything else is refused, and a file is never replaced.

    Parameters
    ----------
    out_dir : str or Path
        Folder the report is to be written to.

    Returns
    -------
    Path
        The folder as an absolute path (a link is refused, not followed).

    Raises
    ------
    ValueError
        One line that names the folder and why it is refused.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sklearn_robust.compare import check_report_folder
    >>> folder = Path(tempfile.mkdtemp())
    >>> check_report_folder(folder / "report") == folder / "report"
    True
    >>> (folder / "notes.txt").write_text("mine")
    4
    >>> check_report_folder(folder)
    Traceback (most recent call last):
    ...
    ValueError: ... holds files this command did not write; ...
    """
    path = Path(out_dir).absolute()
    if path.is_symlink():
        raise ValueError(f"report folder {out_dir} is a link; give the folder itself")
    if path.exists() and not path.is_dir():
        raise ValueError(f"report folder {out_dir} is a file; a report never replaces a file")
    here = Path.cwd().resolve()
    if path.exists() and (path.resolve() == here or path.resolve() in here.parents):
        raise ValueError(
            f"report folder {out_dir} is the current folder or holds it; give another folder"
        )
    if path.is_dir() and any(path.iterdir()) and not _is_report(path):
        raise ValueError(
            f"report folder {out_dir} holds files this command did not write; it is left as it is: "
            "give a new or empty folder, or a report this command wrote"
        )
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise ValueError(f"cannot write the report to {out_dir}: {parent} is not a writable folder")
    return path


def _report_files(folder):
    """The files a report folder lists in its results.json, or None if it is not a report."""
    try:
        saved = json.loads((folder / "results.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("generator") != GENERATOR:
        return None
    files = saved.get("files")
    return set(files) if isinstance(files, list) else None


def _is_report(folder):
    """Whether every entry of ``folder`` is a plain file its results.json lists."""
    files = _report_files(folder)
    if files is None:
        return False
    return all(
        entry.name in files and entry.is_file() and not entry.is_symlink()
        for entry in folder.iterdir()
    )


def write_report(comparison, out_dir) -> Path:
    """Write ``index.html``, the PNG figures, ``results.csv`` and ``results.json``.

    The report is written into a hidden folder beside ``out_dir`` and moved into
    place when complete, so an interrupted run leaves nothing half-written and the
    previous report as it was.

    Parameters
    ----------
    comparison : ComparisonResults
        From :func:`sklearn_robust.compare.run_comparison`.
    out_dir : str or Path
        The report folder: absent, empty, or a report this function wrote, which
        is replaced (see :func:`check_report_folder`; anything else is refused).

    Returns
    -------
    Path
        The report folder.

    Examples
    --------
    >>> from sklearn_robust.compare import ComparisonConfig, run_comparison, write_report
    >>> config = ComparisonConfig(quick=True, models=("backprop",), attacks=("fgsm",))
    >>> results = run_comparison(config, progress=lambda line: None)  # doctest: +SKIP
    >>> write_report(results, "report").name  # doctest: +SKIP
    'report'
    """
    out_dir = check_report_folder(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        sections = _figures(comparison, staging)
        rows = comparison.seed_results() if comparison.replicates else comparison.results
        rows.to_csv(staging / "results.csv", index=False)
        (staging / "index.html").write_text(_html(comparison, sections))
        files = sorted({entry.name for entry in staging.iterdir()} | {"results.json"})
        (staging / "results.json").write_text(
            json.dumps(_json(comparison, files), indent=2, default=_plain)
        )
        with _interrupts_deferred():  # never half-way between the old report and the new
            _move_into_place(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def _move_into_place(staging, out_dir):
    """Replace ``out_dir`` (absent, empty or an earlier report) by ``staging``."""
    check_report_folder(out_dir)  # again: the user may have added a file during the run
    if not out_dir.exists():
        staging.rename(out_dir)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-old-", dir=out_dir.parent))
    old.rmdir()
    out_dir.rename(old)
    staging.rename(out_dir)
    # Delete only the files the old report lists; rmdir fails rather than lose anything else.
    for name in _report_files(old) or ():
        (old / name).unlink(missing_ok=True)
    try:
        old.rmdir()
    except OSError:
        pass  # something unexpected appeared in it: left, under its hidden name


@contextmanager
def _interrupts_deferred():
    """Hold Ctrl-C until the block is done (main thread only), then raise it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda *_: received.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


# -------------------------------------------------------------------------- figures
def _figures(comparison, folder):
    """Draw every figure into ``folder``; returns (title, file, reading) per section."""
    # Mathtext labels make matplotlib look for fonts a minimal install lacks; each
    # fallback to DejaVu Sans would be a logged message.
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    sections = []
    for title, draw, read in _sections_of(comparison):
        fig = draw(comparison)
        name = title.lower().replace(" ", "_").replace(",", "") + ".png"
        fig.savefig(folder / name, dpi=90, bbox_inches="tight")
        sections.append((title, name, read(comparison)))
    return sections


def _sections_of(comparison):
    """The sections these results can fill: the core, then the papers' own experiments."""
    from . import _report_isometry, _report_layers, _report_memorisation

    core = [
        (title, draw, read)
        for title, draw, read in _SECTIONS
        if not (draw is _som_figure and not comparison.som)
        and not (draw is _densities_figure and comparison.densities is None)
    ]  # results made without the probes have no SOM or density section
    return [
        *core,
        *_report_layers.sections_for(comparison),
        *_report_memorisation.sections_for(comparison),
        *_report_isometry.sections_for(comparison),
    ]


def _subplots(n_rows, n_cols, figsize, **kwargs):
    """A figure of its own and its axes (always 2-D).

    Not pyplot's: the caller's backend, current figure and open figures are left
    as they are, and nothing needs closing.
    """
    from matplotlib.figure import Figure

    # Constrained layout makes room for every label and colour bar, so none runs into
    # the next panel.
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(n_rows, n_cols, squeeze=False, **kwargs)


def _curves_figure(comparison):
    from ..plotting import plot_accuracy_curve

    attacks = list(comparison.config.attacks)
    fig, axes = _subplots(1, len(attacks), figsize=(5 * len(attacks), 4))
    for ax, attack in zip(axes[0], attacks, strict=True):
        curve = comparison.curves[comparison.curves.attack == attack]
        plot_accuracy_curve(curve, ax=ax).set_title(f"{attack}: relative accuracy")
    return fig


def _distances_figure(comparison):
    """One row per attack, as wide as the models need: their labels stay level and apart."""
    from ..plotting import plot_critical_distances

    attacks = list(comparison.config.attacks)
    models = list(dict.fromkeys(m for m, _ in comparison.distances))
    # About 1.4 inches a label, the widest being "isometry-0.1" over "(43% never)".
    width = max(7.0, 1.4 * len(models) + 1.5)
    fig, axes = _subplots(len(attacks), 1, figsize=(width, 3.2 * len(attacks)))
    for ax, attack in zip(axes[:, 0], attacks, strict=True):
        plot_critical_distances({m: comparison.distances[m, attack] for m in models}, ax=ax)
        ax.set_title(f"{attack}: critical distances")
    return fig


def _landscapes_figure(comparison):
    from ..plotting import plot_decision_landscape, plot_jacobian_norm_map

    models = list(comparison.landscapes)
    fig, axes = _subplots(2, len(models), figsize=(4.5 * len(models), 8))
    for column, model in enumerate(models):
        landscape, jmap = comparison.landscapes[model]
        plot_decision_landscape(landscape, ax=axes[0, column]).set_title(f"{model}: decisions")
        axes[0, column].get_legend().remove()
        plot_jacobian_norm_map(jmap, ax=axes[1, column], log=True).set_title(
            f"{model}: Jacobian norm"
        )
        _short_log_ticks(axes[1, column].images[0].colorbar)
    return fig


def _short_log_ticks(colorbar):
    """Plain tick labels (6.2, 1e+04) on a log colour bar instead of 6.2x10^0.

    Within one decade the default labels the minor ticks in scientific notation,
    wider than the gap to the next panel.
    """
    from matplotlib.ticker import LogFormatter

    colorbar.ax.yaxis.set_major_formatter(LogFormatter())
    colorbar.ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))


# An eigenvalue below this share of the first is numerically zero for the fit
# (spectrum.RELATIVE_FLOOR); the figure leaves it out as well.
_SPECTRUM_FLOOR = RELATIVE_FLOOR
_KH_CONVERGED = _CONVERGED_SHARE  # the share of winning units KHEncoder calls converged


def _spectra_figure(comparison):
    """The spectra above their fits' floors, each fit dashed over its ranks, the ranks
    shaded; the test data's own spectrum in black."""
    from matplotlib.lines import Line2D

    fig, axes = _subplots(1, 1, figsize=(6.5, 4.5))
    ax = axes[0, 0]
    spectra = list(comparison.spectra.items())
    if comparison.data_spectrum is not None:
        spectra.append(("test data", comparison.data_spectrum))
    for index, (model, spectrum) in enumerate(spectra):
        eigenvalues = spectrum.eigenvalues
        ranks = np.arange(1, len(eigenvalues) + 1)
        shown = eigenvalues > spectrum.floor * eigenvalues[0]
        colour = "black" if model == "test data" else f"C{index}"
        label = f"{model} (alpha {spectrum.alpha:.2f})"
        ax.loglog(ranks[shown], eigenvalues[shown], color=colour, label=label)
        fitted = np.arange(spectrum.fit_range[0], spectrum.fit_range[1] + 1)
        line = np.exp(spectrum.intercept) * fitted**-spectrum.alpha
        ax.loglog(fitted, line, color=colour, linestyle="--", linewidth=1)
    low, high = _fitted_ranks(comparison)
    ax.axvspan(low, high, color="0.92", zorder=0)
    handles, _ = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="0.3", linestyle="--", label=f"fits, ranks {low}-{high}"))
    ax.legend(handles=handles, fontsize=8)
    ax.set_xlabel("rank n")
    ax.set_ylabel(r"$\lambda_n / \lambda_1$")
    ax.set_title("covariance spectra of the representations (KH: the encoder's own)")
    return fig


def _fitted_ranks(comparison):
    """The first and last rank fitted for any model."""
    ranges = [spectrum.fit_range for spectrum in comparison.spectra.values()]
    return min(first for first, _ in ranges), max(last for _, last in ranges)


def _tradeoff_figure(comparison):
    from matplotlib.ticker import MaxNLocator

    attacks = list(comparison.config.attacks)
    fig, axes = _subplots(1, len(attacks), figsize=(5 * len(attacks), 4))
    for ax, attack in zip(axes[0], attacks, strict=True):
        _tradeoff_panel(comparison, attack, ax)
        ax.margins(x=0.25, y=0.12)  # room for the labels of the outermost points
        ax.xaxis.set_major_locator(MaxNLocator(5))  # accuracies differ in the third digit
        ax.set_xlabel("test accuracy")
        ax.set_ylabel("median critical distance")
        ax.set_title(f"{attack}: robustness vs accuracy")
    return fig


# A point's label: a little up and to the right of it, clear of the marker.
_BESIDE = {"xytext": (4, 4), "textcoords": "offset points", "fontsize": 8}


def _tradeoff_panel(comparison, attack, ax):
    """One point per model at its accuracy and median critical distance.

    A median beyond the search (half or more of the examples never fooled within
    ``max_eps``) is infinite; it is drawn at the search's limit, so that the most
    robust models stay in the panel. A model with no median (no example classified
    correctly) has no point.
    """
    limit = comparison.max_eps.get(attack)
    for index, model in enumerate(_models(comparison)):
        accuracy = _value(comparison, model, measures.ACCURACY)
        median = _value(comparison, model, measures.median_critical_distance(attack))
        if np.isfinite(median):
            ax.scatter(accuracy, median, color=f"C{index}")
            ax.annotate(model, (accuracy, median), **_BESIDE)
        elif median == np.inf:
            _censored_point(ax, accuracy, limit, model, f"C{index}")


def _censored_point(ax, accuracy, limit, model, colour):
    """An open triangle labelled "> limit" on a dotted line at the limit.

    Without a recorded limit (results made by hand) it goes to the top of the panel.
    """
    if limit is None:
        y, where, text = 0.95, ax.get_xaxis_transform(), f"{model} (beyond the search)"
    else:
        y, where, text = limit, ax.transData, f"{model} (> {limit:.3g})"
        ax.axhline(limit, color="0.6", linestyle=":", linewidth=1)
    ax.scatter(accuracy, y, marker="^", s=60, facecolors="none", edgecolors=colour, transform=where)
    ax.annotate(text, (accuracy, y), xycoords=where, **_BESIDE)


_SMOOTHING_PANELS = (
    ("radius", "mean certified radius\n(0 if wrong or abstained)"),
    ("f1", "F1 of the smoothed classifier"),
    ("non_abstained", "fraction not abstained"),
)


def _certification_figure(comparison):
    """Per class and model: Jamroz and Kurdziel's three scores of the smoothed classifier."""
    smoothing = comparison.smoothing
    if smoothing is None:  # results without the abstentions: the radii alone
        smoothing = comparison.certified.groupby(["model", "class"], as_index=False).radius.mean()
    panels = [(c, label) for c, label in _SMOOTHING_PANELS if c in smoothing]
    width = 1.2 * len(_models(comparison)) + 3
    fig, axes = _subplots(len(panels), 1, figsize=(width, 2.6 * len(panels)))
    for ax, (column, label) in zip(axes[:, 0], panels, strict=True):
        table = smoothing.pivot_table(index="class", columns="model", values=column)
        table = table[_models(comparison)]
        image = ax.imshow(table.to_numpy().T, aspect="auto", cmap="viridis")
        ax.set_xticks(range(len(table.index)), [str(c) for c in table.index])
        ax.set_yticks(range(len(table.columns)), table.columns)
        fig.colorbar(image, ax=ax, label=label)
    axes[-1, 0].set_xlabel("class")
    axes[0, 0].set_title("randomized smoothing, per class: certified radius, F1, not abstained")
    return fig


def _som_figure(comparison):
    from ..plotting import plot_bmu_shift, plot_class_spread

    models = [m for m in _models(comparison) if m in comparison.som]
    n_panels = len(models) + 1
    n_rows = -(-n_panels // 4)  # at most 4 panels a row, the rows as full as they can be
    n_cols = -(-n_panels // n_rows)
    fig, axes = _subplots(n_rows, n_cols, figsize=(4.6 * n_cols, 4 * n_rows))
    flat = axes.ravel()
    spreads = {"input": comparison.input_spread}
    spreads.update({m: comparison.som[m].spread for m in models})
    plot_class_spread(spreads, ax=flat[0]).set_title(
        "D_class on the training data\n(input map, then each hidden layer's)"
    )
    flat[0].tick_params(axis="x", labelrotation=40)
    highest = 0.0
    for ax, model in zip(flat[1:], models, strict=False):
        shifts = {_shift_label(*key): s for key, s in comparison.som[model].shifts.items()}
        plot_bmu_shift(shifts, ax=ax).set_title(f"{model}: BMU shift, PGD vs noise")
        ax.legend(fontsize=7)
        highest = max(highest, *(np.mean(s, axis=0).max() for s in shifts.values()))
    for ax in flat[1:n_panels]:
        ax.set_ylim(0, 1.1 * highest + 0.1)
    for ax in flat[n_panels:]:
        ax.axis("off")
    return fig


def _shift_label(perturbation, layer):
    """``("pgd", "input")`` -> ``"PGD, input"``: the legend of a BMU-shift panel."""
    return f"{perturbation.upper() if perturbation == 'pgd' else perturbation}, {layer}"


def _densities_figure(comparison):
    table = comparison.densities
    models = [m for m in _models(comparison) if m in set(table.model)]
    fig, axes = _subplots(2, len(models), figsize=(3.3 * len(models), 6.4), sharey=True)
    for column, model in enumerate(models):
        rows = table[table.model == model]
        for row, (measure, label) in enumerate(
            (("log_density", "held-out log density (nats)"), ("kl", "KL to max-entropy (nats)"))
        ):
            ax = axes[row, column]
            ax.scatter(rows[measure], rows.radius, s=18)
            for _, entry in rows.iterrows():
                ax.annotate(str(entry["class"]), (entry[measure], entry.radius), fontsize=7)
            rho = _value(comparison, model, measures.dpgmm_radius_spearman(measure))
            ax.set_title(f"{model}: rho {rho:+.2f}" if np.isfinite(rho) else model, fontsize=9)
            ax.set_xlabel(label, fontsize=8)
        axes[0, column].tick_params(labelsize=7)
        axes[1, column].tick_params(labelsize=7)
    axes[0, 0].set_ylabel("mean certified radius")
    axes[1, 0].set_ylabel("mean certified radius")
    fig.suptitle("per class: DP-GMM density and complexity of the hidden layer vs certified radius")
    return fig


# -------------------------------------------------------------------------- readings
def _models(comparison):
    return comparison.model_names


def _value(comparison, model, measure):
    rows = comparison.results
    match = rows[(rows.model == model) & (rows.measure == measure)].value
    return float(match.iloc[0]) if len(match) else float("nan")


def _ranking(comparison, measure):
    values = {m: _value(comparison, m, measure) for m in _models(comparison)}
    values = {m: v for m, v in values.items() if np.isfinite(v)}
    return sorted(values, key=values.get, reverse=True), values


def _read_curves(comparison):
    sentences = []
    for attack in comparison.config.attacks:
        order, values = _ranking(comparison, measures.median_critical_distance(attack))
        beyond = _beyond_the_search(comparison, attack)
        if beyond:
            # Their medians are only known to exceed the limit: above every finite one.
            sentences.append(_beyond_sentence(comparison, attack, beyond))
            if order:
                sentences.append(
                    f"Of the others, {order[-1]} gives way first (median critical distance "
                    f"{values[order[-1]]:.3g})."
                )
        elif len(order) > 1:
            sentences.append(
                f"Under {attack}, {order[0]} holds its decisions longest (median critical "
                f"distance {values[order[0]]:.3g}) and {order[-1]} gives way first "
                f"({values[order[-1]]:.3g})."
            )
        elif order:
            sentences.append(
                f"Under {attack}, the median critical distance of {order[0]} is "
                f"{values[order[0]]:.3g}."
            )
    return " ".join(sentences)


def _beyond_the_search(comparison, attack):
    """The models whose median critical distance is infinite: half or more of their
    examples are never fooled within the search. (No row means no median: none correct.)"""
    name = measures.median_critical_distance(attack)
    return [m for m in _models(comparison) if _value(comparison, m, name) == np.inf]


def _censored(comparison, attack):
    """The censored median, as the summary and the trade-off figure write it: "> max_eps"."""
    limit = comparison.max_eps.get(attack)
    return "beyond the search" if limit is None else f"> {limit:.3g}"


def _beyond_sentence(comparison, attack, beyond):
    """Under the attack, the models whose median lies beyond the search hold longest."""
    limit = comparison.max_eps.get(attack)
    within = f" within distance {limit:.3g}" if limit is not None else " within the search"
    return (
        f"Under {attack}, {', '.join(beyond)} {'holds its' if len(beyond) == 1 else 'hold their'}"
        f" decisions longest: median critical distance {_censored(comparison, attack)}, half "
        f"or more of the examples never fooled{within}."
    )


def _read_distances(comparison):
    parts = []
    for attack in comparison.config.attacks:
        name = measures.never_fooled(attack)
        never = {m: _value(comparison, m, name) for m in _models(comparison)}
        beyond = set(_beyond_the_search(comparison, attack))
        censored = _censored(comparison, attack)
        unfooled = [
            f"{m} ({v:.0%}" + (f", median {censored})" if m in beyond else ")")
            for m, v in never.items()
            if v > 0
        ]
        if unfooled:
            limit = comparison.max_eps.get(attack)
            within = f" within distance {limit:.3g}" if limit is not None else ""
            parts.append(
                f"{attack} never fooled{within} some examples of " + ", ".join(unfooled) + "."
            )
    spread = "Each violin is one model's distribution over the correctly classified examples."
    return " ".join([spread, *parts])


def _read_tradeoff(comparison):
    order, accuracy = _ranking(comparison, measures.ACCURACY)
    pgd = "pgd" if "pgd" in comparison.config.attacks else comparison.config.attacks[-1]
    robust, _ = _ranking(comparison, measures.median_critical_distance(pgd))
    # A median beyond the search exceeds every finite one.
    robust = _beyond_the_search(comparison, pgd) + robust
    text = (
        f"{order[0]} is the most accurate ({accuracy[order[0]]:.3f}) and {order[-1]} the least "
        f"({accuracy[order[-1]]:.3f})."
    )
    if robust:
        same = robust[0] == order[-1]
        text += f" Under {pgd}, {robust[0]} is the most robust" + (
            ", and also the least accurate: the trade-off of the paper's figure A2."
            if same
            else "."
        )
    return text


def _read_spectra(comparison):
    order, alpha = _ranking(comparison, measures.HIDDEN_ALPHA)
    noise = {m: _value(comparison, m, measures.HIDDEN_ALPHA_WHITE_NOISE) for m in order}
    calibration = {m: _value(comparison, m, measures.HIDDEN_ALPHA_CALIBRATION) for m in order}
    low, high = _fitted_ranks(comparison)
    data = comparison.data_spectrum
    data_sentence = "" if data is None else f" The test data's own exponent is {data.alpha:.2f}."
    error = max((abs(v) for v in calibration.values() if np.isfinite(v)), default=float("nan"))
    return (
        f"Steepest spectrum: {order[0]} (alpha {alpha[order[0]]:.2f}); flattest: {order[-1]} "
        f"(alpha {alpha[order[-1]]:.2f}).{data_sentence} On white-noise input the exponents "
        "are "
        + ", ".join(f"{m} {v:.2f}" for m, v in noise.items())
        + " (a representation whose exponent survives noise input imposes its own spectrum). "
        f"Calibration: the same fit on white noise itself, whose true exponent is 0, gives up "
        f"to {error:.2f}, the error of these exponents (Holzhausen et al.'s proxy). A model "
        "with a Krotov-Hopfield encoder is measured on the encoder's own ReLU(h)^n, not on "
        "the scaled features its read-out sees; every covariance is formed in float64. "
        f"Eigenvalues below {_SPECTRUM_FLOOR:.0e} of the first (1e-12 for the data and a "
        "KH encoder's representation, computed in float64) are round-off and left out; the "
        f"dashed lines are the power-law fits, over ranks {low}-{high} (shaded)."
        + _read_encoder_convergence(comparison)
    )


def _read_encoder_convergence(comparison):
    """A sentence per model with a KH encoder: converged, or not and what that means."""
    sentences = []
    for model in _models(comparison):
        share = _value(comparison, model, measures.KH_CONVERGED_FRACTION)
        if not np.isfinite(share):
            continue
        if share >= _KH_CONVERGED:
            sentences.append(
                f" {model}'s Krotov-Hopfield encoder converged: {share:.0%} of its winning "
                "units reached the unit p-norm."
            )
        else:
            sentences.append(
                f" {model}'s Krotov-Hopfield encoder had not converged: {share:.0%} of its "
                "winning units reached the unit p-norm (KHEncoder warns below "
                f"{_KH_CONVERGED:.0%}), so its spectrum and robustness are those of an "
                "unfinished encoder, not the converged one Holzhausen et al. describe; train "
                "it longer (a run without --quick)."
            )
    return "".join(sentences)


def _read_landscapes(comparison):
    order, norms = _ranking(comparison, measures.JACOBIAN_NORM_MEAN)
    return (
        f"On one random plane through a test example, the hidden layer of {order[0]} changes "
        f"fastest (mean Jacobian norm {norms[order[0]]:.3g}) and that of {order[-1]} slowest "
        f"({norms[order[-1]]:.3g}). Colours are classes; faded colour is low confidence."
    )


def _read_certification(comparison):
    settings = comparison.settings
    order, certified = _ranking(comparison, measures.certified_accuracy(settings.certified_radius))
    radius = comparison.certified.groupby("class").radius.mean()
    return (
        f"Certified accuracy at radius {settings.certified_radius:g} (sigma "
        f"{settings.smoothing_sigma:g}): best {order[0]} "
        f"({certified[order[0]]:.2f}), worst {order[-1]} ({certified[order[-1]]:.2f}). Over all "
        f"models, class {radius.idxmax()} is certified furthest and class {radius.idxmin()} "
        "least far." + _read_smoothing(comparison)
    )


def _read_smoothing(comparison):
    """The smoothed classifier's F1 and abstentions, the other two of Jamroz and Kurdziel's
    scores; empty for results without the abstentions."""
    smoothing = comparison.smoothing
    if smoothing is None:
        return ""
    by_model = smoothing.groupby("model", sort=False)[["f1", "non_abstained"]].mean()
    return " Mean over the classes of the smoothed classifier's F1 and share not abstained: " + (
        ", ".join(
            f"{model} {row.f1:.2f} and {row.non_abstained:.2f}"
            for model, row in by_model.iterrows()
        )
        + "."
    )


def _read_som(comparison):
    models = [m for m in _models(comparison) if m in comparison.som]

    def per_model(measure):
        return {m: _value(comparison, m, measure) for m in models}

    pgd = per_model(measures.som_bmu_shift("pgd", "hidden"))
    noise = per_model(measures.som_bmu_shift("noise", "hidden"))
    closest, furthest = min(models, key=pgd.get), max(models, key=pgd.get)
    norm = np.mean(list(per_model(measures.SOM_PGD_L2_NORM).values()))
    settings = comparison.settings
    text = [
        f"Under L2 PGD (mean perturbation norm {norm:.2f}), the hidden layer of {closest} keeps "
        f"its top-{settings.som_top_k} BMUs closest (mean shift {pgd[closest]:.2f} grid units "
        f"on the {settings.som_size} x {settings.som_size} torus) and that of {furthest} moves "
        f"them furthest ({pgd[furthest]:.2f})."
    ]
    ratios = {m: pgd[m] / noise[m] if noise[m] > 0 else np.inf for m in models}
    larger = [m for m in models if pgd[m] > noise[m]]
    listed = ", ".join(f"{m} {ratios[m]:.1f}x" for m in models)
    if len(larger) == len(models):
        text.append(
            "PGD moves the hidden layer's BMUs further than random noise of the same L2 norm "
            f"for every model ({listed}), as in the paper's figure 11."
        )
    elif not larger:
        text.append(
            "For no model does PGD move the hidden layer's BMUs further than random noise of "
            f"the same L2 norm ({listed}), unlike the paper's figure 11."
        )
    else:
        others = [m for m in models if m not in larger]
        text.append(
            f"PGD moves the hidden layer's BMUs further than noise of the same L2 norm for "
            f"{', '.join(larger)} but not for {', '.join(others)} ({listed}); the paper's figure "
            "11 finds the adversarial shift larger."
        )
    pgd_in = per_model(measures.som_bmu_shift("pgd", "input"))
    noise_in = per_model(measures.som_bmu_shift("noise", "input"))
    wider = [m for m in models if noise_in[m] > 0 and ratios[m] > pgd_in[m] / noise_in[m]]
    text.append(
        f"On the input map (the raw features) the same perturbations shift the BMUs by "
        f"{np.mean(list(pgd_in.values())):.2f} (PGD) and {np.mean(list(noise_in.values())):.2f} "
        f"(noise) on average over the models; the hidden layer widens this PGD/noise gap for "
        f"{len(wider)} of {len(models)} models"
        + (f" ({', '.join(wider)})." if 0 < len(wider) < len(models) else ".")
    )
    spread_in = _value(comparison, models[0], measures.som_class_spread("input"))
    spread = per_model(measures.som_class_spread("hidden"))
    tighter = [m for m in models if spread[m] < spread_in]
    text.append(
        f"D_class on the training data is {spread_in:.2f} on the input map and, on the hidden "
        f"layers, from {min(spread.values()):.2f} ({min(models, key=spread.get)}) to "
        f"{max(spread.values()):.2f} ({max(models, key=spread.get)}): "
        + (
            "every hidden layer gathers the classes more tightly than the input map"
            if len(tighter) == len(models)
            else f"{len(tighter)} of {len(models)} hidden layers gather the classes more "
            "tightly than the input map"
        )
        + " (the paper's figure 6 finds classes more compact in deeper layers)."
    )
    return " ".join(text)


def _read_densities(comparison):
    from scipy.stats import t as student_t

    models = _models(comparison)
    n_classes = comparison.densities.groupby("model").size().max()
    rho = {
        measure: {
            m: v
            for m in models
            if np.isfinite(v := _value(comparison, m, measures.dpgmm_radius_spearman(measure)))
        }
        for measure in measures.DENSITY_QUANTITIES
    }
    critical = np.nan
    if n_classes > 3:
        t_crit = student_t.ppf(0.975, n_classes - 2)
        critical = t_crit / np.sqrt(n_classes - 2 + t_crit**2)
    text = [
        "The paper found the high-density, complex classes the less robust: negative "
        "correlations of a class's log density and of its KL complexity with its certified "
        f"radius. Spearman correlations across the {n_classes} classes here"
        + (
            f" (|rho| > {critical:.2f} differs from 0 at the 5% level):"
            if np.isfinite(critical)
            else ":"
        )
    ]
    for measure, name in (("log_density", "log density"), ("kl", "KL")):
        if not rho[measure]:
            continue
        values = rho[measure]
        negative = [m for m, v in values.items() if v < 0]
        strong = [m for m, v in values.items() if abs(v) > critical]
        listed = ", ".join(f"{m} {v:+.2f}" for m, v in values.items())
        if len(negative) == len(values):
            verdict = "negative for every model, as in the paper"
        elif not negative:
            verdict = "positive for every model, the opposite of the paper"
        else:
            verdict = f"negative, as in the paper, for {len(negative)} of {len(values)} models"
        text.append(
            f"{name} vs radius: {listed}; {verdict} ({len(strong)} of {len(values)} significant)."
        )
    undefined = [m for m in models if m not in rho["log_density"]]
    if undefined:
        text.append(
            f"Undefined for {', '.join(undefined)} (too few classes with a certified radius)."
        )
    text.append(
        f"Log densities are nats in each model's own {comparison.settings.dpgmm_dimensions}-"
        "dimensional PCA space of its hidden layer: they compare classes within a model, not "
        "models."
    )
    return " ".join(text)


_SECTIONS = (
    ("Relative accuracy", _curves_figure, _read_curves),
    ("Critical distances", _distances_figure, _read_distances),
    ("Robustness vs accuracy", _tradeoff_figure, _read_tradeoff),
    ("Hidden spectra", _spectra_figure, _read_spectra),
    ("Decision landscapes", _landscapes_figure, _read_landscapes),
    ("Certified radii", _certification_figure, _read_certification),
    ("SOM probes", _som_figure, _read_som),
    ("DP-GMM class densities", _densities_figure, _read_densities),
)


# ----------------------------------------------------------------------------- text
def _json(comparison, files):
    config = {
        k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(comparison.config).items()
    }
    return {
        "generator": GENERATOR,
        "files": files,
        "data": comparison.data_description,
        "config": config,
        "results": comparison.results.to_dict(orient="records"),
        "class_densities": (
            [] if comparison.densities is None else comparison.densities.to_dict(orient="records")
        ),
        "som_class_spread": _class_spreads(comparison),
        "seconds_per_model": comparison.timings,
        "n_evaluated": comparison.n_evaluated,
        "settings": dataclasses.asdict(comparison.settings),
        "max_eps": comparison.max_eps,
        "median_critical_distance_limits": _median_limits(comparison),
        "claims": claims_table(comparison).to_dict(orient="records"),
        "seeds": [each.config.random_state for each in (comparison, *comparison.replicates)],
        "spread_over_seeds": _spreads(comparison),
        "smoothing_by_class": _records(comparison.smoothing),
        "data_spectrum": _spectrum_json(comparison.data_spectrum),
        "layers": {m: _layers_json(p) for m, p in comparison.layers.items()},
        "memorisation": _records(comparison.memorisation),
        "isometry": None if comparison.isometry is None else comparison.isometry.to_json(),
    }


def _records(table):
    """A table as a list of records; [] for None."""
    return [] if table is None else table.to_dict(orient="records")


def _spreads(comparison):
    """``[{model, measure, std}]`` over the seeds; [] with one seed."""
    if not comparison.replicates:
        return []
    spread = comparison.spread().stack().rename("std").reset_index()
    return spread.to_dict(orient="records")


def _spectrum_json(spectrum):
    if spectrum is None:
        return None
    return {
        "alpha": spectrum.alpha,
        "fit_range": list(spectrum.fit_range),
        "intercept": spectrum.intercept,
    }


def _layers_json(probes):
    """A staged network's per-layer probes: the numbers behind the per-layer figures."""
    return {
        "layers": list(probes.layers),
        "som_loss": probes.som_loss,
        "class_spread": probes.spread,
        "class_spread_correct": probes.spread_correct,
        "class_spread_wrong": probes.spread_wrong,
        "bmu_shift_mean": {
            f"{perturbation}_{layer}": float(np.mean(shift))
            for (perturbation, layer), shift in probes.shifts.items()
        },
        "accuracy": probes.accuracy,
        "densities": _records(probes.densities),
    }


def _median_limits(comparison):
    """``{model: {attack: max_eps}}``: the search's limit behind each median critical distance.

    An infinite median in ``results`` is censored there: it lies beyond this limit.
    """
    return {
        m: {a: comparison.max_eps[a] for a in comparison.config.attacks if a in comparison.max_eps}
        for m in _models(comparison)
    }


def _class_spreads(comparison):
    """``{"input": {class: D_class}, model: {class: D_class}, ...}``; empty without the probes."""
    if not comparison.som:
        return {}
    return {"input": comparison.input_spread} | {m: v.spread for m, v in comparison.som.items()}


def _plain(value):
    """NumPy scalars (class labels, counts) as the Python numbers JSON knows."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_VERDICT_COLOURS = {AGREE: "#d8f0d8", DISAGREE: "#f6d5d5", NOT_MEASURED: "#eeeeee"}


def _seeds_sentence(comparison):
    if not comparison.replicates:
        return ""
    seeds = [each.config.random_state for each in (comparison, *comparison.replicates)]
    return (
        f" Every model trained {len(seeds)} times (random_state {', '.join(map(str, seeds))}): "
        "the summary gives mean ± standard deviation, the figures show the first training."
    )


def _claims_html(comparison):
    """The claims table: one row per claim, the verdict cell coloured, the rule beside it."""
    table = claims_table(comparison)
    counts = table.verdict.value_counts()
    header = "".join(
        f"<th>{name}</th>" for name in ("paper", "claim", "where", "this run", "rule", "verdict")
    )
    rows = []
    for row in table.itertuples(index=False):
        cells = "".join(
            f'<td style="text-align:left">{html.escape(str(value))}</td>'
            for value in (row.paper, row.claim, row.figure, row.this_run, row.rule)
        )
        colour = _VERDICT_COLOURS[row.verdict]
        rows.append(f'<tr>{cells}<td style="background:{colour}"><b>{row.verdict}</b></td></tr>')
    summary = ", ".join(f"{counts.get(v, 0)} {v}" for v in (AGREE, DISAGREE, NOT_MEASURED))
    return (
        f"<p>{summary}. Each verdict follows from this run's numbers by the rule beside it; "
        "a claim this run cannot test says what it would need.</p>"
        f'<table class="claims"><tr>{header}</tr>' + "".join(rows) + "</table>"
    )


def _html(comparison, sections):
    table = comparison.summary(as_text=True)
    body = [
        "<h1>sklearn_robust: robustness comparison</h1>",
        f"<p>Data: {html.escape(comparison.data_description)}. Models: "
        f"{html.escape(', '.join(_models(comparison)))}. Attacks on "
        f"{comparison.n_evaluated or comparison.config.eval_size} test examples."
        f"{_seeds_sentence(comparison)}</p>",
        "<h2>The papers' claims, tested</h2>",
        _claims_html(comparison),
        "<h2>Summary</h2>",
        table.to_html(border=0),
        '<p>Raw numbers: <a href="results.csv">results.csv</a>, '
        '<a href="results.json">results.json</a>.</p>',
    ]
    for title, image, reading in sections:
        body += [
            f"<h2>{html.escape(title)}</h2>",
            f"<p>{html.escape(reading)}</p>",
            f'<img src="{image}" alt="{html.escape(title)}" style="max-width:100%">',
        ]
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse}td,th{padding:2px 8px;text-align:right}"
        "tr:nth-child(even){background:#f3f3f3}"
        "table.claims td,table.claims th{font-size:0.85em;vertical-align:top;text-align:left;"
        "border-bottom:1px solid #ddd}"
    )
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>sklearn_robust report</title>"
        f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
