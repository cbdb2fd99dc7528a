"""Randomized smoothing against the exact radii of a linear classifier and a reference loop."""

import numpy as np
import pytest
from scipy.stats import beta, norm
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_robust.robustness import certify, smoothed_predict

SIGMA = 0.5
N_FEATURES = 5
ALPHA = 0.001
# Signed distances to the boundary, in units of sigma: the smoothed linear
# classifier's top-class probability is Phi(|t|), so its true radius is |t| sigma.
T = np.array([-2.5, -2, -1.5, -1, -0.75, -0.5, -0.3, -0.2, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 2.5])
FLOAT_TOL = 1e-5  # float32 forward passes against float64 margins


def blobs(n_classes=2, n_per_class=100, seed=0):
    rng = np.random.default_rng(seed)
    centers = 2 * rng.normal(size=(n_classes, N_FEATURES))
    X = np.vstack([rng.normal(c, 1.0, (n_per_class, N_FEATURES)) for c in centers])
    return X, np.repeat(np.arange(n_classes), n_per_class)


@pytest.fixture(scope="module")
def linear():
    return LogisticRegression().fit(*blobs())


def hyperplane(model):
    """(w, b) of a binary model whose decision function is affine (LR, scaler + LR)."""
    offset = model.decision_function(np.zeros((1, N_FEATURES)))[0]
    w = model.decision_function(np.eye(N_FEATURES)) - offset
    return w, offset


def signed_margin(model, X):
    w, b = hyperplane(model)
    return (X @ w + b) / np.linalg.norm(w)


def points_at(model, distances, seed=1):
    """Points at the given signed L2 distances from the boundary, spread along it."""
    w, b = hyperplane(model)
    unit = w / np.linalg.norm(w)
    spread = np.random.default_rng(seed).normal(size=(len(distances), N_FEATURES))
    spread -= np.outer(spread @ unit, unit)
    return -b * unit / np.linalg.norm(w) + spread + np.outer(distances, unit)


def expected_radius(t, n, alpha=ALPHA):
    """Radius CERTIFY returns for true margin |t| sigma when nA hits its mean n Phi(|t|)."""
    n_top = n * norm.cdf(np.abs(t))
    return SIGMA * norm.ppf(beta.ppf(alpha, n_top, n - n_top + 1))


def radius_sd(t, n):
    """Sampling sd of the radius: sd of nA / n through the slope of sigma Phi^-1."""
    p = norm.cdf(np.abs(t))
    return SIGMA * np.sqrt(p * (1 - p) / n) / norm.pdf(norm.ppf(p))


# ------------------------------------------------------------------ the linear oracle


def test_radii_approach_the_linear_margin_from_below(linear):
    X = points_at(linear, T * SIGMA)
    margin = np.abs(signed_margin(linear, X))
    assert np.allclose(margin, np.abs(T) * SIGMA)
    gaps = []
    for n in (1_000, 10_000, 100_000):
        labels, radii = certify(linear, X, SIGMA, n=n, random_state=0)
        assert np.all(radii <= margin + FLOAT_TOL)
        certified = labels != -1
        assert np.array_equal(labels[certified], linear.predict(X)[certified])
        assert np.all(radii[~certified] == 0)
        gaps.append(np.mean(margin - radii))
    assert gaps[0] > gaps[1] > gaps[2] > 0
    assert certified.all()
    # At n = 1e5 the bound costs pA about 3.1 sd = 0.005, which is under 3% of the
    # radius from t = 0.5 to 2 (near t = 0 it is a larger share of a small radius).
    middle = (np.abs(T) >= 0.5) & (np.abs(T) <= 2)
    assert np.all(radii[middle] >= 0.95 * margin[middle])
    # Sharper: each radius is the Clopper-Pearson radius at the true pA, up to sampling noise.
    assert np.all(np.abs(radii - expected_radius(T, n)) <= 4 * radius_sd(T, n))


def test_points_on_the_boundary_abstain(linear):
    X = points_at(linear, np.zeros(6))
    labels, radii = certify(linear, X, SIGMA, n=10_000, random_state=0)
    assert np.all(labels == -1) and np.all(radii == 0)
    assert np.all(smoothed_predict(linear, X, SIGMA, n=10_000, random_state=0) == -1)


def test_unanimous_votes_give_the_largest_radius_of_the_bound(linear):
    # With nA = n the bound is alpha^(1/n): a one-sided interval at level alpha, not alpha/2.
    X = points_at(linear, np.array([-20.0, 20.0]) * SIGMA)
    for n, alpha in [(1_000, 0.001), (300, 0.05)]:
        labels, radii = certify(linear, X, SIGMA, n=n, alpha=alpha, random_state=0)
        assert labels.tolist() == [0, 1]
        assert np.allclose(radii, SIGMA * norm.ppf(alpha ** (1 / n)), rtol=1e-12)


def test_smoothed_predict_test_is_two_sided(linear):
    # n unanimous votes: p-value 2 * 0.5^n, above alpha = 0.001 for n = 10, below for n = 11.
    X = points_at(linear, np.array([20.0]) * SIGMA)
    assert smoothed_predict(linear, X, SIGMA, n=10, random_state=0).tolist() == [-1]
    assert smoothed_predict(linear, X, SIGMA, n=11, random_state=0).tolist() == [1]


