"""The report's per-layer sections: SOM probes and DP-GMM class densities stage by stage.

For the networks with stages (:mod:`._layers`): the SOM's training loss per
stage (Lee and Vijayan, figure 3), the class spread ``D_class`` per stage
(figure 6), the distance of the test inputs' BMUs to their class's centre for
correct and wrong predictions (supplementary figure 3), the BMU shift under
L-inf PGD against uniform noise (figure 11); and the per-class DP-GMM log
densities, KL complexities and cluster counts per stage (Jamroz and Kurdziel).
The readings are computed from ``comparison.layers``.
"""

from __future__ import annotations

import numpy as np

from ._layers import LAYER_PROTOCOL
from ._report import _subplots
from ._settings import SETTINGS

__all__ = ["SECTIONS", "sections_for"]

_LINESTYLES = ("-", "--", ":", "-.")


def sections_for(comparison):
    """The per-layer sections of the report: none without per-layer probes.

    Parameters
    ----------
    comparison : ComparisonResults
        The run's results.

    Returns
    -------
    tuple of (str, callable, callable)
        ``(title, draw, read)`` per section; empty when ``comparison.layers`` is.
    """
    return SECTIONS if comparison.layers else ()


# -------------------------------------------------------------------------- helpers
def _models(comparison):
    """The probed models, in the comparison's order."""
    probed = comparison.layers
    names = [m for m in comparison.model_names if m in probed]
    return names + [m for m in probed if m not in names]


def _stages(comparison):
    """Every stage of any probed model, first to last."""
    names = {stage for probes in comparison.layers.values() for stage in probes.layers}
    return sorted(names, key=lambda stage: int(stage.removeprefix("layer")))


def _positions(comparison, models):
    """Model -> x offset of its marks around each stage's tick, so that models sit side by side."""
    width = 0.6 / max(len(models), 1)
    return {m: (index - (len(models) - 1) / 2) * width for index, m in enumerate(models)}


def _per_stage(comparison, model, values):
    """``(x, y)`` of a model's per-stage values, at the stages' ticks."""
    ticks = {stage: index for index, stage in enumerate(_stages(comparison))}
    stages = [stage for stage in comparison.layers[model].layers if stage in values]
    return np.array([ticks[s] for s in stages], dtype=float), np.array([values[s] for s in stages])


def _stage_axis(ax, comparison, ylabel):
    stages = _stages(comparison)
    ax.set_xticks(range(len(stages)), stages)
    ax.set_xlabel("stage")
    ax.set_ylabel(ylabel)


def _listed(values, digits=2):
    """``{"layer1": 1.234, ...}`` -> ``"1.23, 2.34 (layer1-layer3)"``."""
    stages = list(values)
    span = stages[0] if len(stages) == 1 else f"{stages[0]}-{stages[-1]}"
    return ", ".join(f"{v:.{digits}f}" for v in values.values()) + f" ({span})"


def _mean_spread(probes):
    return {s: float(np.mean(list(probes.spread[s].values()))) for s in probes.layers}


def _mean_shift(probes, perturbation):
    return {s: float(probes.shifts[perturbation, s].mean()) for s in probes.layers}


# ------------------------------------------------------------------------ SOM figure
def _som_figure(comparison):
    fig, axes = _subplots(1, 4, figsize=(19, 4.2))
    _loss_panel(comparison, axes[0, 0])
    _spread_panel(comparison, axes[0, 1])
    _outcome_panel(comparison, axes[0, 2])
    _shift_panel(comparison, axes[0, 3])
    fig.suptitle(
        f"SOM probes per stage ({LAYER_PROTOCOL.som_size} x {LAYER_PROTOCOL.som_size} toroidal "
        "cosine maps of the vector codes)"
    )
    return fig


def _loss_panel(comparison, ax):
    """One loss curve per stage (colour) and model (line style)."""
    stages = _stages(comparison)
    for index, model in enumerate(_models(comparison)):
        for stage, loss in comparison.layers[model].som_loss.items():
            epochs = np.arange(1, len(loss) + 1)
            ax.plot(
                epochs,
                loss,
                color=f"C{stages.index(stage)}",
                linestyle=_LINESTYLES[index % len(_LINESTYLES)],
                marker="o",
                markersize=3,
                label=f"{model}, {stage}",
            )
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean cosine distance to the BMU")
    ax.set_title("SOM training loss")
    ax.legend(fontsize=7, handlelength=4)  # long enough to show the dashes


