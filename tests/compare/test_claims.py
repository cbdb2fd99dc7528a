"""The claims table: every claim agrees, disagrees or is not measured, by its own rule."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from sklearn_robust.compare import ComparisonConfig, _run
from sklearn_robust.compare import _measures as measures
from sklearn_robust.compare._claims import (
    AGREE,
    CLAIMS,
    DISAGREE,
    NOT_MEASURED,
    VERDICTS,
    _over_seeds,
    claims_table,
)
from sklearn_robust.compare._isometry import IsometrySweep
from sklearn_robust.compare._layers import LayerProbes

from .conftest import make_comparison

FGSM = measures.median_critical_distance("fgsm")
PGD = measures.median_critical_distance("pgd")
CIFAR = ComparisonConfig(dataset="cifar10", data_path="x")
CONVERGED = {measures.KH_CONVERGED_FRACTION: 0.95}  # every KH claim needs a converged encoder


def claim_index(words):
    """The position in CLAIMS of the one claim whose statement holds ``words``."""
    (index,) = [i for i, claim in enumerate(CLAIMS) if words in claim.statement]
    return index


def verdict_of(comparison, index):
    """``(verdict, this_run)`` of claim ``index``, through the public table."""
    row = claims_table(comparison).iloc[index]
    return row.verdict, row.this_run


# ----------------------------------------------------------------- Holzhausen et al.
def spectrum_case(kind):
    values = {
        "kh-hybrid": {**CONVERGED, measures.HIDDEN_ALPHA: 1.5, measures.HIDDEN_ALPHA_R2: 0.95}
    }
    if kind == "missing":
        return make_comparison(values)  # no data spectrum
    data_alpha = 1.0 if kind == "agree" else 2.0
    data = _run.HiddenSpectrum(np.array([1.0, 0.5, 0.25]), (2, 3), data_alpha, 0.0)
    return make_comparison(values, data_spectrum=data)


def white_noise_case(kind):
    on_noise = {"agree": 1.0, "disagree": 0.2}.get(kind)
    if on_noise is None:
        return make_comparison({"backprop": {measures.ACCURACY: 0.9}})
    values = {
        **CONVERGED,
        measures.HIDDEN_ALPHA_WHITE_NOISE: on_noise,
        measures.HIDDEN_ALPHA_CALIBRATION: -0.1,
    }
    return make_comparison({"kh-hybrid": values})


def data_vs_noise_case(kind):
    if kind == "missing":
        return make_comparison({"kh-hybrid": {**CONVERGED, measures.HIDDEN_ALPHA: 1.5}})
    on_noise = 1.0 if kind == "agree" else 4.0
    values = {**CONVERGED, measures.HIDDEN_ALPHA: 1.5, measures.HIDDEN_ALPHA_WHITE_NOISE: on_noise}
    return make_comparison({"kh-hybrid": values})


def most_robust_values(kh_pgd, converged=0.95):
    return {
        "kh-hybrid": {measures.KH_CONVERGED_FRACTION: converged, FGSM: 0.5, PGD: kh_pgd},
        "backprop": {FGSM: 0.3, PGD: 0.2},
        "l2": {FGSM: 0.35, PGD: 0.25},
    }


def most_robust_case(kind):
    if kind == "missing":
        values = most_robust_values(0.4)
        values["kh-hybrid"].pop(PGD)
        return make_comparison(values)
    return make_comparison(most_robust_values(0.4 if kind == "agree" else 0.1))


def least_accurate_case(kind):
    kh = {**CONVERGED, measures.ACCURACY: 0.8 if kind == "agree" else 0.95}
    if kind == "missing":  # no other model to compare with
        return make_comparison({"kh-hybrid": kh})
    values = {"backprop": {measures.ACCURACY: 0.9}, "l2": {measures.ACCURACY: 0.85}}
    return make_comparison({**values, "kh-hybrid": kh})


def regularised_case(kind):
    values = {"backprop": {PGD: 0.2}, "l2": {PGD: 0.3}}
    if kind != "missing":
        values["jacobian"] = {PGD: 0.4 if kind == "agree" else 0.1}
    return make_comparison(values)


def spectral_robust_case(kind):
    values = {"backprop": {PGD: 0.2}}
    if kind != "missing":
        values["spectral"] = {PGD: 0.21 if kind == "agree" else 0.3}
    return make_comparison(values)


def spectral_smoother_case(kind):
    values = {"backprop": {measures.JACOBIAN_NORM_MEAN: 2.0}}
    if kind != "missing":
        values["spectral"] = {measures.JACOBIAN_NORM_MEAN: 1.0 if kind == "agree" else 3.0}
    return make_comparison(values)


def tradeoff_case(kind):
    accuracy = [0.9, 0.8, 0.7, 0.6]
    distance = [0.1, 0.2, 0.3, 0.4] if kind != "disagree" else [0.4, 0.3, 0.2, 0.1]
    models = ["backprop", "l2", "jacobian", "kh-hybrid"]
    if kind == "missing":
        models = models[:3]
    rows = zip(models, accuracy[: len(models)], distance[: len(models)], strict=True)
    values = {m: {measures.ACCURACY: a, PGD: d} for m, a, d in rows}
    return make_comparison(values)


# ------------------------------------------------------- isometric representations
BETAS = [0.0, 0.001, 0.1, 1.0, 10.0]


def sweep(rising=True, betas=BETAS):
    n = len(betas)
    up = np.linspace(0.1, 0.7, n) if rising else np.linspace(0.7, 0.1, n)
    accuracy = [0.98, 0.975, 0.97, 0.95, 0.9] if rising else [0.9, 0.95, 0.97, 0.975, 0.98]
    table = pd.DataFrame(
        {
            "beta": betas,
            "accuracy": accuracy[:n],
            "fgsm_auc": up,
            "pgd_accuracy_min": up,
            "isometry": up,
        }
    ).iloc[::-1]  # the rules sort by beta themselves
    # PGD per step size: the mean over the two steps rises (or falls) as ``up`` does.
    pgd = pd.DataFrame(
        {
            "beta": np.repeat(betas, 2),
            "step_size": np.tile([0.01, 1.0], n),
            "accuracy": np.column_stack([2 * up, np.zeros(n)]).ravel(),
        }
    )
    return IsometrySweep(table, pd.DataFrame(), pgd, None, [])


def isometry_case(kind):
    values = {"backprop": {measures.ACCURACY: 0.9}}
    if kind == "missing":
        return make_comparison(values)
    return make_comparison(values, isometry=sweep(rising=kind == "agree"))


def accuracy_cost_case(kind):
    if kind == "missing":  # a sweep without beta 0.001
        betas = [0.0, 0.1, 1.0, 10.0]
        return make_comparison({"backprop": {measures.ACCURACY: 0.9}}, isometry=sweep(True, betas))
    return isometry_case(kind)


# ------------------------------------------------------------------ Lee and Vijayan
LAYERS = ("layer1", "layer2", "layer3")


def probes(agree=True, wrong=2.0):
    rising = [1.0, 2.0, 3.0] if agree else [3.0, 2.0, 1.0]
    shifts = {}
    for layer, value in zip(LAYERS, rising, strict=True):
        shifts["pgd", layer] = np.full((5, 3), value)
        shifts["noise", layer] = np.full((5, 3), 0.5 if agree else 4.0)
    return LayerProbes(
        layers=LAYERS,
        soms={},
        som_loss={layer: [5.0, value] for layer, value in zip(LAYERS, rising, strict=True)},
        spread={layer: {0: 4.0 - v, 1: 4.0 - v} for layer, v in zip(LAYERS, rising, strict=True)},
        spread_correct={layer: 1.0 for layer in LAYERS},
        spread_wrong={layer: wrong if agree else 0.5 for layer in LAYERS},
        shifts=shifts,
        accuracy=(
            {"clean": 0.9, "pgd": 0.1, "noise": 0.88}
            if agree
            else {"clean": 0.9, "pgd": 0.8, "noise": 0.5}
        ),
        densities=pd.DataFrame(),
    )


def layers_case(kind):
    values = {"resnet": {measures.ACCURACY: 0.9}, "plain": {measures.ACCURACY: 0.85}}
    if kind == "missing":  # the MLP family: no network with stages
        return make_comparison({"backprop": {measures.ACCURACY: 0.9}})
    return make_comparison(values, config=CIFAR, layers={"resnet": probes(kind == "agree")})


def spread_wrong_case(kind):
    if kind == "missing":  # every test input predicted correctly
        values = {"resnet": {measures.ACCURACY: 1.0}}
        return make_comparison(values, config=CIFAR, layers={"resnet": probes(wrong=np.nan)})
    return layers_case(kind)


# -------------------------------------------------------------- Jamroz and Kurdziel
CLASSES = [0, 1, 2, 3]


def class_densities(agree=True):
    rising = np.array([0.1, 0.2, 0.3, 0.4])
    resnet = pd.DataFrame(
        {
            "model": "resnet",
            "class": CLASSES,
            "log_density": [0.0, 1.0, 2.0, 3.0],
            "kl": rising if agree else rising[::-1],
        }
    )
    plain = pd.DataFrame(
        {
            "model": "plain",
            "class": CLASSES,
            "log_density": [1.0, 1.1, 0.9, 1.0] if agree else [0.0, 3.0, 6.0, 9.0],
            "kl": rising,
        }
    )
    return pd.concat([resnet, plain], ignore_index=True)


def memorisation(agree=True):
    scores = [0.1, 0.2, 0.3, 0.4] if agree else [0.4, 0.3, 0.2, 0.1]
    return pd.DataFrame({"model": "resnet", "class": CLASSES, "memorisation": scores, "n": 10})


def certified(agree=True):
    """Four examples a class; class c has 4 - c right (1 + c if not agree), the others abstain."""
    rows = []
    for c in CLASSES:
        right = 4 - c if agree else 1 + c
        for i in range(4):
            hit = i < right
            rows.append(("resnet", c, 0.5 if hit else 0.0, hit, not hit, c if hit else None))
    columns = ["model", "class", "radius", "certified", "abstained", "prediction"]
    return pd.DataFrame(rows, columns=columns)


def jamroz_case(kind, missing):
    """Everything Jamroz and Kurdziel's claims read, built to agree or disagree, or without
    ``missing`` (a field, or "config": the MLP family)."""
    agree = kind == "agree"
    fields = {
        "config": CIFAR,
        "densities": class_densities(agree),
        "memorisation": memorisation(agree),
        "certified": certified(agree),
    }
    if kind == "missing":
        fields[missing] = ComparisonConfig() if missing == "config" else None
        if missing == "certified":
            fields["certified"] = pd.DataFrame()
    values = {"resnet": {measures.ACCURACY: 0.9}, "plain": {measures.ACCURACY: 0.85}}
    return make_comparison(values, **fields)


# ----------------------------------------------------------------------- the cases
# (a word of the claim's statement, builder, what the missing case's reason says)
CASES = [
    ("power-law spectrum", spectrum_case, "the data's own spectrum was not measured"),
    ("white-noise input", white_noise_case, "no model kh-hybrid in this run"),
    ("than on white noise", data_vs_noise_case, "kh-hybrid has no hidden_alpha_white_noise"),
    ("most robust", most_robust_case, "no pgd distances of kh-hybrid"),
    ("least accurate", least_accurate_case, "no kh-hybrid and another model"),
    ("L2 and Jacobian", regularised_case, "needs the models backprop, l2, jacobian"),
    ("does not make", spectral_robust_case, "needs the models backprop and spectral"),
    ("Jacobian norm", spectral_smoother_case, "no model spectral in this run"),
    ("negatively correlated", tradeoff_case, "fewer than 4 models"),
    ("FGSM robustness", isometry_case, "the isometry sweep runs on MNIST and digits"),
    ("PGD robustness", isometry_case, "the isometry sweep runs on MNIST and digits"),
    ("costs clean accuracy", accuracy_cost_case, "lacks beta 0, 0.001 or 10"),
    ("isometric to the input", isometry_case, "the isometry sweep runs on MNIST and digits"),
    ("SOM loss", layers_case, "per-layer probes need a network with stages"),
    ("D_class falls", layers_case, "per-layer probes need a network with stages"),
    ("predicts wrongly", spread_wrong_case, "no wrongly (or correctly) predicted test inputs"),
    ("than uniform noise", layers_case, "per-layer probes need a network with stages"),
    ("small in the first block", layers_case, "per-layer probes need a network with stages"),
    ("collapses accuracy", layers_case, "per-layer probes need a network with stages"),
    (
        "high- and low-density modes",
        lambda kind: jamroz_case(kind, "config"),
        "needs a residual network and its plain twin",
    ),
    (
        "more complex",
        lambda kind: jamroz_case(kind, "densities"),
        "no class densities of resnet",
    ),
    (
        "memorised more",
        lambda kind: jamroz_case(kind, "memorisation"),
        "memorisation scores were not computed (--memorisation)",
    ),
    (
        "less robust",
        lambda kind: jamroz_case(kind, "certified"),
        "no smoothed-classifier scores of resnet",
    ),
]


def test_every_claim_has_a_case():
    assert len(CASES) == len(CLAIMS)
    for (word, _, _), claim in zip(CASES, CLAIMS, strict=True):
        assert word in claim.statement


@pytest.mark.parametrize("index", range(len(CASES)))
@pytest.mark.parametrize("kind, expected", [("agree", AGREE), ("disagree", DISAGREE)])
def test_a_claim_follows_its_rule(index, kind, expected):
    _, build, _ = CASES[index]
    verdict, text = verdict_of(build(kind), index)
    assert verdict == expected, text
    assert text and any(character.isdigit() for character in text)  # this run's numbers


@pytest.mark.parametrize("index", range(len(CASES)))
def test_a_claim_without_its_numbers_is_not_measured_and_says_why(index):
    _, build, reason = CASES[index]
    verdict, text = verdict_of(build("missing"), index)
    assert verdict == NOT_MEASURED
    assert reason in text


def test_the_table_has_one_row_per_claim_in_order():
    table = claims_table(spectrum_case("agree"))
    assert list(table.columns) == ["paper", "claim", "figure", "this_run", "rule", "verdict"]
    assert len(table) == len(CLAIMS)
    assert table.claim.tolist() == [claim.statement for claim in CLAIMS]
    assert table.rule.tolist() == [claim.rule for claim in CLAIMS]
    assert set(table.verdict) <= set(VERDICTS)


def test_results_without_any_number_are_not_measured_anywhere():
    empty = make_comparison({})
    assert set(claims_table(empty).verdict) == {NOT_MEASURED}


def test_an_unconverged_kh_encoder_is_not_measured_although_the_most_distant():
    comparison = make_comparison(most_robust_values(0.4, converged=0.5))
    verdict, text = verdict_of(comparison, claim_index("most robust"))
    assert verdict == NOT_MEASURED
    assert "had not converged (50% of winning units" in text
    converged = make_comparison(most_robust_values(0.4, converged=0.9))  # the threshold
    assert verdict_of(converged, claim_index("most robust"))[0] == AGREE


# ------------------------------------------------------------------------- seeds
def test_over_seeds_counts_the_seeds_that_measured():
    assert _over_seeds([(AGREE, "x")]) == (AGREE, "x")
    two_of_three = [(AGREE, "x"), (AGREE, "y"), (DISAGREE, "z")]
    assert _over_seeds(two_of_three) == (
        AGREE,
        "x (first seed); agrees in 2 of 3 seeds",
    )
    one_of_three = [(DISAGREE, "x"), (AGREE, "y"), (DISAGREE, "z")]
    verdict, text = _over_seeds(one_of_three)
    assert verdict == DISAGREE and text.endswith("agrees in 1 of 3 seeds")
    half = [(AGREE, "x"), (DISAGREE, "y")]
    assert _over_seeds(half)[0] == DISAGREE  # more than half must agree
    skipped = [(NOT_MEASURED, "why"), (AGREE, "y"), (AGREE, "z")]
    verdict, text = _over_seeds(skipped)
    assert verdict == AGREE
    assert text == "why (first seed: not measured); agrees in 2 of 2 seeds"
    nothing = [(NOT_MEASURED, "why"), (NOT_MEASURED, "why")]
    assert _over_seeds(nothing) == (NOT_MEASURED, "why")


def seeded(kh_accuracies):
    """A comparison trained once per value: kh-hybrid's accuracy against l2's 0.9."""
    trainings = [
        make_comparison(
            {
                "l2": {measures.ACCURACY: 0.9},
                "kh-hybrid": {**CONVERGED, measures.ACCURACY: accuracy},
            },
            config=ComparisonConfig(random_state=seed),
        )
        for seed, accuracy in enumerate(kh_accuracies)
    ]
    first, *others = trainings
    return dataclasses.replace(first, replicates=others)


@pytest.mark.parametrize(
    "kh_accuracies, expected, count",
    [
        ([0.8, 0.85, 0.95], AGREE, "agrees in 2 of 3 seeds"),
        ([0.8, 0.95, 0.95], DISAGREE, "agrees in 1 of 3 seeds"),
        # Each seed on its own numbers: the first seed disagrees although the mean
        # over the seeds (0.667) is below l2's.
        ([0.95, 0.1, 0.95], DISAGREE, "agrees in 1 of 3 seeds"),
        ([0.95, 0.1, 0.85], AGREE, "agrees in 2 of 3 seeds"),
    ],
)
def test_the_table_counts_the_seeds_each_on_its_own_numbers(kh_accuracies, expected, count):
    verdict, text = verdict_of(seeded(kh_accuracies), claim_index("least accurate"))
    assert verdict == expected
    assert text.endswith(count)
    assert f"kh-hybrid {kh_accuracies[0]:.3f}" in text  # the first seed's numbers


def test_a_claim_no_seed_measured_is_not_measured():
    verdict, text = verdict_of(seeded([0.8, 0.85, 0.95]), 0)  # no spectra in any seed
    assert verdict == NOT_MEASURED
    assert "agrees in" not in text
