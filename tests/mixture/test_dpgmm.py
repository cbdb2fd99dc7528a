"""Tests for sklearn_robust.DPGMMClassDensity."""

import pickle

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score

from sklearn_robust import DPGMMClassDensity
from sklearn_robust.mixture._sampler import SubClusterSampler

from ..conftest import cuda, interrupt_second_call


def _clusters(n, d, n_clusters=5, spread=6.0, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, d)) * spread
    truth = rng.integers(n_clusters, size=n)
    return centres[truth] + rng.normal(size=(n, d)), truth, centres


def _true_log_density(X, centres, weights):
    d = centres.shape[1]
    per_cluster = [multivariate_normal(c, np.eye(d)).logpdf(X) for c in centres]
    return logsumexp(np.stack(per_cluster, axis=1) + np.log(weights), axis=1)


@pytest.fixture(scope="module")
def five_clusters():
    """Five well-separated unit Gaussians, d=16, n=2000: one class."""
    X, truth, centres = _clusters(2000, 16)
    model = DPGMMClassDensity(n_iter=150, burn_in=100, thin=5, random_state=0, device="cpu")
    model.fit(X, np.zeros(len(X), dtype=int))
    return model, X, truth, centres


def test_finds_the_five_clusters(five_clusters):
    model, _, truth, _ = five_clusters
    assert model.n_clusters_[0] == 5
    assert adjusted_rand_score(truth, model.component_labels_[0]) >= 0.95
    assert len(np.unique(model.component_labels_[0])) == model.n_clusters_[0]
    assert model.n_clusters_trace_.shape == model.alpha_trace_.shape == (1, 150)
    assert np.all(model.alpha_trace_ > 0) and np.all(np.isfinite(model.log_likelihood_trace_))
    assert model.n_states_ == 10


def test_held_out_log_likelihood_near_the_true_density(five_clusters):
    model, _, truth, centres = five_clusters
    rng = np.random.default_rng(1)
    weights = np.bincount(truth, minlength=5) / len(truth)
    labels = rng.choice(5, size=1000, p=weights)
    X_test = centres[labels] + rng.normal(size=(1000, 16))
    ours = model.score(X_test, np.zeros(1000, dtype=int))
    truth_score = _true_log_density(X_test, centres, weights).mean()
    assert abs(ours - truth_score) < 0.5


@pytest.mark.parametrize("reference", ["full", "diagonal"])
def test_kl_matches_the_true_mixtures(five_clusters, reference):
    """KL to the max-entropy Gaussian of the data's moments, against Monte Carlo under the truth."""
    model, X, truth, centres = five_clusters
    rng = np.random.default_rng(2)
    weights = np.bincount(truth, minlength=5) / len(truth)
    draws = centres[rng.choice(5, size=100_000, p=weights)] + rng.normal(size=(100_000, 16))
    covariance = np.cov(X, rowvar=False, ddof=0)
    if reference == "diagonal":
        covariance = np.diag(np.diag(covariance))
    reference_density = multivariate_normal(X.mean(axis=0), covariance).logpdf(draws)
    expected = np.mean(_true_log_density(draws, centres, weights) - reference_density)
    got = model.kl_to_max_entropy(reference, n_samples=2000, random_state=0)
    assert got.shape == (1,)
    assert got[0] == pytest.approx(expected, rel=0.10)


def test_one_gaussian_has_kl_near_zero():
    rng = np.random.default_rng(3)
    # correlated but well conditioned (the prior's diagonal scale would dominate a
    # near-singular direction, as it should: n = 1500 rows cannot pin down 1e-3 variances)
    mixing = np.eye(6) + 0.3 * rng.normal(size=(6, 6))
    X = rng.normal(size=(1500, 6)) @ mixing
    model = DPGMMClassDensity(n_iter=60, burn_in=40, random_state=0, device="cpu")
    model.fit(X, np.zeros(len(X), dtype=int))
    assert model.n_clusters_[0] == 1
    kl_full = model.kl_to_max_entropy("full", random_state=0)[0]
    assert abs(kl_full) < 0.05
    # the diagonal reference ignores the correlations: KL = -1/2 log|corr| for a Gaussian
    covariance = np.cov(X, rowvar=False, ddof=0)
    std = np.sqrt(np.diag(covariance))
    expected = -0.5 * np.linalg.slogdet(covariance / np.outer(std, std))[1]
    got = model.kl_to_max_entropy("diagonal", random_state=0)[0]
    assert got == pytest.approx(expected, rel=0.05, abs=0.05)