def _spread_panel(comparison, ax):
    """Each class's D_class as a point, the mean over classes as a bar, models side by side."""
    models = _models(comparison)
    offsets = _positions(comparison, models)
    width = 0.6 / max(len(models), 1)
    for index, model in enumerate(models):
        probes = comparison.layers[model]
        x, mean = _per_stage(comparison, model, _mean_spread(probes))
        ax.bar(x + offsets[model], mean, width=width, color=f"C{index}", alpha=0.5, label=model)
        for position, stage in zip(x, probes.layers, strict=True):
            classes = list(probes.spread[stage].values())
            ax.scatter(
                np.full(len(classes), position + offsets[model]), classes, s=8, color=f"C{index}"
            )
    _stage_axis(ax, comparison, "D_class (grid units)")
    ax.set_title("D_class on the training data (points: classes)")
    ax.legend(fontsize=7)


def _outcome_panel(comparison, ax):
    """Distance of test inputs' BMUs to their class's centre: correct (solid), wrong (dashed)."""
    for index, model in enumerate(_models(comparison)):
        probes = comparison.layers[model]
        for values, style, outcome in (
            (probes.spread_correct, "-", "correct"),
            (probes.spread_wrong, "--", "wrong"),
        ):
            x, y = _per_stage(comparison, model, values)
            ax.plot(
                x, y, linestyle=style, marker="o", color=f"C{index}", label=f"{model}, {outcome}"
            )
    _stage_axis(ax, comparison, "distance to the class centre (grid units)")
    ax.set_title(f"test inputs' top-{LAYER_PROTOCOL.top_k} BMUs: correct vs wrong")
    ax.legend(fontsize=7, handlelength=4)  # long enough to show the dashes


def _shift_panel(comparison, ax):
    """Mean BMU shift per stage, PGD solid and noise dashed, with one standard error."""
    for index, model in enumerate(_models(comparison)):
        probes = comparison.layers[model]
        for perturbation, style in (("pgd", "-"), ("noise", "--")):
            shifts = {s: probes.shifts[perturbation, s].mean(axis=1) for s in probes.layers}
            x, mean = _per_stage(comparison, model, {s: v.mean() for s, v in shifts.items()})
            error = [
                v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0 for v in shifts.values()
            ]
            label = f"{model}, {'PGD' if perturbation == 'pgd' else 'noise'}"
            ax.errorbar(
                x, mean, yerr=error, linestyle=style, marker="o", color=f"C{index}", label=label
            )
    _stage_axis(ax, comparison, f"mean shift of the top-{LAYER_PROTOCOL.top_k} BMUs")
    eps = LAYER_PROTOCOL.pgd_eps * 255
    ax.set_title(f"BMU shift: L-inf PGD {eps:g}/255 vs uniform noise")
    ax.legend(fontsize=7, handlelength=4)  # long enough to show the dashes


def _standard_error(values):
    """The standard error of the mean (``ddof=1``); 0 for a single value."""
    return float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0


# ----------------------------------------------------------------------- SOM reading
def _read_som(comparison):
    protocol = LAYER_PROTOCOL
    text = []
    for model in _models(comparison):
        probes = comparison.layers[model]
        spread = _mean_spread(probes)
        pgd, noise = _mean_shift(probes, "pgd"), _mean_shift(probes, "noise")
        further = [s for s in probes.layers if pgd[s] > noise[s]]
        accuracy = probes.accuracy
        text.append(
            f"{model}: D_class on the training data {_listed(spread)}; under L-inf PGD "
            f"(eps {protocol.pgd_eps * 255:g}/255, {protocol.pgd_iterations} steps) the top-"
            f"{protocol.top_k} BMUs move {_listed(pgd)} grid units, under uniform noise in "
            f"[0, {protocol.noise_high * 255:g}/255] {_listed(noise)}: PGD moves them further "
            f"on {len(further)} of {len(probes.layers)} stages. Accuracy on the evaluated "
            f"examples {accuracy['clean']:.2f} clean, {accuracy['pgd']:.2f} under PGD, "
            f"{accuracy['noise']:.2f} under noise."
        )
        text.append(_outcome_sentence(model, probes))
    text.append(_loss_sentence(comparison))
    return " ".join(text)


def _outcome_sentence(model, probes):
    """Whether the wrongly classified test inputs lie further from their class's centre."""
    stages = [
        s
        for s in probes.layers
        if np.isfinite(probes.spread_correct[s]) and np.isfinite(probes.spread_wrong[s])
    ]
    if not stages:
        return f"{model}: no stage has both correct and wrong test predictions to compare."
    further = [s for s in stages if probes.spread_wrong[s] > probes.spread_correct[s]]
    last = stages[-1]
    return (
        f"{model}: the wrongly classified test inputs' BMUs lie further from their class's "
        f"centre than the correctly classified ones' on {len(further)} of {len(stages)} stages "
        f"({probes.spread_wrong[last]:.2f} vs {probes.spread_correct[last]:.2f} at {last})."
    )


