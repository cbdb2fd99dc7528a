"""The isometric-layer sweep: its setting, its diagnostic, its tables and its report section."""

import dataclasses
import json
import math
import types

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from sklearn_robust.compare import ComparisonConfig, _isometry, _report_isometry, _run
from sklearn_robust.compare._isometry import (
    IsometrySetting,
    deviations,
    isometry_correlation,
    measure_isometry_sweep,
)
from sklearn_robust.datasets import load_digits
from sklearn_robust.nn import IsometryPenalty

# ------------------------------------------------------------------ the diagnostic


def _classes(n_per_class=60, n_features=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(3 * n_per_class, n_features)), np.repeat([0, 1, 2], n_per_class)


def test_an_isometry_correlates_perfectly():
    X, y = _classes()
    rotation = np.linalg.qr(np.random.default_rng(1).normal(size=(5, 5)))[0]
    assert isometry_correlation(X, X @ rotation, y) == pytest.approx(1.0, abs=1e-12)
    assert isometry_correlation(X, X + 7.0, y) == pytest.approx(1.0, abs=1e-12)
    # Blind to a uniform scale, which the isometry term is not (the report shows the ratio).
    assert isometry_correlation(X, 3.0 * X, y) == pytest.approx(1.0, abs=1e-12)


def test_scrambled_positions_do_not_correlate():
    rng = np.random.default_rng(0)
    X, y = rng.uniform(size=(600, 1)), np.repeat([0, 1, 2], 200)
    Z = X.copy()
    for label in range(3):  # each class's 1-D positions shuffled among its examples
        rows = np.flatnonzero(y == label)
        Z[rows] = X[rng.permutation(rows)]
    assert abs(isometry_correlation(X, Z, y)) < 0.05


def test_the_subsample_is_seeded_and_bounded():
    X, y = _classes(n_per_class=300)
    Z = np.tanh(X)
    first = isometry_correlation(X, Z, y, max_per_class=50, random_state=3)
    assert first == isometry_correlation(X, Z, y, max_per_class=50, random_state=3)
    assert 0.5 < first < 1.0
    # Classes of fewer than three examples have no correlation: none at all gives NaN.
    assert math.isnan(isometry_correlation(X[:2], Z[:2], [0, 1]))


# ---------------------------------------------------------------------- the setting


