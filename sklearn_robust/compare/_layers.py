"""Per-layer probes of networks with stages (ResNets, ConvNets): SOMs and DP-GMMs per stage.

Lee and Vijayan probe each composite layer of a ResNet with its own
self-organizing map of the layer's vector codes (max, mean, standard deviation
and centre of mass of every feature map): the map's training loss (their
figure 3), the class spread ``D_class`` (figure 6), whether the inputs the
network gets wrong lie further from their class's centre (supplementary
figure 3), and how far the best matching units move under an L-inf PGD against
uniform noise of the same bound (figure 11, table 2). Jamroz and Kurdziel fit
one Dirichlet-process Gaussian mixture per class to a layer's representations;
here one per class and stage, on the same vector codes, gives each stage's
held-out class densities, their KL complexity and their cluster counts.

:func:`measure_layers` measures one fitted network and returns a
:class:`LayerProbes` and its ``(model, measure, value)`` rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import DPGMMClassDensity
from ..representations import LayerActivations
from ..robustness import pgd
from ..som import SOMProbe
from . import _measures as measures
from ._settings import SETTINGS

__all__ = [
    "LAYER_PROTOCOL",
    "LayerProbes",
    "LayerProtocol",
    "centre_distances",
    "layer_som",
    "measure_layers",
    "staged_layers",
]

_STAGE = re.compile(r"layer[1-9][0-9]*")


@dataclass(frozen=True)
class LayerProtocol:
    """Lee and Vijayan's settings for the per-layer probes, and the run's sampler lengths.

    Attributes
    ----------
    som_size : int
        Rows and columns of each stage's toroidal SOM (their table 1: 20 x 20).
    som_metric, som_topology : str
        Cosine distance on a torus, as their QuickSOM maps.
    som_sigma, som_learning_rate : float
        Initial neighbourhood width (grid units) and learning rate, decaying
        exponentially (their table 1: 10 and 0.1).
    som_epochs, som_batch_size : int
        Passes over the training codes and codes per update (5 and 10).
    top_k : int
        Best matching units compared per input (figure 11, supplementary figure 3).
    pgd_eps : float
        L-inf bound of the PGD on pixels in [0, 1] (table 2: 4/255).
    pgd_iterations : int
        PGD steps (table 2: 50).
    pgd_step_size : float
        Each step's L-inf length (table 2: ``eps * 2 / 100``).
    pgd_random_start : bool
        PGD starts from a uniform point of the ball (advertorch's ``rand_init``).
    noise_high : float
        The control: each pixel independently gains uniform noise in
        ``[0, noise_high]`` (4/255, the PGD's bound), then the image is clipped
        to [0, 1].
    dpgmm_iterations : tuple of int
        ``(n_iter, burn_in)`` of each stage's DP-GMM sampler in a full run.
    dpgmm_iterations_quick : tuple of int
        The same in a quick run.
    """

    som_size: int = 20
    som_metric: str = "cosine"
    som_topology: str = "toroidal"
    som_sigma: float = 10.0
    som_learning_rate: float = 0.1
    som_epochs: int = 5
    som_batch_size: int = 10
    top_k: int = 10
    pgd_eps: float = 4 / 255
    pgd_iterations: int = 50
    pgd_step_size: float = 4 / 255 * 2 / 100
    pgd_random_start: bool = True
    noise_high: float = 4 / 255
    dpgmm_iterations: tuple = (100, 80)
    dpgmm_iterations_quick: tuple = (40, 30)


LAYER_PROTOCOL = LayerProtocol()


def staged_layers(model):
    """The stages of a fitted network, ``["layer1", "layer2", ...]``; [] for other models.

    Parameters
    ----------
    model : estimator
        A fitted model; one with a ``module_`` whose ``hidden_layer_names()``
        are stages (:class:`~sklearn_robust.nn.ResNet`,
        :class:`~sklearn_robust.nn.ConvNet`) has stages. An MLP's hidden
        layers, a pipeline or an unfitted network have none.

    Returns
    -------
    list of str
        The stage names, first to last.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_robust.compare._layers import staged_layers
    >>> staged_layers(LogisticRegression())
    []
    """
    names = getattr(getattr(model, "module_", None), "hidden_layer_names", None)
    if not callable(names):
        return []
    names = list(names())
    return names if names and all(_STAGE.fullmatch(name) for name in names) else []


@dataclass
class LayerProbes:
    """One staged network's per-layer probes, behind the report's figures (their means are rows).

    Attributes
    ----------
    layers : tuple of str
        The stages, first to last.
    soms : dict
        Stage -> its fitted :class:`~sklearn_robust.SOMProbe`.
    som_loss : dict
        Stage -> the SOM's training loss, one value per epoch.
    spread : dict
        Stage -> (class -> ``D_class``) on the training data.
    spread_correct, spread_wrong : dict
        Stage -> mean over the classes of the mean distance from a test input's
        top-k BMUs to its class's centre (found on the training data), for the
        inputs the network classifies correctly or wrongly; NaN where there are none.
    shifts : dict
        ``(perturbation, stage)`` -> ``(n_eval, k)`` grid distances between the
        clean and perturbed examples' ranked BMUs; ``perturbation`` in ("pgd", "noise").
    accuracy : dict
        ``"clean"``, ``"pgd"``, ``"noise"`` -> accuracy on the evaluated examples.
    densities : pandas.DataFrame
        Columns model, layer, class, log_density (mean held-out log density of
        the class's test rows), kl, n_clusters: one row per stage and class.
    """

    layers: tuple
    soms: dict
    som_loss: dict
    spread: dict
    spread_correct: dict
    spread_wrong: dict
    shifts: dict
    accuracy: dict
    densities: pd.DataFrame


def measure_layers(name, model, split, config, progress=print):
    """Lee and Vijayan's SOM probes and per-class DP-GMMs on every stage of a network.

    Each stage's vector codes of the training, test and evaluated examples are
    read in one pass per set. Per stage: a SOM of the protocol
    (:data:`LAYER_PROTOCOL`) fitted on the training codes; ``D_class`` on the
    training data; the distance of the test inputs' top-k BMUs to their
    class's training centre, split by the network's correct and wrong
    predictions; the shift of the top-k BMUs of the evaluated examples under
    L-inf PGD and under uniform noise; and one DP-GMM per class on the training
    codes reduced by PCA to ``SETTINGS.dpgmm_dimensions`` dimensions, scored on
    the test codes.

    Parameters
    ----------
    name : str
        The model's name (the rows' and the density table's ``model``).
    model : fitted estimator
        A network with stages (:func:`staged_layers` not empty).
    split : _Split
        The run's data: training, test and evaluated examples, and the pixel box.
    config : ComparisonConfig
        ``quick`` shortens the samplers, ``random_state`` seeds everything,
        ``device`` runs the maps and samplers.
    progress : callable, default=print
        Receives one line per stage and step.

    Returns
    -------
    probes : LayerProbes
        The maps, spreads, shifts, accuracies and densities.
    rows : list of (str, str, float)
        ``(model, measure, value)``, the names of :func:`~._measures.layer_measures`;
        a spread of wrong (or correct) predictions is left out where there are none.
    """
    stages = staged_layers(model)
    if not stages:
        raise ValueError(f"model {name!r} has no stages (layer1, layer2, ...) to probe.")
    progress(f"[{name}] L-inf PGD and uniform noise on {len(split.X_eval):,} examples")
    perturbed = _perturbations(model, split, config)
    accuracy = {
        "clean": float(model.score(split.X_eval, split.y_eval)),
        **{kind: float(model.score(X, split.y_eval)) for kind, X in perturbed.items()},
    }
    inputs = {"train": split.X_train, "test": split.X_test, "eval": split.X_eval, **perturbed}
    codes = _vector_codes(model, stages, inputs)
    correct = model.predict(split.X_test) == np.asarray(split.y_test)
    probes = LayerProbes(tuple(stages), {}, {}, {}, {}, {}, {}, accuracy, None)
    tables = []
    for stage in stages:
        progress(f"[{name}] {stage}: SOM, D_class, BMU shift")
        _probe_stage(probes, stage, codes[stage], split, correct, config)
        progress(f"[{name}] {stage}: DP-GMM class densities")
        tables.append(_stage_densities(name, stage, codes[stage], split, config))
    probes.densities = pd.concat(tables, ignore_index=True)
    return probes, _rows(name, probes)


def _perturbations(model, split, config):
    """The evaluated examples under the protocol's L-inf PGD and under its uniform noise."""
    protocol = LAYER_PROTOCOL
    X = np.asarray(split.X_eval, dtype=np.float32)
    adversarial = pgd(
        model,
        X,
        split.y_eval,
        eps=protocol.pgd_eps,
        norm="linf",
        n_iter=protocol.pgd_iterations,
        step_size=protocol.pgd_step_size,
        random_start=protocol.pgd_random_start,
        clip=split.clip,
        random_state=config.random_state,
    )
    # The paper's control: every pixel brighter by its own uniform draw in [0, 4/255].
    rng = np.random.default_rng(config.random_state)
    noisy = X + rng.uniform(0.0, protocol.noise_high, size=X.shape).astype(np.float32)
    if split.clip is not None:
        noisy = np.clip(noisy, *split.clip)
    return {"pgd": adversarial, "noise": noisy}


def _vector_codes(model, stages, inputs):
    """Stage -> (set -> vector codes): one forward pass per set reads every stage."""
    reader = LayerActivations(model, list(stages), pooling="vector_code")
    reader.fit(inputs["eval"][:1])  # checks the stages on one example
    by_set = {kind: reader.transform(X) for kind, X in inputs.items()}
    return {stage: {kind: codes[stage] for kind, codes in by_set.items()} for stage in stages}


def layer_som(config):
    """An unfitted SOM of the protocol, seeded and placed as the run asks."""
    protocol = LAYER_PROTOCOL
    return SOMProbe(
        protocol.som_size,
        protocol.som_size,
        metric=protocol.som_metric,
        topology=protocol.som_topology,
        sigma=protocol.som_sigma,
        learning_rate=protocol.som_learning_rate,
        n_epochs=protocol.som_epochs,
        batch_size=protocol.som_batch_size,
        device=config.device,
        random_state=config.random_state,
    )


def _probe_stage(probes, stage, codes, split, correct, config):
    """The stage's SOM, its ``D_class`` (all, correct, wrong) and the BMU shifts, in place."""
    k = LAYER_PROTOCOL.top_k
    # On the raw vector codes, as the paper's maps: the cosine metric ignores their scale.
    som = layer_som(config).fit(codes["train"])
    probes.soms[stage] = som
    probes.som_loss[stage] = [float(loss) for loss in som.loss_history_]
    spread, centers = som.class_spread(codes["train"], split.y_train, return_centers=True)
    probes.spread[stage] = spread
    distances = centre_distances(som, codes["test"], split.y_test, centers, k)
    y_test = np.asarray(split.y_test)
    probes.spread_correct[stage] = _class_mean(distances[correct], y_test[correct])
    probes.spread_wrong[stage] = _class_mean(distances[~correct], y_test[~correct])
    for perturbation in measures.PERTURBATIONS:
        shift = som.bmu_shift(codes["eval"], codes[perturbation], k=k)
        probes.shifts[perturbation, stage] = shift


def centre_distances(som, X, y, centers, k):
    """Mean grid distance from each input's top-``k`` BMUs to its class's centre.

    Parameters
    ----------
    som : SOMProbe
        A fitted map.
    X : ndarray of shape (n_samples, n_features)
        Inputs (codes) of the map.
    y : array-like of shape (n_samples,)
        Each input's class; every class must be a key of ``centers``.
    centers : dict
        Class -> ``(row, col)``, e.g. :meth:`~sklearn_robust.SOMProbe.class_centers`
        of the training data.
    k : int
        BMUs per input.

    Returns
    -------
    ndarray of shape (n_samples,)
        On a toroidal map the distance goes the shortest way round, per axis.
    """
    shape = np.array([som.n_rows, som.n_cols], dtype=np.float64)
    units = som.top_bmus(X, k)
    positions = np.stack(np.divmod(units, som.n_cols), axis=-1).astype(np.float64)
    centre = np.array([centers[label] for label in np.asarray(y).tolist()], dtype=np.float64)
    gaps = np.abs(positions - centre.reshape(-1, 1, 2))
    if som.topology == "toroidal":
        gaps = np.mod(gaps, shape)
        gaps = np.minimum(gaps, shape - gaps)
    return np.sqrt((gaps**2).sum(axis=-1)).mean(axis=1)


def _class_mean(values, y):
    """The mean over the classes of each class's mean; NaN without values."""
    if len(values) == 0:
        return float("nan")
    return float(pd.Series(values).groupby(y).mean().mean())


def _stage_densities(name, stage, codes, split, config):
    """One DP-GMM per class on the stage's training codes: per class, held-out log density,
    KL to the max-entropy (diagonal) Gaussian and occupied components."""
    n_iter, burn_in = (
        LAYER_PROTOCOL.dpgmm_iterations_quick if config.quick else LAYER_PROTOCOL.dpgmm_iterations
    )
    train = codes["train"]
    density = DPGMMClassDensity(
        n_components=min(SETTINGS.dpgmm_dimensions, *train.shape),
        n_iter=n_iter,
        burn_in=burn_in,
        device=config.device,
        random_state=config.random_state,
    ).fit(train, split.y_train)
    log_density = density.log_density(codes["test"], split.y_test)
    per_class = pd.Series(log_density).groupby(np.asarray(split.y_test)).mean()
    classes = list(density.classes_)
    return pd.DataFrame(
        {
            "model": name,
            "layer": stage,
            "class": classes,
            "log_density": per_class.reindex(classes).to_numpy(),
            "kl": density.kl_to_max_entropy("diagonal"),
            "n_clusters": density.n_clusters_,
        }
    )


def _rows(name, probes):
    """The probes' ``(model, measure, value)`` rows; undefined spreads are left out."""
    rows = [
        (name, measures.LAYER_PGD_ACCURACY, probes.accuracy["pgd"]),
        (name, measures.LAYER_NOISE_ACCURACY, probes.accuracy["noise"]),
    ]
    densities = probes.densities
    for stage in probes.layers:
        table = densities[densities.layer == stage]
        values = {
            measures.layer_som_loss(stage): probes.som_loss[stage][-1],
            measures.layer_class_spread(stage): float(np.mean(list(probes.spread[stage].values()))),
            measures.layer_class_spread_correct(stage): probes.spread_correct[stage],
            measures.layer_class_spread_wrong(stage): probes.spread_wrong[stage],
            measures.layer_dpgmm_log_density_spread(stage): float(table.log_density.std(ddof=0)),
            measures.layer_dpgmm_kl_mean(stage): float(table.kl.mean()),
            measures.layer_dpgmm_n_clusters_mean(stage): float(table.n_clusters.mean()),
        }
        for perturbation in measures.PERTURBATIONS:
            shift = probes.shifts[perturbation, stage]
            values[measures.layer_bmu_shift(perturbation, stage)] = float(shift.mean())
        rows += [(name, measure, value) for measure, value in values.items() if np.isfinite(value)]
    return rows
