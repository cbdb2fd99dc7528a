"""The report's section on the isometric-layer sweep (figure 3 and table 1 of the paper)."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

from ._report import _subplots

__all__ = ["SECTIONS", "draw", "read", "sections_for"]

# Standardising MNIST divides its pixels by their standard deviation, 0.3081.
_MNIST_PIXEL_STD = 0.3081


def sections_for(comparison):
    """The isometry sections of a comparison: none when it holds no sweep.

    Parameters
    ----------
    comparison : ComparisonResults

    Returns
    -------
    tuple of (title, draw, read)
    """
    return SECTIONS if getattr(comparison, "isometry", None) is not None else ()


# ------------------------------------------------------------------------ figure
def draw(comparison):
    """FGSM and PGD accuracy per beta, and clean accuracy and isometry against beta.

    Parameters
    ----------
    comparison : ComparisonResults
        Its ``isometry`` holds the sweep.

    Returns
    -------
    matplotlib.figure.Figure
    """
    sweep = comparison.isometry
    fig, axes = _subplots(1, 3, figsize=(15, 4))
    colours = _colours(sweep.setting.betas)
    _curve_panel(axes[0, 0], sweep.fgsm, "eps", colours)
    axes[0, 0].set_title("A: L-inf FGSM")
    axes[0, 0].set_xlabel("eps")
    _curve_panel(axes[0, 1], sweep.pgd, "step_size", colours)
    axes[0, 1].set_title(
        f"B: L-inf PGD, ball {sweep.setting.pgd_eps:g}, {sweep.setting.pgd_steps} steps"
    )
    axes[0, 1].set_xlabel("step size")
    _beta_panel(axes[0, 2], sweep.table)
    fig.suptitle("Locally isometric layers: robustness and isometry against beta")
    return fig


def _colours(betas):
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return {beta: cmap(i / max(len(betas) - 1, 1)) for i, beta in enumerate(betas)}


def _curve_panel(ax, curves, x, colours):
    """Accuracy against ``x`` (log axis), one line per beta."""
    for beta, curve in curves.groupby("beta", sort=True):
        ax.plot(curve[x], curve.accuracy, "o-", ms=3, color=colours.get(beta), label=f"β={beta:g}")
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7)


def _beta_panel(ax, table):
    """Clean accuracy, FGSM area and the isometry diagnostic, the betas evenly spaced.

    Evenly spaced because beta = 0 has no place on a log axis.
    """
    positions = np.arange(len(table))
    ax.plot(positions, table.accuracy, "o-", label="clean accuracy")
    ax.plot(positions, table.fgsm_auc, "s--", label="FGSM area (mean over log eps)")
    ax.plot(positions, table.isometry, "^-", label="isometry r (within class)")
    ax.set_xticks(positions, [f"{beta:g}" for beta in table.beta])
    ax.set_xlabel("β")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("C: clean accuracy and isometry")
    ax.legend(fontsize=7)


# ----------------------------------------------------------------------- reading
def read(comparison):
    """What the sweep's numbers say, against the paper's claims.

    Parameters
    ----------
    comparison : ComparisonResults
        Its ``isometry`` holds the sweep.

    Returns
    -------
    str
    """
    sweep = comparison.isometry
    table = sweep.table.set_index("beta")
    eps = sweep.setting.pgd_eps
    sentences = [
        _read_robustness(table, "fgsm_auc", "FGSM (accuracy averaged over log eps)"),
        _read_robustness(
            table,
            "pgd_accuracy_min",
            "PGD (worst accuracy over step sizes)",
            all_lost=f" (its L-inf ball of {eps:g} is {eps:.0%} of the [0, 1] pixel range)",
        ),
        _read_cost(table),
        _read_diagnostic(table),
        _scale_note(table),
        "Deviations from the paper: " + " ".join(sweep.deviations),
    ]
    return " ".join(s for s in sentences if s)


def _trend(table, column):
    """Spearman's rho of a column against beta; NaN where undefined."""
    values = table[column].to_numpy(dtype=float)
    finite = np.isfinite(values)
    if finite.sum() < 3 or np.ptp(values[finite]) == 0:
        return float("nan")
    return float(spearmanr(table.index[finite], values[finite]).statistic)


def _read_robustness(table, column, what, all_lost=""):
    """Which beta is most robust, by how much over beta = 0, and the trend."""
    if table[column].max() == 0:
        return f"Under {what}, every network falls to 0.000{all_lost}."
    best = table[column].idxmax()
    value = table.loc[best, column]
    if 0.0 not in table.index:
        return f"Under {what}, beta = {best:g} is the most robust ({value:.3f})."
    baseline = table.loc[0.0, column]
    rho = _trend(table, column)
    if best == 0.0 or value <= baseline:
        lead = f"Under {what}, no beta > 0 beats beta = 0 ({baseline:.3f})"
    else:
        lead = (
            f"Under {what}, beta = {best:g} is the most robust: {value:.3f} against "
            f"{baseline:.3f} at beta = 0 ({value - baseline:+.3f})"
        )
    if not np.isfinite(rho):
        return lead + "."
    verdict = (
        "rises with beta, as in the paper"
        if rho > 0.5
        else "does not rise steadily with beta, unlike the paper's figure 3"
    )
    return f"{lead}; it {verdict} (Spearman rho {rho:+.2f})."


def _read_cost(table):
    """The clean-accuracy cost of the large betas (the paper's table 1)."""
    if 0.0 not in table.index:
        return ""
    baseline = table.loc[0.0, "accuracy"]
    costs = [
        f"{100 * (table.loc[beta, 'accuracy'] - baseline):+.1f} points at beta = {beta:g}"
        for beta in (1.0, 10.0)
        if beta in table.index
    ]
    if not costs:
        return ""
    largest = max(beta for beta in (1.0, 10.0) if beta in table.index)
    verdict = (
        "as in the paper's table 1, where large betas cost accuracy"
        if table.loc[largest, "accuracy"] < baseline
        else "unlike the paper's table 1, where large betas cost accuracy"
    )
    return (
        f"Clean test accuracy is {baseline:.3f} at beta = 0 and moves by "
        + " and ".join(costs)
        + f", {verdict}."
    )


def _read_diagnostic(table):
    """The isometry diagnostic from the smallest to the largest beta, and its trend."""
    first, last = table.index[0], table.index[-1]
    rho = _trend(table, "isometry")
    trend = "" if not np.isfinite(rho) else f", Spearman rho {rho:+.2f} against beta"
    return (
        "Within classes, the correlation of input and representation distances at the LIL's "
        f"output goes from {table.loc[first, 'isometry']:.3f} at beta = {first:g} to "
        f"{table.loc[last, 'isometry']:.3f} at beta = {last:g}{trend}; the median ratio of "
        f"representation to input distance (1 for an isometry) from "
        f"{table.loc[first, 'distance_ratio']:.2f} to {table.loc[last, 'distance_ratio']:.2f}."
    )


def _scale_note(table):
    """Why beta is not portable across input scales."""
    distance = float(np.nanmedian(table.input_distance))
    factor = 1 / _MNIST_PIXEL_STD
    return (
        "Pixels are fed in [0, 1], not standardised, and the isometry term weighs squared "
        "distances between inputs and representations, so the effective weight of a beta "
        f"goes with the square of the input scale (median within-class input distance here: "
        f"{distance:.2f}). Standardised MNIST pixels (divided by {_MNIST_PIXEL_STD}) are "
        f"{factor:.2f} times larger and weigh the same beta about {factor**2:.0f} times "
        "more; the paper does not say how it scaled its pixels."
    )


SECTIONS = (("Isometric layers", draw, read),)