@pytest.fixture(scope="module")
def two_classes():
    rng = np.random.default_rng(4)
    X = np.concatenate([rng.normal(0, 1, (150, 4)), rng.normal(3, 1, (120, 4))])
    y = np.repeat(["a", "b"], [150, 120])
    model = DPGMMClassDensity(n_iter=40, burn_in=30, random_state=0, device="cpu").fit(X, y)
    return model, X, y


def test_generative_classifier(two_classes):
    model, X, y = two_classes
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(model.predict(X), model.classes_[proba.argmax(axis=1)])
    assert np.mean(model.predict(X) == y) > 0.9
    np.testing.assert_allclose(np.exp(model.predict_log_proba(X)), proba)
    np.testing.assert_allclose(model.class_prior_, [150 / 270, 120 / 270])
    # Bayes' rule by hand
    joint = model.class_log_density(X) + np.log(model.class_prior_)
    np.testing.assert_allclose(proba, np.exp(joint - logsumexp(joint, axis=1, keepdims=True)))


def test_densities_agree_with_each_other(two_classes):
    model, X, y = two_classes
    matrix = model.class_log_density(X)
    assert matrix.shape == (len(X), 2)
    given = model.log_density(X, y)
    np.testing.assert_allclose(given, matrix[np.arange(len(X)), (y == "b").astype(int)])
    predicted = model.predict(X)
    np.testing.assert_allclose(model.score_samples(X), model.log_density(X, predicted))
    assert model.score(X, y) == pytest.approx(given.mean())
    # Jensen: the log of the mean over states is at least the mean of the logs
    log_mean = model.set_params(state_averaging="log_mean").class_log_density(X)
    model.set_params(state_averaging="mean_log")
    assert np.all(log_mean >= matrix - 1e-9)


def test_reproducible_and_pickles(two_classes):
    model, X, y = two_classes
    again = DPGMMClassDensity(n_iter=40, burn_in=30, random_state=0, device="cpu").fit(X, y)
    np.testing.assert_array_equal(again.class_log_density(X), model.class_log_density(X))
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.predict_proba(X), model.predict_proba(X))


def test_pca_reduction_and_class_prior():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(80, 10))
    y = np.repeat([0, 1], 40)
    X[y == 1] += 2.0
    model = DPGMMClassDensity(
        n_components=3, n_iter=20, burn_in=10, class_prior=[0.9, 0.1], random_state=0
    ).fit(X, y)
    assert model.pca_.n_components_ == 3 and model.class_means_.shape == (2, 3)
    np.testing.assert_allclose(model.class_prior_, [0.9, 0.1])
    assert np.all(np.isfinite(model.class_log_density(X)))


def test_more_dimensions_than_rows_and_constant_columns():
    """The prior keeps every posterior well defined: finite densities, documented floor."""
    rng = np.random.default_rng(6)
    X = rng.normal(size=(12, 20))
    X[:, 3] = 7.0  # constant column
    y = np.repeat([0, 1], 6)
    model = DPGMMClassDensity(n_iter=20, burn_in=10, random_state=0).fit(X, y)
    density = model.class_log_density(X)
    assert np.all(np.isfinite(density))
    assert np.all(np.isfinite(model.kl_to_max_entropy("diagonal", n_samples=50)))
    with pytest.raises(ValueError, match="singular"):
        model.kl_to_max_entropy("full", n_samples=50)


