"""The comparison's report: figures, a short reading of each, results.csv and results.json.

:func:`write_report` writes everything into a temporary folder next to the
target and moves it into place only when complete, so an interrupted run never
leaves a half-written report that looks finished.
"""

from __future__ import annotations

import html
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["write_report"]


def write_report(comparison, out_dir) -> Path:
    """Write ``index.html``, the PNG figures, ``results.csv`` and ``results.json``.

    Parameters
    ----------
    comparison : ComparisonResults
        From :func:`sklearn_robust.compare.run_comparison`.
    out_dir : str or Path
        The report folder; replaced if it exists.

    Returns
    -------
    Path
        The report folder.
    """
    import matplotlib

    matplotlib.use("Agg")
    out_dir = Path(out_dir).resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        sections = _figures(comparison, staging)
        comparison.results.to_csv(staging / "results.csv", index=False)
        (staging / "results.json").write_text(json.dumps(_json(comparison), indent=2))
        (staging / "index.html").write_text(_html(comparison, sections))
        _move_into_place(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def _move_into_place(staging, out_dir):
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-old-", dir=out_dir.parent))
        old.rmdir()
        out_dir.rename(old)
        staging.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(out_dir)


# -------------------------------------------------------------------------- figures
def _figures(comparison, folder):
    """Draw every figure into ``folder``; returns (title, file, reading) per section."""
    import matplotlib.pyplot as plt

    sections = []
    for title, draw, read in _SECTIONS:
        fig = draw(comparison, plt)
        name = title.lower().replace(" ", "_").replace(",", "") + ".png"
        fig.savefig(folder / name, dpi=90, bbox_inches="tight")
        plt.close(fig)
        sections.append((title, name, read(comparison)))
    return sections


def _curves_figure(comparison, plt):
    from .plotting import plot_accuracy_curve

    attacks = list(comparison.config.attacks)
    fig, axes = plt.subplots(1, len(attacks), figsize=(5 * len(attacks), 4), squeeze=False)
    for ax, attack in zip(axes[0], attacks, strict=True):
        curve = comparison.curves[comparison.curves.attack == attack]
        plot_accuracy_curve(curve, ax=ax).set_title(f"{attack}: relative accuracy")
    return fig


def _distances_figure(comparison, plt):
    from .plotting import plot_critical_distances

    attacks = list(comparison.config.attacks)
    models = list(dict.fromkeys(m for m, _ in comparison.distances))
    fig, axes = plt.subplots(1, len(attacks), figsize=(5 * len(attacks), 4), squeeze=False)
    for ax, attack in zip(axes[0], attacks, strict=True):
        plot_critical_distances({m: comparison.distances[m, attack] for m in models}, ax=ax)
        ax.set_title(f"{attack}: critical distances")
        ax.tick_params(axis="x", labelrotation=30)
    return fig


def _landscapes_figure(comparison, plt):
    from .plotting import plot_decision_landscape, plot_jacobian_norm_map

    models = list(comparison.landscapes)
    fig, axes = plt.subplots(2, len(models), figsize=(4.5 * len(models), 8), squeeze=False)
    for column, model in enumerate(models):
        landscape, jmap = comparison.landscapes[model]
        plot_decision_landscape(landscape, ax=axes[0, column]).set_title(f"{model}: decisions")
        axes[0, column].get_legend().remove()
        plot_jacobian_norm_map(jmap, ax=axes[1, column], log=True).set_title(
            f"{model}: Jacobian norm"
        )
    return fig


def _spectra_figure(comparison, plt):
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for model, eigenvalues in comparison.spectra.items():
        alpha = _value(comparison, model, "hidden_alpha")
        ranks = np.arange(1, len(eigenvalues) + 1)
        positive = eigenvalues > 0
        ax.loglog(ranks[positive], eigenvalues[positive], label=f"{model} (alpha {alpha:.2f})")
    ax.set_xlabel("rank n")
    ax.set_ylabel(r"$\lambda_n / \lambda_1$")
    ax.legend(fontsize=8)
    ax.set_title("hidden-layer covariance spectra")
    return fig


def _tradeoff_figure(comparison, plt):
    attacks = list(comparison.config.attacks)
    fig, axes = plt.subplots(1, len(attacks), figsize=(5 * len(attacks), 4), squeeze=False)
    for ax, attack in zip(axes[0], attacks, strict=True):
        for model in _models(comparison):
            accuracy = _value(comparison, model, "accuracy")
            median = _value(comparison, model, f"{attack}_median_critical_distance")
            ax.scatter(accuracy, median)
            ax.annotate(model, (accuracy, median), fontsize=8)
        ax.set_xlabel("test accuracy")
        ax.set_ylabel("median critical distance")
        ax.set_title(f"{attack}: robustness vs accuracy")
    return fig


def _certification_figure(comparison, plt):
    table = comparison.certified.pivot_table(
        index="class", columns="model", values="radius", aggfunc="mean"
    )[_models(comparison)]
    fig, ax = plt.subplots(figsize=(1.2 * len(table.columns) + 3, 4))
    image = ax.imshow(table.to_numpy().T, aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(table.index)), [str(c) for c in table.index])
    ax.set_yticks(range(len(table.columns)), table.columns)
    ax.set_xlabel("class")
    fig.colorbar(image, ax=ax, label="mean certified radius (0 if wrong or abstained)")
    ax.set_title("randomized smoothing: certified radius per class")
    return fig


