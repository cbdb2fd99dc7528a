"""The comparison's probes of the representations: SOM maps and DP-GMM class densities.

For each model of :func:`sklearn_robust.compare.run_comparison`: self-organizing
maps of the input and the hidden layer, with the class spread ``D_class`` and
the shift of the best matching units under PGD against noise of the same norm
(Lee and Vijayan, figures 6 and 11); and per-class Dirichlet-process Gaussian
mixtures of the hidden layer, whose held-out log density and KL complexity are
set against the classes' certified radii (Jamroz and Kurdziel). Each measure
returns its tables and ``(model, measure, value)`` rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import DPGMMClassDensity
from ..robustness import pgd, random_noise
from ..som import SOMProbe
from . import _measures as measures
from ._settings import SETTINGS

__all__ = ["SOMMeasures", "measure_densities", "measure_som", "som_probe"]

# ---------------------------------------------------------------- SOM probes


@dataclass
class SOMMeasures:
    """One model's SOM probe, behind the report's figure (its means are rows).

    Attributes
    ----------
    spread : dict
        Class -> ``D_class`` on the map of the model's hidden layer (training data).
    shifts : dict
        ``(perturbation, layer)`` -> ``(n_eval, k)`` grid distances between the
        clean and the perturbed examples' ranked BMUs; ``perturbation`` in
        :data:`~._measures.PERTURBATIONS`, ``layer`` in :data:`~._measures.LAYERS`.
    """

    spread: dict
    shifts: dict


def som_probe(config):
    return SOMProbe(
        SETTINGS.som_size,
        SETTINGS.som_size,
        metric="cosine",
        topology="toroidal",
        sigma=SETTINGS.som_sigma,
        n_epochs=4 if config.quick else 10,
        device=config.device,
        random_state=config.random_state,
    )


def _som_eps(X, clip):
    """PGD's L2 radius: 1 for pixels in [0, 1], else a fifth of the median example norm."""
    if clip is not None:
        return SETTINGS.som_pgd_eps
    return 0.2 * float(np.median(np.linalg.norm(X, axis=1)))


def measure_som(name, model, through_hidden, hidden_train, split, config):
    """SOM probes of the input (shared) and of the hidden layer (Lee and Vijayan).

    The hidden layer's map is fitted on the training examples' codes
    ``hidden_train``; ``D_class`` is measured on the training data. The
    evaluated examples are perturbed by L2 PGD against this model and by random
    noise of each example's PGD perturbation norm (not clipped, so the norms
    match exactly), and the shift of the top ``SETTINGS.som_top_k`` BMUs is
    measured on both maps.
    """
    X_eval, y_eval = split.X_eval, split.y_eval
    probe = som_probe(config).fit(hidden_train)
    spread = probe.class_spread(hidden_train, split.y_train)
    X_pgd = pgd(
        model,
        X_eval,
        y_eval,
        eps=_som_eps(X_eval, split.clip),
        norm="l2",
        clip=split.clip,
        random_state=config.random_state,
    )
    norms = np.linalg.norm(X_pgd - X_eval, axis=1)
    X_noise = random_noise(model, X_eval, eps=norms, random_state=config.random_state)
    perturbed = {"pgd": X_pgd, "noise": X_noise}
    maps = {"input": (split.input_probe, _unchanged), "hidden": (probe, through_hidden)}
    shifts = {}  # (perturbation, layer) -> (n_eval, k) grid distances
    for layer in measures.LAYERS:
        som, codes = maps[layer]
        clean = codes(X_eval)
        for perturbation in measures.PERTURBATIONS:
            shifted = codes(perturbed[perturbation])
            shifts[perturbation, layer] = som.bmu_shift(clean, shifted, k=SETTINGS.som_top_k)
    spreads = {"input": split.input_spread, "hidden": spread}
    rows = [
        *(
            (name, measures.som_class_spread(layer), _mean(spreads[layer]))
            for layer in measures.LAYERS
        ),
        (name, measures.SOM_PGD_L2_NORM, float(norms.mean())),
        (name, measures.SOM_PGD_ACCURACY, float(model.score(X_pgd, y_eval))),
    ]
    for (perturbation, layer), shift in shifts.items():
        rows.append((name, measures.som_bmu_shift(perturbation, layer), float(shift.mean())))
    return SOMMeasures(spread, shifts), rows


def _unchanged(X):
    return X


def _mean(spread):
    """The mean ``D_class`` over the classes."""
    return float(np.mean(list(spread.values())))


# ------------------------------------------------------------ DP-GMM densities
def measure_densities(name, through_hidden, hidden_train, split, certified, config):
    """Per class: held-out DP-GMM log density, KL complexity and mean certified radius.

    One DP-GMM per class on the hidden layer of the training data,
    ``hidden_train`` (Jamroz and Kurdziel); the log density is the mean over
    the class's test rows, the KL is to the class's max-entropy (diagonal)
    Gaussian. The rows: the means over
    classes, and the Spearman correlations across classes of the log density
    and of the KL with the mean certified radius (left out where undefined,
    e.g. when every radius is 0).
    """
    from scipy.stats import spearmanr

    n_iter, burn_in = (40, 30) if config.quick else (100, 80)
    density = DPGMMClassDensity(
        n_components=min(SETTINGS.dpgmm_dimensions, hidden_train.shape[1]),
        n_iter=n_iter,
        burn_in=burn_in,
        device=config.device,
        random_state=config.random_state,
    ).fit(hidden_train, split.y_train)
    log_density = density.log_density(through_hidden(split.X_test), split.y_test)
    per_row = pd.Series(log_density).groupby(np.asarray(split.y_test)).mean()
    radius = certified.groupby("class").radius.mean()
    classes = list(density.classes_)
    table = pd.DataFrame(
        {
            "model": name,
            "class": classes,
            "log_density": per_row.reindex(classes).to_numpy(),
            "kl": density.kl_to_max_entropy("diagonal"),
            "n_clusters": density.n_clusters_,
            "radius": radius.reindex(classes).to_numpy(),
        }
    )
    rows = [
        (name, measures.DPGMM_LOG_DENSITY_MEAN, float(table.log_density.mean())),
        (name, measures.DPGMM_KL_MEAN, float(table.kl.mean())),
        (name, measures.DPGMM_N_CLUSTERS_MEAN, float(table.n_clusters.mean())),
    ]
    known = table.dropna()
    for column in measures.DENSITY_QUANTITIES:
        if len(known) >= 3 and known[column].nunique() > 1 and known.radius.nunique() > 1:
            rho = float(spearmanr(known[column], known.radius).statistic)
            if np.isfinite(rho):
                rows.append((name, measures.dpgmm_radius_spearman(column), rho))
    return table, rows
