"""The names of the comparison's measures: the ``measure`` column of ``results.csv``.

The run writes these names, the report reads them and the tests check them;
each is spelled here only. A name with parts (an attack, a layer, a radius) is
built by a function that refuses a part the run does not measure, so that a
misspelt part fails where it is written instead of reading as a missing row.

Examples
--------
>>> from sklearn_robust.compare import _measures as measures
>>> measures.median_critical_distance("pgd")
'pgd_median_critical_distance'
>>> measures.som_bmu_shift("noise", "hidden")
'som_bmu_shift_noise_hidden'
>>> measures.certified_accuracy(0.25)
'certified_accuracy_r0.25'
>>> measures.layer_bmu_shift("pgd", "layer2")
'layer_bmu_shift_pgd_layer2'
"""

from __future__ import annotations

import re
from numbers import Real

ATTACKS = ("noise", "fgsm", "pgd")  # of the curves and critical distances
PERTURBATIONS = ("pgd", "noise")  # of the SOM's BMU shift: L2 PGD and noise of its norm
LAYERS = ("input", "hidden")  # the SOM maps: of the pixels and of a model's hidden layer
DENSITY_QUANTITIES = ("log_density", "kl")  # per class, set against the certified radius

ACCURACY = "accuracy"
HIDDEN_ALPHA = "hidden_alpha"
HIDDEN_ALPHA_R2 = "hidden_alpha_r2"
HIDDEN_ALPHA_WHITE_NOISE = "hidden_alpha_white_noise"
# The same fit on white noise of the representation's shape, whose true exponent is 0:
# Holzhausen et al.'s calibration, the error of the fitted exponents.
HIDDEN_ALPHA_CALIBRATION = "hidden_alpha_calibration"
# Feldman and Zhang's memorisation, averaged over the training examples scored
# (``memorisation=True``, the unregularised network only).
MEMORISATION_MEAN = "memorisation_mean"
JACOBIAN_NORM_MEAN = "jacobian_norm_mean_on_plane"
SOM_PGD_L2_NORM = "som_pgd_l2_norm"
SOM_PGD_ACCURACY = "som_pgd_accuracy"
DPGMM_LOG_DENSITY_MEAN = "dpgmm_log_density_mean"
DPGMM_KL_MEAN = "dpgmm_kl_mean"
DPGMM_N_CLUSTERS_MEAN = "dpgmm_n_clusters_mean"
# The per-layer probes of networks with stages (sklearn_robust.compare._layers): accuracy on
# the evaluated examples under Lee and Vijayan's L-inf PGD and under their uniform noise.
LAYER_PGD_ACCURACY = "layer_pgd_accuracy"
LAYER_NOISE_ACCURACY = "layer_noise_accuracy"
# Models with a Krotov-Hopfield encoder only: the share of its winning units that reached
# the unit p-norm (KHEncoder.converged_fraction_); the papers' claims are about converged ones.
KH_CONVERGED_FRACTION = "kh_converged_fraction"


def _part(value, allowed, what):
    if value not in allowed:
        raise ValueError(f"{what} must be one of {allowed}; got {value!r}.")
    return value


def never_fooled(attack):
    """Share of the correctly classified examples the attack never fools within its range."""
    return f"{_part(attack, ATTACKS, 'attack')}_never_fooled"


def median_critical_distance(attack):
    """Median critical distance over the correctly classified examples (inf if half or more
    are never fooled)."""
    return f"{_part(attack, ATTACKS, 'attack')}_median_critical_distance"


def mean_critical_distance(attack):
    """Mean critical distance over the examples the attack fools within its range."""
    return f"{_part(attack, ATTACKS, 'attack')}_mean_critical_distance"


def certified_accuracy(radius):
    """Share of the evaluated examples certified correct at L2 radius ``radius`` or more."""
    if not isinstance(radius, Real) or not radius > 0:
        raise ValueError(f"radius must be a positive number; got {radius!r}.")
    return f"certified_accuracy_r{radius:g}"


def som_class_spread(layer):
    """Mean over the classes of ``D_class`` on the layer's map."""
    return f"som_class_spread_{_part(layer, LAYERS, 'layer')}"


def som_bmu_shift(perturbation, layer):
    """Mean grid distance of the top BMUs between clean and perturbed examples."""
    perturbation = _part(perturbation, PERTURBATIONS, "perturbation")
    return f"som_bmu_shift_{perturbation}_{_part(layer, LAYERS, 'layer')}"


def _stage(layer):
    """A network's stage, ``"layer1"``, ``"layer2"``, ...: how many depends on the network."""
    if not (isinstance(layer, str) and re.fullmatch(r"layer[1-9][0-9]*", layer)):
        raise ValueError(f"layer must be a stage name 'layer1', 'layer2', ...; got {layer!r}.")
    return layer