# -------------------------------------------------------------------------- readings
def _models(comparison):
    return list(dict.fromkeys(comparison.results.model))


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
        order, values = _ranking(comparison, f"{attack}_median_critical_distance")
        if not order:
            continue
        sentences.append(
            f"Under {attack}, {order[0]} holds its decisions longest (median critical distance "
            f"{values[order[0]]:.3g}) and {order[-1]} gives way first ({values[order[-1]]:.3g})."
        )
    return " ".join(sentences)


def _read_distances(comparison):
    parts = []
    for attack in comparison.config.attacks:
        never = {m: _value(comparison, m, f"{attack}_never_fooled") for m in _models(comparison)}
        unfooled = [f"{m} ({v:.0%})" for m, v in never.items() if v > 0]
        if unfooled:
            parts.append(f"{attack} never fooled some examples of " + ", ".join(unfooled) + ".")
    spread = "Each violin is one model's distribution over the correctly classified examples."
    return " ".join([spread, *parts])


def _read_tradeoff(comparison):
    order, accuracy = _ranking(comparison, "accuracy")
    pgd = "pgd" if "pgd" in comparison.config.attacks else comparison.config.attacks[-1]
    robust, _ = _ranking(comparison, f"{pgd}_median_critical_distance")
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
    order, alpha = _ranking(comparison, "hidden_alpha")
    noise = {m: _value(comparison, m, "hidden_alpha_white_noise") for m in order}
    return (
        f"Steepest spectrum: {order[0]} (alpha {alpha[order[0]]:.2f}); flattest: {order[-1]} "
        f"(alpha {alpha[order[-1]]:.2f}). On white-noise input the exponents are "
        + ", ".join(f"{m} {v:.2f}" for m, v in noise.items())
        + " (a representation whose exponent survives noise input imposes its own spectrum)."
    )


def _read_landscapes(comparison):
    order, norms = _ranking(comparison, "jacobian_norm_mean_on_plane")
    return (
        f"On one random plane through a test example, the hidden layer of {order[0]} changes "
        f"fastest (mean Jacobian norm {norms[order[0]]:.3g}) and that of {order[-1]} slowest "
        f"({norms[order[-1]]:.3g}). Colours are classes; faded colour is low confidence."
    )


def _read_certification(comparison):
    order, certified = _ranking(comparison, "certified_accuracy_r0.25")
    radius = comparison.certified.groupby("class").radius.mean()
    return (
        f"Certified accuracy at radius 0.25 (sigma 0.25): best {order[0]} "
        f"({certified[order[0]]:.2f}), worst {order[-1]} ({certified[order[-1]]:.2f}). Over all "
        f"models, class {radius.idxmax()} is certified furthest and class {radius.idxmin()} "
        "least far."
    )


_SECTIONS = (
    ("Relative accuracy", _curves_figure, _read_curves),
    ("Critical distances", _distances_figure, _read_distances),
    ("Robustness vs accuracy", _tradeoff_figure, _read_tradeoff),
    ("Hidden spectra", _spectra_figure, _read_spectra),
    ("Decision landscapes", _landscapes_figure, _read_landscapes),
    ("Certified radii", _certification_figure, _read_certification),
)


# ----------------------------------------------------------------------------- text
def _json(comparison):
    config = {
        k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(comparison.config).items()
    }
    return {
        "data": comparison.data_description,
        "config": config,
        "results": comparison.results.to_dict(orient="records"),
        "seconds_per_model": comparison.timings,
    }


def _html(comparison, sections):
    table = comparison.results.pivot(index="measure", columns="model", values="value")
    table = table[_models(comparison)]
    body = [
        "<h1>sklearn_robust: robustness comparison</h1>",
        f"<p>Data: {html.escape(comparison.data_description)}. Models: "
        f"{html.escape(', '.join(_models(comparison)))}. Attacks on "
        f"{comparison.config.eval_size} test examples.</p>",
        "<h2>Summary</h2>",
        table.to_html(float_format=lambda v: f"{v:.4g}", border=0),
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
    )
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>sklearn_robust report</title>"
        f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