def test_smoothed_predict_agrees_with_the_base_model_and_with_certify(linear):
    t = np.concatenate([T, np.zeros(4)])
    X = points_at(linear, t * SIGMA)
    far = np.abs(t) >= 0.3
    labels = smoothed_predict(linear, X, SIGMA, n=10_000, random_state=0)
    assert np.array_equal(labels[far], linear.predict(X)[far])
    assert np.all(labels[t == 0] == -1)
    certified, _ = certify(linear, X, SIGMA, n=10_000, random_state=1)
    both = (labels != -1) & (certified != -1)
    assert both.sum() >= far.sum()
    assert np.array_equal(labels[both], certified[both])


# ------------------------------------------------------------------ any classifier


def test_pipeline_keeps_the_linear_oracle():
    X_train, y = blobs()
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X_train * 3 + 1, y)
    X = points_at(pipe, T * SIGMA)
    margin = np.abs(signed_margin(pipe, X))
    labels, radii = certify(pipe, X, SIGMA, n=10_000, random_state=0)
    assert np.all(radii <= margin + FLOAT_TOL)
    assert np.array_equal(labels, pipe.predict(X))
    assert np.all(radii[np.abs(T) >= 0.5] >= 0.9 * margin[np.abs(T) >= 0.5])


@pytest.mark.parametrize(
    "model",
    [KNeighborsClassifier(5), make_pipeline(StandardScaler(), KNeighborsClassifier(5))],
    ids=["knn", "scaler+knn"],
)
def test_non_differentiable_classifiers(model):
    X_train, y = blobs(n_classes=3)
    model.fit(X_train, y)
    centers = np.vstack([X_train[y == c].mean(axis=0) for c in range(3)])
    labels, radii = certify(model, centers, SIGMA, n=1_000, random_state=0)
    assert labels.tolist() == [0, 1, 2]
    assert np.all(radii > 0.5 * SIGMA)
    assert smoothed_predict(model, centers, SIGMA, n=1_000, random_state=0).tolist() == [0, 1, 2]


class SignOfFirstFeature(ClassifierMixin, BaseEstimator):
    """Class 1 where x0 > 0, recording the size of every batch it predicts."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.n_features_in_ = np.shape(X)[1]
        self.batches_ = []
        return self

    def predict(self, X):
        self.batches_.append(len(X))
        return self.classes_[(X[:, 0] > 0).astype(int)]


@pytest.mark.parametrize("batch_size", [7, 64, 1000])
def test_forward_passes_hold_at_most_batch_size_inputs(batch_size):
    X = np.array([[20.0, 0.0], [-20.0, 1.0], [0.0, 0.0], [30.0, 2.0], [-0.3, 0.0]])
    model = SignOfFirstFeature().fit(X, [0, 1, 0, 1, 0])
    labels, radii = certify(model, X, 1.0, n0=10, n=50, batch_size=batch_size, random_state=0)
    assert max(model.batches_) <= batch_size
    assert sum(model.batches_) == len(X) * (10 + 50)
    assert labels[:2].tolist() == [1, 0] and labels[2] == -1
    assert np.allclose(radii[[0, 1, 3]], norm.ppf(ALPHA ** (1 / 50)))


def test_one_class_needs_no_runner_up():
    model = DummyClassifier().fit(np.zeros((3, 2)), [4, 4, 4])
    assert smoothed_predict(model, np.zeros((2, 2)), 1.0, n=100).tolist() == [4, 4]


# ------------------------------------------------------------------ labels and randomness


def test_string_labels_and_abstain_none():
    X_train, y = blobs()
    model = LogisticRegression().fit(X_train, np.array(["cat", "dog"])[y])
    X = points_at(model, np.array([-2.0, 0.0, 2.0]) * SIGMA)
    labels, radii = certify(model, X, SIGMA, n=2_000, abstain=None, random_state=0)
    assert labels.dtype == object and labels.tolist() == ["cat", None, "dog"]
    assert radii[1] == 0 and np.all(radii[[0, 2]] > 0)
    labels = smoothed_predict(model, X, SIGMA, n=2_000, random_state=0)
    assert labels.dtype == object and labels.tolist() == ["cat", -1, "dog"]  # not "-1"


def test_integer_labels_stay_integers(linear):
    labels, _ = certify(linear, points_at(linear, np.zeros(1)), SIGMA, n=100, random_state=0)
    assert labels.dtype.kind == "i" and labels.tolist() == [-1]


def test_random_state_reproduces_and_seeds_differ(linear):
    X = points_at(linear, T * SIGMA)
    first = certify(linear, X, SIGMA, n=2_000, random_state=3)
    again = certify(linear, X, SIGMA, n=2_000, random_state=3)
    other = certify(linear, X, SIGMA, n=2_000, random_state=4)
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])
    assert np.max(np.abs(first[1] - other[1])) < 0.2 * SIGMA


def test_verbose_reports_chunks_of_examples(linear, capsys):
    X = points_at(linear, T[:5] * SIGMA)
    certify(linear, X, SIGMA, n0=10, n=100, batch_size=200, verbose=1, random_state=0)
    assert capsys.readouterr().out.splitlines() == [
        "[certify] 2/5 examples",
        "[certify] 4/5 examples",
        "[certify] 5/5 examples",
    ]


# ------------------------------------------------------------------ the reference loop


def reference_certify(model, X, sigma, n0, n, alpha, rng):
    """Cohen et al.'s CERTIFY, one example at a time, in NumPy."""
    classes = list(model.classes_)
    labels, radii = [], []
    for x in X:
        selection = model.predict(x + sigma * rng.normal(size=(n0, x.size)))
        top = np.bincount([classes.index(c) for c in selection], minlength=len(classes)).argmax()
        votes = model.predict(x + sigma * rng.normal(size=(n, x.size)))
        n_top = int(np.sum(votes == classes[top]))
        p_lower = beta.ppf(alpha, n_top, n - n_top + 1) if n_top else 0.0
        labels.append(classes[top] if p_lower >= 0.5 else -1)
        radii.append(sigma * norm.ppf(p_lower) if p_lower >= 0.5 else 0.0)
    return np.array(labels), np.array(radii)


