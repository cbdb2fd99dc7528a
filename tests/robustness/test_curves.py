"""Tests for sklearn_robust.robustness.curves (accuracy_curve, critical_distance)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_robust.robustness import accuracy_curve, critical_distance, random_noise


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


# ------------------------------------------------------------------ critical distance
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