@pytest.mark.parametrize(
    "params, X, y, match",
    [
        ({}, np.zeros((5, 2)), np.array([0, 0, 0, 0, 1]), "at least 2 rows"),
        ({}, np.array([[0.0, np.nan], [1, 2], [3, 4]]), np.array([0, 0, 0]), "NaN"),
        ({"n_iter": 10, "burn_in": 10}, np.eye(4), np.zeros(4), "burn_in must be smaller"),
        ({"n_components": 5}, np.eye(4), np.zeros(4), "n_components=5"),
        ({"class_prior": [0.5, 0.6]}, np.eye(4), np.array([0, 0, 1, 1]), "class_prior"),
        ({"nu0": 0.5}, np.eye(4), np.zeros(4), "nu0"),
        ({"thin": 0}, np.eye(4), np.zeros(4), "thin"),
        ({"state_averaging": "median"}, np.eye(4), np.zeros(4), "state_averaging"),
    ],
)
def test_bad_input(params, X, y, match):
    with pytest.raises(ValueError, match=match):
        DPGMMClassDensity(**params).fit(X, y)


def test_bad_use_after_fit(two_classes):
    model, X, _ = two_classes
    with pytest.raises(ValueError, match="labels the estimator does not know"):
        model.log_density(X[:2], ["a", "z"])
    with pytest.raises(ValueError, match="shape"):
        model.log_density(X[:2], ["a"])
    with pytest.raises(ValueError, match=r"'reference' parameter of DPGMMClassDensity\.kl_to"):
        model.kl_to_max_entropy("spherical")
    with pytest.raises(ValueError, match=r"'n_samples' parameter .* range \[1, inf\)"):
        model.kl_to_max_entropy(n_samples=0)
    with pytest.raises(ValueError, match="'include_new_component' parameter"):
        model.kl_to_max_entropy(include_new_component="yes")
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :2])


def test_unfitted():
    with pytest.raises(NotFittedError):
        DPGMMClassDensity().predict(np.zeros((2, 2)))


@cuda
def test_cpu_and_cuda_agree(two_classes):
    _, X, y = two_classes
    params = dict(n_iter=40, burn_in=30, random_state=0)
    cpu = DPGMMClassDensity(**params, device="cpu").fit(X, y)
    gpu = DPGMMClassDensity(**params, device="cuda").fit(X, y)
    np.testing.assert_array_equal(gpu.n_clusters_, cpu.n_clusters_)
    np.testing.assert_allclose(gpu.class_log_density(X), cpu.class_log_density(X), rtol=1e-6)


def test_interrupted_fit_leaves_no_fitted_model(monkeypatch):
    rng = np.random.default_rng(7)
    X, y = rng.normal(size=(60, 3)), np.repeat([0, 1], 30)
    model = DPGMMClassDensity(n_components=2, n_iter=10, burn_in=5, random_state=0, device="cpu")
    calls = interrupt_second_call(monkeypatch, SubClusterSampler, "sweep")
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, y)
    assert len(calls) == 2
    with pytest.raises(NotFittedError):
        model.predict(X)
    assert vars(model).keys() == vars(DPGMMClassDensity()).keys()  # no fitted attribute at all


def test_interrupted_refit_keeps_the_previous_model(monkeypatch):
    rng = np.random.default_rng(7)
    X, y = rng.normal(size=(60, 3)), np.repeat([0, 1], 30)
    model = DPGMMClassDensity(n_iter=10, burn_in=5, random_state=0, device="cpu").fit(X, y)
    before = pickle.dumps(model)
    interrupt_second_call(monkeypatch, SubClusterSampler, "sweep")
    with pytest.raises(KeyboardInterrupt):
        model.fit(X[:40, :2] * 3.0, np.repeat(["a", "b"], 20))
    assert pickle.dumps(model) == before


def test_float64_values_beyond_float32_are_computed_not_refused():
    """The model computes in float64: data at 1e39 is fitted as the data at 1, rescaled
    (densities shift by -d log c), rather than refused as by the float32 estimators."""
    rng = np.random.default_rng(8)
    X = np.concatenate([rng.normal(0, 1, (50, 3)), rng.normal(5, 1, (50, 3))])
    y = np.repeat([0, 1], 50)
    params = dict(n_iter=20, burn_in=10, random_state=0, device="cpu")
    plain = DPGMMClassDensity(**params).fit(X, y)
    scaled = DPGMMClassDensity(**params).fit(X * 1e39, y)
    np.testing.assert_array_equal(scaled.predict(X * 1e39), plain.predict(X))
    np.testing.assert_array_equal(scaled.n_clusters_, plain.n_clusters_)
    assert scaled.score(X * 1e39, y) + 3 * np.log(1e39) == pytest.approx(plain.score(X, y))