def test_agrees_with_a_reference_loop():
    X, y = blobs(n_classes=3, n_per_class=110, seed=2)
    test = np.arange(len(X)) % 11 == 0
    model = LogisticRegression().fit(X[~test], y[~test])
    X_test, y_test = X[test], y[test]
    sigma = 1.0  # spreads the 30 radii over 0 to the cap of 2.7 sigma
    settings = dict(n0=100, n=2_000, alpha=ALPHA)
    labels, radii = certify(model, X_test, sigma, random_state=0, **settings)
    ref_labels, ref_radii = reference_certify(
        model, X_test, sigma, rng=np.random.default_rng(0), **settings
    )
    # The two cannot share noise. At n = 2000 a radius's sampling sd is at most
    # ~0.1 sigma (pA just under the cap alpha^(1/n) = 0.9966, beyond which the
    # radius is exactly 2.70 sigma), so the mean of 30 differences of independent
    # runs has sd <= sqrt(2) 0.1 sigma / sqrt(30) ~ 0.026 sigma: 0.1 sigma is 4 sd.
    assert abs(radii.mean() - ref_radii.mean()) < 0.1 * sigma
    # Only examples whose bound sits within noise of a threshold can change side;
    # 30 examples spread over margins 0 to 3 sigma leave one or two there.
    for radius in (0.0, sigma / 2, sigma):
        ours = np.mean((labels == y_test) & (radii >= radius) & (labels != -1))
        ref = np.mean((ref_labels == y_test) & (ref_radii >= radius) & (ref_labels != -1))
        assert abs(ours - ref) <= 3 / 30
    assert np.mean(labels == ref_labels) >= 0.9


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(sigma=0.0), "sigma"),
        (dict(sigma=-1.0), "sigma"),
        (dict(sigma=np.inf), "sigma"),
        (dict(alpha=0.0), "alpha"),
        (dict(alpha=1.0), "alpha"),
        (dict(n=0), "n"),
        (dict(n=10.5), "n"),
        (dict(n0=0), "n0"),
        (dict(batch_size=0), "batch_size"),
        (dict(verbose=-1), "verbose"),
        (dict(random_state=-1), "random_state"),
    ],
)
def test_bad_parameters_raise(linear, kwargs, name):
    call = dict(X=np.zeros((2, N_FEATURES)), sigma=SIGMA, n=10) | kwargs
    n0 = call.pop("n0", 5)
    with pytest.raises(InvalidParameterError, match=f"The '{name}' parameter of certify must be"):
        certify(linear, n0=n0, **call)
    if "n0" not in kwargs:
        match = f"The '{name}' parameter of smoothed_predict must be"
        with pytest.raises(InvalidParameterError, match=match):
            smoothed_predict(linear, **call)


def test_abstain_among_the_classes_raises(linear):
    for function in (certify, smoothed_predict):
        with pytest.raises(ValueError, match="abstain=1 is one of the estimator's classes"):
            function(linear, np.zeros((2, N_FEATURES)), SIGMA, n=10, abstain=1)


@pytest.mark.parametrize("function", [certify, smoothed_predict])
def test_bad_inputs_raise(linear, function):
    X = np.zeros((2, N_FEATURES))
    X[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        function(linear, X, SIGMA, n=10)
    with pytest.raises(ValueError, match="features"):
        function(linear, np.zeros((2, N_FEATURES + 1)), SIGMA, n=10)
    with pytest.raises(NotFittedError):
        function(LogisticRegression(), np.zeros((2, N_FEATURES)), SIGMA, n=10)


def test_abstain_colliding_with_a_string_class_raises():
    model = LogisticRegression().fit(np.array([[-1.0], [1.0]]), ["a", "none"])
    with pytest.raises(ValueError, match="abstain=None"):
        certify(model, [[0.0]], 1.0, n=10, abstain="none")