def _loss_sentence(comparison):
    """The last epoch's SOM loss, per stage averaged over the models."""
    last = {}
    for model in _models(comparison):
        for stage, loss in comparison.layers[model].som_loss.items():
            last.setdefault(stage, []).append(loss[-1])
    means = {s: float(np.mean(last[s])) for s in _stages(comparison)}
    return (
        f"The maps' last-epoch loss (mean cosine distance to the BMU, averaged over the "
        f"models) is {_listed(means, 4)}."
    )


# --------------------------------------------------------------------- DP-GMM figure
_DENSITY_PANELS = (
    ("log_density", "held-out log density (nats)", "per-class mean log density"),
    ("kl", "KL to max-entropy Gaussian (nats)", "KL complexity"),
    ("n_clusters", "occupied components", "DP-GMM clusters"),
)


def _densities_figure(comparison):
    models = _models(comparison)
    offsets = _positions(comparison, models)
    ticks = {stage: index for index, stage in enumerate(_stages(comparison))}
    fig, axes = _subplots(1, len(_DENSITY_PANELS), figsize=(16, 4.2))
    for ax, (column, ylabel, title) in zip(axes[0], _DENSITY_PANELS, strict=True):
        for index, model in enumerate(models):
            table = comparison.layers[model].densities
            x = table.layer.map(ticks).to_numpy(dtype=float) + offsets[model]
            ax.scatter(x, table[column], s=10, color=f"C{index}", alpha=0.7)
            means = table.groupby("layer", sort=False)[column].mean()
            stage_x, mean = _per_stage(comparison, model, means.to_dict())
            ax.plot(stage_x + offsets[model], mean, color=f"C{index}", marker="_", label=model)
        _stage_axis(ax, comparison, ylabel)
        ax.set_title(f"{title} (points: classes)")
        ax.legend(fontsize=7)
    fig.suptitle("per-class DP-GMMs of each stage's vector codes")
    return fig


# -------------------------------------------------------------------- DP-GMM reading
def _density_summary(probes):
    """Per stage: std across classes of the mean log density, mean KL, mean clusters."""
    table = probes.densities
    grouped = table.groupby("layer", sort=False)
    order = [s for s in probes.layers if s in set(table.layer)]
    return {
        "spread": grouped.log_density.std(ddof=0).reindex(order).to_dict(),
        "kl": grouped.kl.mean().reindex(order).to_dict(),
        "n_clusters": grouped.n_clusters.mean().reindex(order).to_dict(),
    }


def _read_densities(comparison):
    models = _models(comparison)
    summaries = {m: _density_summary(comparison.layers[m]) for m in models}
    text = []
    for model, summary in summaries.items():
        table = comparison.layers[model].densities
        last = list(summary["spread"])[-1]
        text.append(
            f"{model}: the classes' mean held-out log densities spread (std across classes) "
            f"{_listed(summary['spread'])} nats; mean KL to the max-entropy Gaussian "
            f"{_listed(summary['kl'])}; mean occupied components "
            f"{_listed(summary['n_clusters'], 1)}."
        )
        rows = table[table.layer == last].dropna(subset=["log_density"])
        if len(rows):  # classes without test rows have no held-out density
            densest = rows.loc[rows.log_density.idxmax()]
            sparsest = rows.loc[rows.log_density.idxmin()]
            text.append(
                f"At {last} class {densest['class']} is the densest ({densest.log_density:.1f}) "
                f"and class {sparsest['class']} the least dense ({sparsest.log_density:.1f})."
            )
    if len(models) > 1:
        last_spread = {m: list(s["spread"].values())[-1] for m, s in summaries.items()}
        widest = max(last_spread, key=last_spread.get)
        narrowest = min(last_spread, key=last_spread.get)
        text.append(
            f"At the last stage the classes' densities differ most in {widest} "
            f"({last_spread[widest]:.2f} nats) and least in {narrowest} "
            f"({last_spread[narrowest]:.2f}); Jamroz and Kurdziel's high- and low-density "
            "modes of class fitting show as a wide spread."
        )
    text.append(
        f"Log densities are nats in each stage's own (up to {SETTINGS.dpgmm_dimensions}-"
        "dimensional) PCA space of its vector codes: they compare classes within a stage, "
        "not stages or models."
    )
    return " ".join(text)


SECTIONS = (
    ("SOM probes per layer", _som_figure, _read_som),
    ("DP-GMM per layer", _densities_figure, _read_densities),
)
