"""The claims table: what each paper says, this run's number, and whether they agree.

One :class:`Claim` per statement of the four papers that a comparison can
test. Each claim reads its numbers from a :class:`ComparisonResults` and
decides by a rule written beside it (``rule``, shown in the report), never by a
fixed sentence: a result built to agree gives ``"agree"``, one built to
disagree gives ``"disagree"``, and a run that did not measure what the claim
needs (another data set, a model left out, an option not given) says so and
why.

Examples
--------
>>> from sklearn_robust.compare._claims import CLAIMS, VERDICTS
>>> VERDICTS
('agree', 'disagree', 'not measured here')
>>> sorted({claim.paper for claim in CLAIMS})  # doctest: +NORMALIZE_WHITESPACE
['Holzhausen et al.', 'Jamroz and Kurdziel', 'Lee and Vijayan',
 'isometric representations']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from . import _measures as measures

__all__ = ["AGREE", "CLAIMS", "DISAGREE", "NOT_MEASURED", "VERDICTS", "Claim", "claims_table"]

AGREE, DISAGREE, NOT_MEASURED = "agree", "disagree", "not measured here"
VERDICTS = (AGREE, DISAGREE, NOT_MEASURED)

# The share of a KH encoder's winning units that must have converged for the papers'
# claims about "the" KH model to apply (KHEncoder warns below it).
KH_CONVERGED = 0.9


class NotMeasured(Exception):
    """What a claim needs is not in these results; the message says what is missing."""


@dataclass(frozen=True)
class Claim:
    """One statement of a paper, and how a run decides whether it holds.

    Attributes
    ----------
    paper : str
        Who says it.
    statement : str
        What the paper says, in a sentence.
    figure : str
        Where the paper shows it.
    rule : str
        The rule the verdict follows, in words.
    measure : callable
        ``measure(comparison) -> (numbers, text)``: this run's numbers (a dict
        the rule reads) and their text for the table; raises
        :class:`NotMeasured` when the run has not measured them.
    holds : callable
        ``holds(numbers) -> bool``: the rule itself.
    """

    paper: str
    statement: str
    figure: str
    rule: str
    measure: Callable
    holds: Callable

    def verdict(self, comparison):
        """``(verdict, this run's numbers as text)`` for ``comparison``."""
        try:
            numbers, text = self.measure(comparison)
        except NotMeasured as missing:
            return NOT_MEASURED, str(missing)
        return (AGREE if self.holds(numbers) else DISAGREE), text


def claims_table(comparison):
    """Every claim, its verdict on ``comparison`` and the numbers behind it.

    Parameters
    ----------
    comparison : ComparisonResults
        From :func:`~sklearn_robust.compare.run_comparison`.

    Returns
    -------
    pandas.DataFrame
        Columns paper, claim, figure, this_run, rule, verdict; one row per claim
        of :data:`CLAIMS`, in their order. With several seeds
        (``comparison.replicates``) the rule is applied to each, and the verdict
        is "agree" where more than half of the seeds that measured it agree.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_robust.compare import ComparisonConfig, ComparisonResults
    >>> from sklearn_robust.compare._claims import claims_table
    >>> rows = [("backprop", "accuracy", 0.9), ("l2", "accuracy", 0.8)]
    >>> empty = ComparisonResults(
    ...     ComparisonConfig(), "toy", pd.DataFrame(rows, columns=["model", "measure", "value"]),
    ...     curves=pd.DataFrame(), distances={}, spectra={}, landscapes={},
    ...     certified=pd.DataFrame())
    >>> table = claims_table(empty)
    >>> list(table.columns)
    ['paper', 'claim', 'figure', 'this_run', 'rule', 'verdict']
    >>> set(table.verdict)
    {'not measured here'}
    """
    # Each seed on its own numbers: the first training without its replicates, whose
    # summary would otherwise be the mean over all the seeds.
    trainings = (replace(comparison, replicates=[]), *comparison.replicates)
    rows = []
    for claim in CLAIMS:
        verdicts = [claim.verdict(training) for training in trainings]
        verdict, text = _over_seeds(verdicts)
        rows.append((claim.paper, claim.statement, claim.figure, text, claim.rule, verdict))
    return pd.DataFrame(rows, columns=["paper", "claim", "figure", "this_run", "rule", "verdict"])


def _over_seeds(verdicts):
    """One training's verdict as it is; over seeds, agree where most measured seeds agree.

    The text is the first seed's numbers, and how many seeds agree.
    """
    verdict, text = verdicts[0]
    if len(verdicts) == 1:
        return verdict, text
    measured = [v for v, _ in verdicts if v != NOT_MEASURED]
    if not measured:
        return NOT_MEASURED, text
    agreeing = measured.count(AGREE)
    overall = AGREE if agreeing > len(measured) / 2 else DISAGREE
    first = "first seed" if verdict != NOT_MEASURED else "first seed: not measured"
    return overall, f"{text} ({first}); agrees in {agreeing} of {len(measured)} seeds"


# ------------------------------------------------------------------ reading the results
def _summary(comparison):
    return comparison.summary() if len(comparison.results) else pd.DataFrame()


def _value(comparison, model, measure):
    """A model's value of a measure in this training, or NotMeasured."""
    table = _summary(comparison)
    if model not in table.columns:
        raise NotMeasured(f"no model {model} in this run")
    if measure not in table.index or not np.isfinite(table.loc[measure, model]):
        raise NotMeasured(f"{model} has no {measure}")
    return float(table.loc[measure, model])


def _baseline(comparison):
    """The unregularised network: ``resnet`` on images, ``backprop`` on the MLP family."""
    return comparison.config.baseline


def _check_kh_converged(comparison):
    share = _value(comparison, "kh-hybrid", measures.KH_CONVERGED_FRACTION)
    if share < KH_CONVERGED:
        raise NotMeasured(
            f"the KH encoder had not converged ({share:.0%} of winning units; the paper's "
            f"claims are about a converged one, >= {KH_CONVERGED:.0%})"
        )
    return share


def _spearman(x, y, constant=None):
    """Spearman's rho over the finite pairs; ``constant`` where ``y`` does not vary.

    With ``constant=None`` a constant ``y`` (every certified radius 0, say) leaves
    the claim untested; a claim that something rises treats it as no rise (0).
    """
    from scipy.stats import spearmanr

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    known = np.isfinite(x) & np.isfinite(y)
    if known.sum() < 3 or np.ptp(x[known]) == 0:
        raise NotMeasured("too few distinct values for a rank correlation")
    if np.ptp(y[known]) == 0:
        if constant is None:
            raise NotMeasured("the values do not vary across the classes")
        return constant
    return float(spearmanr(x[known], y[known]).statistic)


def _distances_by_model(comparison, attack):
    measure = measures.median_critical_distance(attack)
    table = _summary(comparison)
    if measure not in table.index:
        raise NotMeasured(f"this run has no {attack} attack")
    return table.loc[measure].dropna()


# ------------------------------------------------------------------- Holzhausen et al.
def _kh_spectrum(comparison):
    _check_kh_converged(comparison)
    alpha = _value(comparison, "kh-hybrid", measures.HIDDEN_ALPHA)
    r2 = _value(comparison, "kh-hybrid", measures.HIDDEN_ALPHA_R2)
    data = getattr(comparison, "data_spectrum", None)
    if data is None:
        raise NotMeasured("the data's own spectrum was not measured")
    numbers = {"alpha": alpha, "r2": r2, "data_alpha": data.alpha}
    return numbers, (
        f"KH representation alpha {alpha:.2f} (R^2 {r2:.3f}); the test data's alpha "
        f"{data.alpha:.2f}"
    )


def _kh_white_noise(comparison):
    _check_kh_converged(comparison)
    on_noise = _value(comparison, "kh-hybrid", measures.HIDDEN_ALPHA_WHITE_NOISE)
    calibration = _value(comparison, "kh-hybrid", measures.HIDDEN_ALPHA_CALIBRATION)
    numbers = {"on_noise": on_noise, "calibration": calibration}
    return numbers, (
        f"KH alpha on white-noise input {on_noise:.2f}; the same fit on white noise itself "
        f"(true alpha 0) {calibration:.2f}"
    )


def _kh_data_steeper_than_noise(comparison):
    _check_kh_converged(comparison)
    on_data = _value(comparison, "kh-hybrid", measures.HIDDEN_ALPHA)
    on_noise = _value(comparison, "kh-hybrid", measures.HIDDEN_ALPHA_WHITE_NOISE)
    return {"on_data": on_data, "on_noise": on_noise}, (
        f"KH alpha on the test data {on_data:.2f}, on white-noise input {on_noise:.2f}"
    )


def _kh_most_robust(comparison):
    _check_kh_converged(comparison)
    texts, numbers = [], {}
    for attack in ("fgsm", "pgd"):
        distances = _distances_by_model(comparison, attack)
        if "kh-hybrid" not in distances.index or len(distances) < 2:
            raise NotMeasured(f"no {attack} distances of kh-hybrid and another model")
        others = distances.drop("kh-hybrid")
        numbers[attack] = (distances["kh-hybrid"], others.max())
        texts.append(
            f"{attack}: kh-hybrid {distances['kh-hybrid']:.3g}, best other "
            f"{others.idxmax()} {others.max():.3g}"
        )
    return numbers, "median critical distance, " + "; ".join(texts)


def _measured(table, measure):
    """The row of ``measure`` in a summary, or NotMeasured."""
    if measure not in table.index:
        raise NotMeasured(f"this run has no {measure}")
    return table.loc[measure]


def _kh_least_accurate(comparison):
    _check_kh_converged(comparison)
    accuracy = _measured(_summary(comparison), measures.ACCURACY).dropna()
    if "kh-hybrid" not in accuracy.index or len(accuracy) < 2:
        raise NotMeasured("no kh-hybrid and another model")
    others = accuracy.drop("kh-hybrid")
    numbers = {"kh": accuracy["kh-hybrid"], "others_min": others.min()}
    return numbers, (
        f"accuracy kh-hybrid {accuracy['kh-hybrid']:.3f}; least accurate other "
        f"{others.idxmin()} {others.min():.3f}"
    )


def _regularised_more_robust(comparison):
    distances = _distances_by_model(comparison, "pgd")
    baseline = _baseline(comparison)
    needed = [baseline, "l2", "jacobian"]
    if any(model not in distances.index for model in needed):
        raise NotMeasured(f"needs the models {', '.join(needed)}")
    numbers = {model: distances[model] for model in needed}
    numbers["baseline"] = numbers.pop(baseline)
    return numbers, (
        f"median PGD critical distance {baseline} {distances[baseline]:.3g}, l2 "
        f"{distances['l2']:.3g}, jacobian {distances['jacobian']:.3g}"
    )


def _spectral_not_more_robust(comparison):
    distances = _distances_by_model(comparison, "pgd")
    baseline = _baseline(comparison)
    if baseline not in distances.index or "spectral" not in distances.index:
        raise NotMeasured(f"needs the models {baseline} and spectral")
    numbers = {"spectral": distances["spectral"], "baseline": distances[baseline]}
    return numbers, (
        f"median PGD critical distance {baseline} {distances[baseline]:.3g}, spectral "
        f"{distances['spectral']:.3g}"
    )


def _spectral_smoother(comparison):
    baseline = _baseline(comparison)
    numbers = {
        "spectral": _value(comparison, "spectral", measures.JACOBIAN_NORM_MEAN),
        "baseline": _value(comparison, baseline, measures.JACOBIAN_NORM_MEAN),
    }
    return numbers, (
        f"mean hidden-Jacobian norm on the plane: {baseline} {numbers['baseline']:.3g}, "
        f"spectral {numbers['spectral']:.3g}"
    )


def _accuracy_robustness_tradeoff(comparison):
    table = _summary(comparison)
    pgd = measures.median_critical_distance("pgd")
    if pgd not in table.index:
        raise NotMeasured("this run has no pgd attack")
    _measured(table, measures.ACCURACY)
    pairs = table.loc[[measures.ACCURACY, pgd]].T.replace(np.inf, np.nan).dropna()
    if len(pairs) < 4:
        raise NotMeasured("fewer than 4 models with a finite median PGD distance")
    rho = _spearman(pairs[measures.ACCURACY], pairs[pgd])
    return {"rho": rho}, (
        f"Spearman rho {rho:+.2f} across {len(pairs)} models (accuracy vs median PGD distance)"
    )


# --------------------------------------------------------- isometric representations
def _sweep(comparison):
    sweep = getattr(comparison, "isometry", None)
    if sweep is None:
        raise NotMeasured("the isometry sweep runs on MNIST and digits")
    return sweep


def _robustness_grows_with_beta(per_beta, label):
    """A claim's measure: how ``per_beta(sweep)`` (a value per beta) rises with beta."""

    def measure(comparison):
        values = per_beta(_sweep(comparison)).sort_index()
        rho = _spearman(values.index, values, constant=0.0)
        gain = float(values.max() - values.iloc[0])
        return {"rho": rho, "gain": gain}, (
            f"{label}: Spearman rho with beta {rho:+.2f}; best beta {values.idxmax():g}, "
            f"{gain:+.3f} over beta 0"
        )

    return measure


def _fgsm_area(sweep):
    return sweep.table.set_index("beta").fgsm_auc


def _pgd_mean(sweep):
    """PGD accuracy averaged over the (log-spaced) step sizes: figure 3B's curve's area."""
    return sweep.pgd.groupby("beta").accuracy.mean()


def _isometry_accuracy_cost(comparison):
    table = _sweep(comparison).table.set_index("beta").accuracy
    if not {0.0, 10.0, 0.001} <= set(table.index):
        raise NotMeasured("the sweep lacks beta 0, 0.001 or 10")
    numbers = {"base": table[0.0], "small": table[0.001], "large": table[10.0]}
    return numbers, (
        f"test accuracy beta 0 {numbers['base']:.3f}, 0.001 {numbers['small']:.3f}, "
        f"10 {numbers['large']:.3f}"
    )


def _isometry_grows_with_beta(comparison):
    table = _sweep(comparison).table.sort_values("beta")
    rho = _spearman(table.beta, table.isometry, constant=0.0)
    return {"rho": rho}, (
        f"within-class distance correlation {table.isometry.iloc[0]:.2f} at beta 0, "
        f"{table.isometry.iloc[-1]:.2f} at beta {table.beta.iloc[-1]:g}; Spearman rho "
        f"{rho:+.2f}"
    )


# ------------------------------------------------------------------------ Lee and Vijayan
def _probes(comparison):
    layers = getattr(comparison, "layers", None) or {}
    model = _baseline(comparison)
    if model not in layers:
        raise NotMeasured("per-layer probes need a network with stages (--dataset cifar10)")
    return layers[model]


def _first_last(attribute, label):
    def measure(comparison):
        probes = _probes(comparison)
        values = getattr(probes, attribute)
        first, last = probes.layers[0], probes.layers[-1]
        value = {
            layer: float(np.mean(list(v.values())) if isinstance(v, dict) else v[-1])
            for layer, v in values.items()
        }
        return {"first": value[first], "last": value[last]}, (
            f"{label}: {first} {value[first]:.3g}, {last} {value[last]:.3g}"
        )

    return measure


def _spread_wrong_vs_correct(comparison):
    probes = _probes(comparison)
    last = probes.layers[-1]
    numbers = {"wrong": probes.spread_wrong[last], "correct": probes.spread_correct[last]}
    if not all(np.isfinite(list(numbers.values()))):
        raise NotMeasured("no wrongly (or correctly) predicted test inputs")
    return numbers, (
        f"D_class in {last}: wrong predictions {numbers['wrong']:.3g}, correct "
        f"{numbers['correct']:.3g}"
    )


def _shift_pgd_vs_noise(comparison):
    probes = _probes(comparison)
    pgd = {layer: float(probes.shifts["pgd", layer].mean()) for layer in probes.layers}
    noise = {layer: float(probes.shifts["noise", layer].mean()) for layer in probes.layers}
    text = ", ".join(f"{layer} {pgd[layer]:.2g} vs {noise[layer]:.2g}" for layer in pgd)
    return {"pgd": pgd, "noise": noise}, f"mean BMU shift PGD vs noise: {text}"


def _pgd_collapses_accuracy(comparison):
    accuracy = _probes(comparison).accuracy
    return dict(accuracy), (
        f"accuracy clean {accuracy['clean']:.3f}, PGD 4/255 {accuracy['pgd']:.3f}, "
        f"uniform noise {accuracy['noise']:.3f}"
    )


def _last_over_first_shift(comparison):
    probes = _probes(comparison)
    first, last = probes.layers[0], probes.layers[-1]
    numbers = {
        "first": float(probes.shifts["pgd", first].mean()),
        "last": float(probes.shifts["pgd", last].mean()),
    }
    return numbers, (
        f"mean PGD BMU shift {first} {numbers['first']:.3g}, {last} {numbers['last']:.3g}"
    )


# -------------------------------------------------------------------- Jamroz and Kurdziel
def _class_densities(comparison, model):
    densities = comparison.densities
    if densities is None or model not in set(densities.model):
        raise NotMeasured(f"no class densities of {model}")
    return densities[densities.model == model].set_index("class")


def _density_modes(comparison):
    if not comparison.config.convolutional:
        raise NotMeasured("needs a residual network and its plain twin (--dataset cifar10)")
    spread = {
        model: float(_class_densities(comparison, model).log_density.std())
        for model in ("resnet", "plain")
    }
    return spread, (
        f"std across classes of the mean log density (penultimate layer): resnet "
        f"{spread['resnet']:.3g}, plain {spread['plain']:.3g}"
    )


def _residual_classes(comparison):
    if not comparison.config.convolutional:
        raise NotMeasured("the claim is about residual networks (--dataset cifar10)")
    return _class_densities(comparison, "resnet")


def _dense_classes_complex(comparison):
    classes = _residual_classes(comparison)
    rho = _spearman(classes.log_density, classes.kl)
    return {"rho": rho}, f"Spearman rho (log density, KL) across classes {rho:+.2f}"


def _dense_classes_memorise(comparison):
    classes = _residual_classes(comparison)
    table = getattr(comparison, "memorisation", None)
    if table is None or "resnet" not in set(table.model):
        raise NotMeasured("memorisation scores were not computed (--memorisation)")
    memorised = table[table.model == "resnet"].set_index("class").memorisation
    rho = _spearman(classes.log_density, memorised.reindex(classes.index))
    return {"rho": rho}, f"Spearman rho (log density, memorisation) across classes {rho:+.2f}"


def _dense_classes_fragile(comparison):
    classes = _residual_classes(comparison)
    smoothing = getattr(comparison, "smoothing", None)
    if smoothing is None or "resnet" not in set(smoothing.model):
        raise NotMeasured("no smoothed-classifier scores of resnet")
    robust = smoothing[smoothing.model == "resnet"].set_index("class").reindex(classes.index)
    rho = {
        column: _spearman(classes.log_density, robust[column])
        for column in ("f1", "radius", "non_abstained")
    }
    text = ", ".join(f"{column} {value:+.2f}" for column, value in rho.items())
    return rho, f"Spearman rho of the class log density with the smoothed classifier's {text}"


# ------------------------------------------------------------------------------ the list
_HOLZHAUSEN, _ISOMETRY = "Holzhausen et al.", "isometric representations"
_LEE, _JAMROZ = "Lee and Vijayan", "Jamroz and Kurdziel"

CLAIMS = (
    Claim(
        _HOLZHAUSEN,
        "The KH encoder's representation has a power-law spectrum, steeper than the data's.",
        "fig. 2",
        "agree if the fit's R^2 >= 0.9 and the representation's alpha exceeds the data's "
        "(every KH claim: not measured unless the encoder converged)",
        _kh_spectrum,
        lambda n: n["r2"] >= 0.9 and n["alpha"] > n["data_alpha"],
    ),
    Claim(
        _HOLZHAUSEN,
        "The KH encoder imposes its power law on white-noise input too.",
        "fig. 2",
        "agree if the exponent on white-noise input exceeds the calibration (the same fit "
        "on white noise itself, true alpha 0) by more than 0.2",
        _kh_white_noise,
        lambda n: n["on_noise"] - abs(n["calibration"]) > 0.2,
    ),
    Claim(
        _HOLZHAUSEN,
        "The KH representation's exponent is larger on the data than on white noise.",
        "fig. 2, sec. 4",
        "agree if the KH representation's alpha on the test data exceeds its alpha on "
        "white-noise input",
        _kh_data_steeper_than_noise,
        lambda n: n["on_data"] > n["on_noise"],
    ),
    Claim(
        _HOLZHAUSEN,
        "The (converged) KH hybrid is the most robust model under FGSM and PGD.",
        "fig. 4",
        "agree if kh-hybrid's median FGSM and PGD critical distances are both the largest; "
        f"not measured unless >= {KH_CONVERGED:.0%} of its encoder's winning units converged",
        _kh_most_robust,
        lambda n: all(kh > other for kh, other in n.values()),
    ),
    Claim(
        _HOLZHAUSEN,
        "The KH hybrid is the least accurate model.",
        "sec. 5",
        "agree if kh-hybrid's test accuracy is the lowest",
        _kh_least_accurate,
        lambda n: n["kh"] < n["others_min"],
    ),
    Claim(
        _HOLZHAUSEN,
        "L2 and Jacobian regularisation make the network more robust than plain training.",
        "fig. 4",
        "agree if both l2's and jacobian's median PGD critical distances exceed the "
        "unregularised network's",
        _regularised_more_robust,
        lambda n: n["l2"] > n["baseline"] and n["jacobian"] > n["baseline"],
    ),
    Claim(
        _HOLZHAUSEN,
        "Spectral regularisation does not make the network more robust.",
        "fig. 4",
        "agree if spectral's median PGD critical distance is at most 1.1 x the "
        "unregularised network's",
        _spectral_not_more_robust,
        lambda n: n["spectral"] <= 1.1 * n["baseline"],
    ),
    Claim(
        _HOLZHAUSEN,
        "Spectral regularisation lowers the hidden layer's Jacobian norm.",
        "fig. 5",
        "agree if spectral's mean hidden-Jacobian norm on the plane is below the "
        "unregularised network's",
        _spectral_smoother,
        lambda n: n["spectral"] < n["baseline"],
    ),
    Claim(
        _HOLZHAUSEN,
        "Across models, robustness and accuracy are negatively correlated.",
        "sec. 5",
        "agree if Spearman's rho of accuracy and median PGD distance across models is < 0",
        _accuracy_robustness_tradeoff,
        lambda n: n["rho"] < 0,
    ),
    Claim(
        _ISOMETRY,
        "FGSM robustness improves starkly as beta grows.",
        "fig. 3A",
        "agree if the FGSM accuracy averaged over log eps (0.01-1) rises with beta "
        "(Spearman rho > 0.5) and the best beta gains >= 0.05 over beta 0",
        _robustness_grows_with_beta(_fgsm_area, "FGSM accuracy averaged over log eps"),
        lambda n: n["rho"] > 0.5 and n["gain"] >= 0.05,
    ),
    Claim(
        _ISOMETRY,
        "PGD robustness (L-inf 0.5, 10 steps) improves starkly as beta grows.",
        "fig. 3B",
        "agree if the PGD accuracy averaged over the log-spaced step sizes (0.01-1) rises "
        "with beta (Spearman rho > 0.5) and the best beta gains >= 0.05 over beta 0",
        _robustness_grows_with_beta(_pgd_mean, "PGD accuracy averaged over step sizes"),
        lambda n: n["rho"] > 0.5 and n["gain"] >= 0.05,
    ),
    Claim(
        _ISOMETRY,
        "Large beta costs clean accuracy; small beta keeps the cross-entropy baseline.",
        "table 1",
        "agree if accuracy at beta 10 is > 0.01 below beta 0 and beta 0.001 is within 0.01 of it",
        _isometry_accuracy_cost,
        lambda n: n["large"] < n["base"] - 0.01 and abs(n["small"] - n["base"]) <= 0.01,
    ),
    Claim(
        _ISOMETRY,
        "The isometry term makes within-class representations isometric to the input.",
        "fig. 2B",
        "agree if the within-class correlation of input and representation distances rises "
        "with beta (Spearman rho > 0.5)",
        _isometry_grows_with_beta,
        lambda n: n["rho"] > 0.5,
    ),
    Claim(
        _LEE,
        "SOM loss is higher on the last block's codes than the first's (deep codes diverse).",
        "fig. 3",
        "agree if the last layer's final SOM loss exceeds the first layer's",
        _first_last("som_loss", "final SOM loss"),
        lambda n: n["last"] > n["first"],
    ),
    Claim(
        _LEE,
        "D_class falls from the first block to the last.",
        "fig. 6",
        "agree if the mean D_class of the last layer is below the first layer's",
        _first_last("spread", "mean D_class (training data)"),
        lambda n: n["last"] < n["first"],
    ),
    Claim(
        _LEE,
        "D_class is larger when the network predicts wrongly than when it is right.",
        "supp. fig. 3",
        "agree if, in the last layer, D_class of wrongly predicted test inputs exceeds "
        "that of correctly predicted ones",
        _spread_wrong_vs_correct,
        lambda n: n["wrong"] > n["correct"],
    ),
    Claim(
        _LEE,
        "PGD (L-inf 4/255) moves the BMUs more than uniform noise in [0, 4/255], in every layer.",
        "fig. 11",
        "agree if the mean PGD BMU shift exceeds the noise's in every layer",
        _shift_pgd_vs_noise,
        lambda n: all(n["pgd"][layer] > n["noise"][layer] for layer in n["pgd"]),
    ),
    Claim(
        _LEE,
        "PGD's BMU shift is small in the first block and larger in the last.",
        "fig. 11",
        "agree if the mean PGD BMU shift of the last layer exceeds the first's",
        _last_over_first_shift,
        lambda n: n["last"] > n["first"],
    ),
    Claim(
        _LEE,
        "PGD (4/255, 50 steps) collapses accuracy; uniform noise of the same size does not.",
        "sec. 3.4",
        "agree if PGD accuracy is below half the clean accuracy and noise accuracy within "
        "0.05 of it",
        _pgd_collapses_accuracy,
        lambda n: n["pgd"] < 0.5 * n["clean"] and n["noise"] >= n["clean"] - 0.05,
    ),
    Claim(
        _JAMROZ,
        "A residual network fits classes in distinct high- and low-density modes; its plain "
        "twin does not.",
        "class log densities",
        "agree if the spread (std) of the classes' mean log densities is larger in resnet "
        "than in plain",
        _density_modes,
        lambda n: n["resnet"] > n["plain"],
    ),
    Claim(
        _JAMROZ,
        "High-density classes have more complex (less Gaussian) representations.",
        "KL to the max-entropy Gaussian",
        "agree if Spearman's rho of class log density and KL is > 0 in resnet",
        _dense_classes_complex,
        lambda n: n["rho"] > 0,
    ),
    Claim(
        _JAMROZ,
        "High-density classes are memorised more.",
        "memorisation",
        "agree if Spearman's rho of class log density and memorisation is > 0 in resnet",
        _dense_classes_memorise,
        lambda n: n["rho"] > 0,
    ),
    Claim(
        _JAMROZ,
        "High-density classes are less robust (smoothed classifier).",
        "certified robustness",
        "agree if at least two of the rank correlations of class log density with the "
        "smoothed classifier's F1, mean radius and non-abstained fraction are < 0",
        _dense_classes_fragile,
        lambda n: sum(value < 0 for value in n.values()) >= 2,
    ),
)
