"""Tests for sklearn_robust.robustness.curves (accuracy_curve, critical_distance)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_robust.datasets import load_digits
from sklearn_robust.robustness import accuracy_curve, critical_distance, random_noise
from sklearn_robust.robustness.attacks import PreparedAttack


@pytest.fixture(scope="module")
def linear():
    """A binary logistic regression, its unit normal and its signed margins."""
    X, y = make_blobs(200, n_features=6, centers=2, cluster_std=5.0, random_state=0)
    model = LogisticRegression().fit(X, y)
    w, b = model.coef_[0], model.intercept_[0]
    margin = (X @ w + b) / np.linalg.norm(w)
    correct = model.predict(X) == y
    assert 0.8 < correct.mean() < 1.0  # some examples are misclassified
    return model, X, y, w / np.linalg.norm(w), margin, correct


@pytest.fixture(scope="module")
def digits_3_8():
    """Digits 3 against 8 (pixels in [0, 1]): a logistic regression and its exact L2 margins."""
    X, y = load_digits(return_X_y=True)
    keep = np.isin(y, [3, 8])
    X_train, X, y_train, y = train_test_split(X[keep], y[keep], test_size=150, random_state=0)
    model = LogisticRegression(max_iter=2000).fit(X_train, y_train)
    w, b = model.coef_[0], model.intercept_[0]
    margin = np.abs(X.astype(np.float64) @ w + b) / np.linalg.norm(w)
    correct = model.predict(X) == y
    return model, X, y, margin, correct


@pytest.fixture
def evaluations(monkeypatch):
    """Counts the rows each attack perturbs, over all its calls."""
    count = {"rows": 0}
    perturb = PreparedAttack.perturb

    def counting(self, rows, eps):
        count["rows"] += len(rows)
        return perturb(self, rows, eps)

    monkeypatch.setattr(PreparedAttack, "perturb", counting)
    return count


# ------------------------------------------------------------------ critical distance
@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_default_resolution_is_relative_to_each_margin(digits_3_8, attack, evaluations):
    model, X, y, margin, correct = digits_3_8
    # The margins span a decade, all below a tenth of the default max_eps (4 x the largest norm).
    max_eps = 4 * np.linalg.norm(X, axis=1).max()
    assert np.ptp(np.log10(margin[correct])) > 1 and margin.max() < max_eps / 10
    kw = {"random_start": False} if attack == "pgd" else {}
    distance = critical_distance(model, X, y, attack, norm="l2", **kw)
    ratio = distance[correct] / margin[correct]
    # Along w the attack meets the boundary at the margin: the upper end of a bracket
    # [low, (1 + rtol) low] is within rtol = 1% above it (float32 aside).
    assert ratio.min() >= 1 - 1e-4 and ratio.max() <= 1.01 + 1e-4
    assert np.unique(distance[correct]).size == correct.sum()
    np.testing.assert_array_equal(distance[~correct], 0.0)
    # No more attack evaluations than the absolute bisection of tol = max_eps / 50 spent:
    # the clean check, max_eps and 6 rounds, 8 per example.
    assert evaluations["rows"] <= 8 * len(X)


def test_default_pgd_with_random_start_overshoots_the_margin_by_little(digits_3_8):
    model, X, y, margin, correct = digits_3_8
    distance = critical_distance(model, X, y, "pgd", norm="l2", random_state=0)
    ratio = distance[correct] / margin[correct]
    # The search adds at most 1%; the random start leaves a component along the boundary.
    assert ratio.min() >= 1 - 1e-4 and np.median(ratio) < 1.02 and ratio.max() < 1.06


def test_multiclass_pgd_is_never_below_the_exact_margin_and_resolves_every_example():
    X, y = load_digits(return_X_y=True)
    X_train, X, y_train, y = train_test_split(X, y, test_size=200, random_state=0)
    model = LogisticRegression(max_iter=2000).fit(X_train, y_train)
    scores, W = model.decision_function(X), model.coef_
    predicted = scores.argmax(1)
    # The exact L2 margin: min over j != c of (f_c - f_j) / ||w_c - w_j||.
    gaps = (scores[np.arange(len(X)), predicted][:, None] - scores) / np.linalg.norm(
        W[predicted][:, None, :] - W[None, :, :], axis=2
    ).clip(1e-12)
    gaps[np.arange(len(X)), predicted] = np.inf
    margin = gaps.min(1)
    correct = predicted == y
    distance = critical_distance(model, X, y, "pgd", norm="l2", random_start=False)
    ratio = distance[correct] / margin[correct]
    # PGD climbs the loss of all the other classes, not towards the nearest boundary alone:
    # never shorter than the margin, close to it for most examples.
    assert ratio.min() >= 1 - 1e-4 and np.median(ratio) < 1.05
    assert np.unique(distance[correct]).size == correct.sum()


def test_rtol_sets_the_resolution_and_tol_makes_it_absolute(digits_3_8):
    model, X, y, margin, correct = digits_3_8
    kw = {"norm": "l2", "random_start": False}
    coarse = critical_distance(model, X, y, "pgd", rtol=0.2, **kw)[correct] / margin[correct]
    assert coarse.min() >= 1 - 1e-4 and coarse.max() <= 1.2 + 1e-4
    absolute = critical_distance(model, X, y, "pgd", tol=0.05, rtol=1e-6, **kw)[correct]
    error = absolute - margin[correct]
    assert error.min() >= -1e-4 and error.max() <= 0.05 + 1e-4


def test_a_model_seen_through_predict_is_bisected_on_a_log_scale(linear):
    model, X, y, unit, margin, correct = linear
    black_box = make_pipeline(FunctionTransformer(), model)  # as_torch cannot see through it
    directions = random_noise(model, X, 1.0, random_state=0) - X
    cosine = directions @ unit
    expected = np.where(np.sign(cosine) == -np.sign(margin), np.abs(margin / cosine), np.inf)
    distance = critical_distance(black_box, X, y, "noise", random_state=0)
    max_eps = 4 * np.linalg.norm(X, axis=1).max()
    reach = correct & (expected >= max_eps / 1000) & (expected < max_eps)
    # Six log-scale bisections of [max_eps / 1000, max_eps]: within 1000 ** (1 / 64).
    ratio = distance[reach] / expected[reach]
    assert ratio.min() >= 1 - 1e-4 and ratio.max() <= 1000 ** (1 / 64) + 1e-4
    assert np.all(np.isinf(distance[correct & np.isinf(expected)]))


def test_l2_pgd_critical_distance_is_the_margin(linear):
    model, X, y, _, margin, correct = linear
    distance = critical_distance(
        model, X, y, "pgd", norm="l2", max_eps=50, tol=1e-3, random_start=False
    )
    np.testing.assert_allclose(distance[correct], np.abs(margin[correct]), rtol=0.02)
    np.testing.assert_array_equal(distance[~correct], 0.0)


def test_l2_pgd_with_random_start_stays_close_to_the_margin(linear):
    model, X, y, _, margin, correct = linear
    distance = critical_distance(model, X, y, "pgd", norm="l2", max_eps=50, tol=1e-3)
    ratio = distance[correct] / np.abs(margin[correct])
    # The random start leaves a component along the boundary that ten steps only
    # partly project away: the length found exceeds the margin, never undercuts it.
    assert ratio.min() >= 1 - 1e-3
    assert np.median(ratio) < 1.02
    assert ratio.max() < 1.06


def test_random_direction_critical_distance_is_margin_over_cosine(linear):
    model, X, y, unit, margin, correct = linear
    directions = random_noise(model, X, 1.0, random_state=0) - X
    cosine = directions @ unit
    towards = np.sign(cosine) == -np.sign(margin)
    expected = np.where(towards, np.abs(margin) / np.abs(cosine), np.inf)
    expected[~correct] = 0.0
    distance = critical_distance(model, X, y, "noise", max_eps=1e4, tol=1e-3, random_state=0)
    reachable = np.isfinite(expected) & (expected < 1e4)
    np.testing.assert_allclose(distance[reachable], expected[reachable], rtol=1e-3, atol=2e-3)
    assert np.all(np.isinf(distance[np.isinf(expected)]))


def test_linf_fgsm_reports_the_l2_length_of_the_perturbation(linear):
    model, X, y, unit, margin, correct = linear
    d = X.shape[1]
    # A sign step of size eps moves eps * ||w||_1 / ||w||_2 towards the boundary.
    eps_star = np.abs(margin) / np.abs(unit).sum()
    distance = critical_distance(model, X, y, "fgsm", max_eps=10, tol=1e-4)
    np.testing.assert_allclose(distance[correct], eps_star[correct] * np.sqrt(d), rtol=2e-3)


def test_out_of_reach_is_inf_and_tol_bounds_the_error(linear):
    model, X, y, _, margin, correct = linear
    distance = critical_distance(
        model, X, y, "pgd", norm="l2", max_eps=1.0, tol=0.05, random_start=False
    )
    far = correct & (np.abs(margin) > 1.0)
    assert np.all(np.isinf(distance[far]))
    near = correct & (np.abs(margin) < 0.95)
    error = distance[near] - np.abs(margin[near])
    assert np.all(error >= -1e-4) and np.all(error <= 0.05 + 1e-4)


def test_callable_attack_and_black_box_model(linear):
    model, X, y, unit, margin, correct = linear

    def shift(estimator, X, y, eps):
        towards = np.where(estimator.predict(X) == 1, -1.0, 1.0)[:, None]
        return X + eps[:, None] * towards * unit

    distance = critical_distance(model, X, y, shift, max_eps=50, tol=1e-3)
    np.testing.assert_allclose(distance[correct], np.abs(margin[correct]), atol=2e-3)
    knn = KNeighborsClassifier(n_neighbors=5).fit(X, y)
    noise = critical_distance(knn, X, y, "noise", max_eps=100, random_state=0)
    assert np.all(noise >= 0) and np.isfinite(noise).any()


def test_critical_distance_bad_input(linear):
    model, X, y, *_ = linear
    with pytest.raises(InvalidParameterError, match="'max_eps' parameter of critical_distance"):
        critical_distance(model, X, y, "pgd", max_eps=-1)
    with pytest.raises(InvalidParameterError, match=r"'tol' parameter .* < max_eps=1\."):
        critical_distance(model, X, y, "pgd", max_eps=1.0, tol=2.0)
    for rtol in (0.0, -0.1, np.inf):
        with pytest.raises(InvalidParameterError, match="'rtol' parameter of critical_distance"):
            critical_distance(model, X, y, "pgd", rtol=rtol)
    with pytest.raises(InvalidParameterError, match=r"'max_eps' parameter .* callable attack"):
        critical_distance(model, X, y, lambda est, X, y, eps: X)
    with pytest.raises(InvalidParameterError, match="'attack' parameter of critical_distance"):
        critical_distance(model, X, y, "cw")
    # The attack's keywords, checked by prepare_attack, are named as critical_distance's.
    with pytest.raises(InvalidParameterError, match="'norm' parameter of critical_distance"):
        critical_distance(model, X, y, "pgd", norm="l3")
    with pytest.raises(TypeError, match="unexpected"):
        critical_distance(model, X, y, "noise", n_iter=3)


# --------------------------------------------------------------------- accuracy curve
def test_fgsm_l2_accuracy_curve_counts_margins(linear):
    model, X, y, _, margin, correct = linear
    epsilons = [0.0, 0.5, 1.0, 2.0, 4.0]
    relative = accuracy_curve(model, X, y, "fgsm", epsilons, norm="l2")
    expected = [(np.abs(margin[correct]) > eps).mean() for eps in epsilons]
    np.testing.assert_allclose(relative.accuracy, expected)
    assert list(relative.columns) == ["attack", "eps", "accuracy", "n"]
    assert (relative.attack == "fgsm").all() and (relative.n == correct.sum()).all()
    absolute = accuracy_curve(model, X, y, "fgsm", epsilons, relative=False, norm="l2")
    expected = [(correct & (np.abs(margin) > eps)).mean() for eps in epsilons]
    np.testing.assert_allclose(absolute.accuracy, expected)
    assert (absolute.n == len(X)).all()


def test_automatic_grid_is_logarithmic_and_stops_when_saturated(linear):
    model, X, y, *_ = linear
    curve = accuracy_curve(model, X, y, "pgd", norm="l2", random_state=0)
    ratios = curve.eps.to_numpy()[1:] / curve.eps.to_numpy()[:-1]
    np.testing.assert_allclose(ratios, 10**0.25)
    assert curve.accuracy.iloc[0] == 1.0 and curve.accuracy.iloc[-1] == 0.0
    assert (np.diff(curve.accuracy) <= 0).all()
    noise = accuracy_curve(model, X, y, "noise", random_state=0)
    # Noise saturates above 0 (half the directions point away from the boundary).
    tail = noise.accuracy.to_numpy()[-4:]
    assert 0.2 < tail[-1] < 0.8 and np.ptp(tail) < 0.005
    assert len(noise) < 48


def test_accuracy_curve_is_a_dataframe_with_the_same_noise_for_each_eps(linear):
    model, X, y, *_ = linear
    once = accuracy_curve(model, X, y, "noise", [1.0, 3.0], random_state=0)
    split = pd.concat(
        [accuracy_curve(model, X, y, "noise", [eps], random_state=0) for eps in (1.0, 3.0)],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(once, split)


def test_accuracy_curve_bad_input(linear, capsys):
    model, X, y, *_ = linear
    with pytest.raises(ValueError, match="epsilons must be finite and >= 0"):
        accuracy_curve(model, X, y, "fgsm", [0.1, -0.1])
    with pytest.raises(InvalidParameterError, match="'epsilons' parameter of accuracy_curve"):
        accuracy_curve(model, X, y, "fgsm", 0.1)
    with pytest.raises(InvalidParameterError, match="'n_iter' parameter of accuracy_curve"):
        accuracy_curve(model, X, y, "pgd", [0.1], n_iter=0)
    with pytest.raises(ValueError, match="one label per row"):
        accuracy_curve(model, X, y[:10], "fgsm", [0.1])
    accuracy_curve(model, X, y, "fgsm", [0.1], verbose=1)
    assert "fgsm eps=0.1" in capsys.readouterr().out