def layer_som_loss(layer):
    """The last epoch's training loss of the stage's SOM (Lee and Vijayan, figure 3)."""
    return f"layer_som_loss_{_stage(layer)}"


def layer_class_spread(layer):
    """Mean over the classes of ``D_class`` on the stage's map (training data)."""
    return f"layer_class_spread_{_stage(layer)}"


def layer_class_spread_correct(layer):
    """Mean over the classes of the distance from the test inputs' top BMUs to their class's
    training centre, for the inputs the network classifies correctly."""
    return f"layer_class_spread_correct_{_stage(layer)}"


def layer_class_spread_wrong(layer):
    """As :func:`layer_class_spread_correct`, for the inputs the network gets wrong."""
    return f"layer_class_spread_wrong_{_stage(layer)}"


def layer_bmu_shift(perturbation, layer):
    """Mean grid distance of the stage's top BMUs between clean and perturbed examples."""
    perturbation = _part(perturbation, PERTURBATIONS, "perturbation")
    return f"layer_bmu_shift_{perturbation}_{_stage(layer)}"


def layer_dpgmm_log_density_spread(layer):
    """Standard deviation across classes of the classes' mean held-out log density."""
    return f"layer_dpgmm_log_density_spread_{_stage(layer)}"


def layer_dpgmm_kl_mean(layer):
    """Mean over the classes of the KL to the max-entropy Gaussian, on the stage."""
    return f"layer_dpgmm_kl_mean_{_stage(layer)}"


def layer_dpgmm_n_clusters_mean(layer):
    """Mean over the classes of the occupied DP-GMM components, on the stage."""
    return f"layer_dpgmm_n_clusters_mean_{_stage(layer)}"


LAYER_MEASURES = (
    layer_som_loss,
    layer_class_spread,
    layer_class_spread_correct,
    layer_class_spread_wrong,
    layer_dpgmm_log_density_spread,
    layer_dpgmm_kl_mean,
    layer_dpgmm_n_clusters_mean,
)  # one per stage each, besides the BMU shifts


def layer_measures(stages):
    """Every per-layer name of a network with these stages; none without stages."""
    if not stages:
        return ()
    return (
        LAYER_PGD_ACCURACY,
        LAYER_NOISE_ACCURACY,
        *(name(stage) for stage in stages for name in LAYER_MEASURES),
        *(layer_bmu_shift(p, stage) for stage in stages for p in PERTURBATIONS),
    )


def dpgmm_radius_spearman(quantity):
    """Spearman correlation across classes of a DP-GMM quantity with the certified radius."""
    return f"dpgmm_{_part(quantity, DENSITY_QUANTITIES, 'quantity')}_radius_spearman"


def all_measures(attacks, certified_radius, stages=()):
    """Every name a run with these attacks can write, section by section.

    Parameters
    ----------
    attacks : sequence of str
        Among :data:`ATTACKS`.
    certified_radius : float
        The radius of the certified accuracy.
    stages : sequence of str, default=()
        The stages (``"layer1"``, ...) of the networks probed layer by layer;
        none: no per-layer names.

    Returns
    -------
    tuple of str

    Examples
    --------
    >>> from sklearn_robust.compare._measures import ATTACKS, all_measures
    >>> len(all_measures(ATTACKS, 0.25)), len(all_measures(["pgd"], 0.25))
    (31, 25)
    >>> len(all_measures(ATTACKS, 0.25, stages=["layer1", "layer2", "layer3"]))
    60
    """
    per_attack = [
        name(attack)
        for attack in attacks
        for name in (never_fooled, median_critical_distance, mean_critical_distance)
    ]
    return (
        ACCURACY,
        KH_CONVERGED_FRACTION,  # models with a KH encoder only
        *per_attack,
        HIDDEN_ALPHA,
        HIDDEN_ALPHA_R2,
        HIDDEN_ALPHA_WHITE_NOISE,
        HIDDEN_ALPHA_CALIBRATION,
        JACOBIAN_NORM_MEAN,
        certified_accuracy(certified_radius),
        *(som_class_spread(layer) for layer in LAYERS),
        SOM_PGD_L2_NORM,
        SOM_PGD_ACCURACY,
        *(som_bmu_shift(p, layer) for p in PERTURBATIONS for layer in LAYERS),
        DPGMM_LOG_DENSITY_MEAN,
        DPGMM_KL_MEAN,
        DPGMM_N_CLUSTERS_MEAN,
        *(dpgmm_radius_spearman(quantity) for quantity in DENSITY_QUANTITIES),
        *layer_measures(stages),
        MEMORISATION_MEAN,  # with memorisation=True only
    )