def test_the_setting_is_the_papers():
    setting = IsometrySetting.for_config(ComparisonConfig(dataset="mnist"))
    assert setting.hidden_sizes == (100, 100, 100, 100)
    assert setting.activation == "tanh"
    assert setting.batch_size == 100
    assert setting.betas == (0.0, 0.001, 0.01, 0.1, 1.0, 10.0)
    assert setting.updates == 3000  # five epochs of 600 batches of 100
    assert setting.epochs_for(60_000) == 5
    assert setting.epochs_for(5000) == 60
    for grid in (setting.fgsm_eps, setting.pgd_step_sizes):
        assert grid[0] == pytest.approx(0.01) and grid[-1] == pytest.approx(1.0)
        assert np.allclose(np.diff(np.log(grid)), np.log(grid[1] / grid[0]))  # logarithmic
    assert 0.1 in [round(eps, 12) for eps in setting.fgsm_eps]
    assert (setting.pgd_eps, setting.pgd_steps) == (0.5, 10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setting.batch_size = 10

    def updates(**config):
        return IsometrySetting.for_config(ComparisonConfig(**config)).updates

    # Shortened where the run is not the paper's: quick, or not MNIST.
    assert updates(dataset="mnist", quick=True) == updates(dataset="digits") == 600
    assert updates(dataset="digits", quick=True) == 120


def test_the_estimator_is_one_lil_with_the_papers_term():
    clf = IsometrySetting().estimator(1.0, epochs=7, random_state=0)
    params = clf.get_params()
    assert params["hidden_sizes"] == (100, 100, 100, 100)
    assert (params["activation"], params["strength"], params["scope"]) == ("tanh", 1.0, "class")
    assert (params["batch_size"], params["max_epochs"]) == (100, 7)


def test_deviations_say_what_differs():
    mnist = " ".join(deviations(ComparisonConfig(dataset="mnist"), n_train=5000, n_eval=300))
    assert "5,000 MNIST images, not the paper's 60,000" in mnist
    assert "60 epochs of 50 batches make 3,000 Adam updates" in mnist
    assert "300 test images" in mnist
    assert "Adam updates, 20% of" not in mnist  # the paper's number of updates
    digits = " ".join(deviations(ComparisonConfig(dataset="digits", quick=True)))
    assert "not the paper's MNIST" in digits
    assert "about 120 Adam updates, 4% of the paper's 3,000 (a quick run and data other" in digits


def test_beta_zero_trains_without_the_term(monkeypatch):
    X, y = load_digits(return_X_y=True)
    X, y = X[:100], y[:100]

    def refuse(self, batch):
        raise AssertionError("the isometry term was computed")

    monkeypatch.setattr(IsometryPenalty, "term", refuse)
    IsometrySetting().estimator(0.0, epochs=1, random_state=0, device="cpu").fit(X, y)
    with pytest.raises(AssertionError, match="isometry term"):
        IsometrySetting().estimator(0.1, epochs=1, random_state=0, device="cpu").fit(X, y)


# ------------------------------------------------------------------------- the sweep

TINY = IsometrySetting(betas=(0.0, 1.0), epochs=5, max_per_class=10)


@pytest.fixture(scope="module")
def sweep_and_attacks():
    """The sweep on 200 digits, two betas, every attack's output recorded."""
    patch = pytest.MonkeyPatch()
    recorded = []

    def recording(attack):
        def run(model, X, y, eps, **kw):
            X_adv = attack(model, X, y, eps, **kw)
            recorded.append((X, X_adv, eps, kw["clip"]))
            return X_adv

        return run

    patch.setattr(IsometrySetting, "for_config", classmethod(lambda cls, config: TINY))
    patch.setattr(_isometry, "fgsm", recording(_isometry.fgsm))
    patch.setattr(_isometry, "pgd", recording(_isometry.pgd))
    X, y = load_digits(return_X_y=True)
    X, y = X[:200], y[:200]
    split = _run._Split(X[:150], X[150:], y[:150], y[150:], X[150:180], y[150:180], (0.0, 1.0))
    lines = []
    try:
        sweep = measure_isometry_sweep(split, ComparisonConfig(device="cpu"), lines.append)
    finally:
        patch.undo()
    return sweep, recorded, lines


def test_the_sweep_fills_its_tables(sweep_and_attacks):
    sweep, _, lines = sweep_and_attacks
    assert sweep.table.beta.tolist() == [0.0, 1.0]
    assert {"accuracy", "fgsm_auc", "pgd_accuracy_min", "isometry", "seconds"} <= set(
        sweep.table.columns
    )
    assert sweep.fgsm.shape == (2 * len(TINY.fgsm_eps), 3)
    assert sweep.pgd.shape == (2 * len(TINY.pgd_step_sizes), 3)
    for column in ("accuracy", "fgsm_auc", "pgd_accuracy_min"):
        assert sweep.table[column].between(0, 1).all()
    assert sweep.fgsm.accuracy.between(0, 1).all() and sweep.pgd.accuracy.between(0, 1).all()
    assert (sweep.table.isometry.abs() <= 1).all()
    assert sweep.setting is TINY
    assert len(lines) == 2 and "beta=1" in lines[1]


def test_the_attacks_stay_in_the_ball_and_the_box(sweep_and_attacks):
    _, recorded, _ = sweep_and_attacks
    assert len(recorded) == 2 * (len(TINY.fgsm_eps) + len(TINY.pgd_step_sizes))
    for X, X_adv, eps, clip in recorded:
        assert clip == (0.0, 1.0)
        assert np.abs(X_adv - X).max() <= eps + 1e-6
        assert X_adv.min() >= 0.0 and X_adv.max() <= 1.0
    assert {eps for *_, eps, _ in recorded} >= {TINY.pgd_eps, *TINY.fgsm_eps}


def test_to_json_is_plain(sweep_and_attacks):
    sweep, _, _ = sweep_and_attacks
    plain = json.loads(json.dumps(sweep.to_json(), allow_nan=False))
    assert plain["setting"]["hidden_sizes"] == [100, 100, 100, 100]
    assert len(plain["table"]) == 2 and len(plain["fgsm"]) == 2 * len(TINY.fgsm_eps)
    assert plain["deviations"] == sweep.deviations


def test_the_section_draws_and_reads_the_numbers(sweep_and_attacks):
    sweep, _, _ = sweep_and_attacks
    comparison = types.SimpleNamespace(isometry=sweep)
    ((title, draw, read),) = _report_isometry.sections_for(comparison)
    assert title == "Isometric layers"
    fig = draw(comparison)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    reading = read(comparison)
    baseline = sweep.table.set_index("beta").loc[0.0]
    assert f"{baseline.accuracy:.3f} at beta = 0" in reading
    assert f"{baseline.isometry:.3f} at beta = 0" in reading
    assert "square of the input scale" in reading
    assert sweep.deviations[0] in reading
    assert _report_isometry.sections_for(types.SimpleNamespace(isometry=None)) == ()


def _table(**columns):
    return pd.DataFrame({"beta": [0.0, 0.1, 1.0, 10.0], **columns}).set_index("beta")


def test_the_reading_sides_with_or_against_the_paper():
    rising = _table(fgsm_auc=[0.2, 0.3, 0.4, 0.5])
    reading = _report_isometry._read_robustness(rising, "fgsm_auc", "FGSM")
    assert "beta = 10 is the most robust: 0.500 against 0.200 at beta = 0 (+0.300)" in reading
    assert "rises with beta, as in the paper (Spearman rho +1.00)" in reading
    flat = _table(fgsm_auc=[0.5, 0.3, 0.4, 0.2])
    assert "no beta > 0 beats beta = 0 (0.500)" in _report_isometry._read_robustness(
        flat, "fgsm_auc", "FGSM"
    )
    lost = _report_isometry._read_robustness(_table(pgd=[0.0] * 4), "pgd", "PGD", " (big)")
    assert lost == "Under PGD, every network falls to 0.000 (big)."
    cheaper = _report_isometry._read_cost(_table(accuracy=[0.90, 0.91, 0.92, 0.93]))
    assert "+2.0 points at beta = 1 and +3.0 points at beta = 10, unlike the paper" in cheaper
    costly = _report_isometry._read_cost(_table(accuracy=[0.93, 0.92, 0.91, 0.85]))
    assert "-8.0 points at beta = 10, as in the paper's table 1" in costly
