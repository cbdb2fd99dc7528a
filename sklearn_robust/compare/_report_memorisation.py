"""The report's memorisation section: per-class memorisation against density and radius.

Jamroz and Kurdziel found the classes whose representations have a high
DP-GMM density the more memorised (Feldman and Zhang's scores, averaged over
the class). The figure puts each class's mean memorisation against its
held-out log density and against its mean certified radius; the reading gives
the Spearman correlations across the classes, computed here from the tables.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SECTIONS", "draw", "read", "sections_for"]

# Words for |rho| below each limit.
_STRENGTHS = ((0.1, "no"), (0.3, "a weak"), (0.5, "a moderate"), (np.inf, "a strong"))
_AGAINST = (
    ("log_density", "held-out log density (nats)"),
    ("radius", "mean certified radius"),
)


def sections_for(comparison):
    """The memorisation sections of the report: none without memorisation scores.

    Parameters
    ----------
    comparison : ComparisonResults
        The run's results.

    Returns
    -------
    tuple of (str, callable, callable)
        ``(title, draw, read)`` per section; empty when ``comparison.memorisation`` is None.
    """
    return () if comparison.memorisation is None else SECTIONS


def _joined(comparison):
    """Memorisation per (model, class), with the class's log density and radius if measured.

    Classes are matched by their text, so that labels read as numbers in one table and as
    strings in the other still meet.
    """
    table = comparison.memorisation.assign(key=lambda t: t["class"].astype(str))
    columns = ["model", "key", "log_density", "radius"]
    if comparison.densities is None:
        return table.assign(log_density=np.nan, radius=np.nan)
    densities = comparison.densities.assign(key=lambda t: t["class"].astype(str))[columns]
    return table.merge(densities, on=["model", "key"], how="left")


def _model_order(comparison, table):
    """The memorised models, in the comparison's order."""
    names = [m for m in comparison.model_names if m in set(table.model)]
    return names + [m for m in dict.fromkeys(table.model) if m not in names]


def _spearman(x, y):
    """Spearman's rho and the classes it is over; NaN where fewer than 3 or a constant."""
    from scipy.stats import spearmanr

    known = np.isfinite(x) & np.isfinite(y)
    x, y = np.asarray(x)[known], np.asarray(y)[known]
    if len(x) < 3 or np.unique(x).size < 2 or np.unique(y).size < 2:
        return float("nan"), len(x)
    return float(spearmanr(x, y).statistic), len(x)


def draw(comparison):
    """Per model, one point per class: memorisation vs log density, and vs mean radius.

    Parameters
    ----------
    comparison : ComparisonResults
        With ``memorisation`` (and ``densities`` for the points' positions).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ._report import _subplots  # here: the report imports this module

    table = _joined(comparison)
    models = _model_order(comparison, table)
    fig, axes = _subplots(
        len(_AGAINST), len(models), figsize=(max(5.0, 3.6 * len(models) + 0.6), 6.6), sharey=True
    )
    for column, model in enumerate(models):
        rows = table[table.model == model]
        for row, (measure, label) in enumerate(_AGAINST):
            _panel(axes[row, column], rows, measure, label, model)
    for ax in axes[:, 0]:
        ax.set_ylabel("mean memorisation")
    fig.suptitle("per class: memorisation vs DP-GMM density and certified radius")
    return fig


def _panel(ax, rows, measure, label, model):
    """One scatter, each class labelled, titled with its Spearman rho where defined."""
    ax.scatter(rows[measure], rows.memorisation, s=18)
    for _, entry in rows.iterrows():
        if np.isfinite(entry[measure]) and np.isfinite(entry.memorisation):
            ax.annotate(str(entry["class"]), (entry[measure], entry.memorisation), fontsize=7)
    rho, _ = _spearman(rows[measure].to_numpy(float), rows.memorisation.to_numpy(float))
    ax.set_title(f"{model}: rho {rho:+.2f}" if np.isfinite(rho) else model, fontsize=9)
    ax.set_xlabel(label, fontsize=8)
    ax.tick_params(labelsize=7)


def read(comparison):
    """The Spearman correlations across classes, in words, from the tables.

    Parameters
    ----------
    comparison : ComparisonResults
        With ``memorisation`` (and ``densities`` for the correlations).

    Returns
    -------
    str
        What the numbers say, model by model; no verdict fixed in advance.
    """
    table = _joined(comparison)
    text = [
        "Memorisation is Feldman and Zhang's estimate for each training example (the "
        "accuracy on it of models trained with it minus that of models trained without it), "
        "averaged over the class. Jamroz and Kurdziel found the high-density classes the "
        "more memorised: a positive correlation of log density with memorisation."
    ]
    for model in _model_order(comparison, table):
        text.append(_read_model(model, table[table.model == model]))
    return " ".join(text)


def _read_model(model, rows):
    """One model's sentence: its range of memorisation and both correlations."""
    memorised = rows.memorisation.to_numpy(float)
    if not np.isfinite(memorised).any():
        return f"{model}: no example was scored (each was on the same side of every subset)."
    top = rows.loc[rows.memorisation.idxmax()]
    bottom = rows.loc[rows.memorisation.idxmin()]
    parts = [
        f"{model}: class memorisation from {bottom.memorisation:.3f} (class {bottom['class']}) "
        f"to {top.memorisation:.3f} (class {top['class']}), over {int(rows.n.sum()):,} scored "
        "examples."
    ]
    for measure, words in (
        ("log_density", "log density vs memorisation"),
        ("radius", "memorisation vs certified radius"),
    ):
        rho, n = _spearman(rows[measure].to_numpy(float), memorised)  # symmetric in x, y
        parts.append(_correlation_sentence(words, rho, n, measure))
    return " ".join(parts)


def _correlation_sentence(words, rho, n, measure):
    """``rho`` in words: its sign, its strength and whether it differs from 0 at 5%."""
    if not np.isfinite(rho):
        return f"{words}: undefined ({n} classes with both numbers, or one of them constant)."
    strength = next(label for limit, label in _STRENGTHS if abs(rho) < limit)
    critical = _critical_rho(n)
    significant = np.isfinite(critical) and abs(rho) > critical
    if strength == "no":
        shape = "no monotone relation"
    else:
        direction = "positive" if rho > 0 else "negative"
        shape = f"{strength} {direction} correlation"
    meaning = ""
    if strength != "no":
        more = "higher" if rho > 0 else "lower"
        subject = "density" if measure == "log_density" else "certified radius"
        meaning = f", the more memorised classes having the {more} {subject}"
    level = (
        f"it {'differs' if significant else 'does not differ'} from 0 at the 5% level "
        f"(critical |rho| {critical:.2f})"
        if np.isfinite(critical)
        else "too few classes to test it"
    )
    return f"{words}: rho {rho:+.2f} over {n} classes, {shape}{meaning}; {level}."


def _critical_rho(n):
    """|rho| above which a Spearman correlation of ``n`` pairs differs from 0 (t approx.)."""
    from scipy.stats import t as student_t

    if n <= 3:
        return float("nan")
    t_crit = student_t.ppf(0.975, n - 2)
    return float(t_crit / np.sqrt(n - 2 + t_crit**2))


SECTIONS = (("Memorisation", draw, read),)
