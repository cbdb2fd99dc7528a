"""Tests for sklearn_robust.robustness.scorers."""

import pickle

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_robust import RobustNetClassifier
from sklearn_robust.datasets import load_digits
from sklearn_robust.robustness import (
    certified_accuracy_scorer,
    certify,
    critical_distance,
    critical_distance_scorer,
    pgd,
    robust_accuracy_scorer,
)


@pytest.fixture(scope="module")
def blobs():
    return make_blobs(240, n_features=5, centers=3, cluster_std=3.0, random_state=0)


def model():
    return make_pipeline(StandardScaler(), LogisticRegression())


def test_robust_accuracy_scorer_matches_the_attack(blobs):
    X, y = blobs
    fitted = model().fit(X, y)
    scorer = robust_accuracy_scorer("pgd", eps=0.5, norm="l2")
    X_adv = pgd(fitted, X, y, 0.5, norm="l2", random_state=0)
    assert scorer(fitted, X, y) == pytest.approx((fitted.predict(X_adv) == y).mean())
    relative = robust_accuracy_scorer("pgd", eps=0.5, relative=True, norm="l2")
    correct = fitted.predict(X) == y
    expected = (fitted.predict(X_adv) == y)[correct].mean()
    assert relative(fitted, X, y) == pytest.approx(expected)
    weights = np.where(y == 0, 3.0, 1.0)
    expected = np.average(fitted.predict(X_adv) == y, weights=weights)
    assert scorer(fitted, X, y, sample_weight=weights) == pytest.approx(expected)


def test_cross_val_score_with_a_robust_scorer(blobs):
    X, y = blobs
    cv = KFold(3, shuffle=True, random_state=0)
    scorer = robust_accuracy_scorer("fgsm", eps=1.5)
    scores = cross_val_score(model(), X, y, scoring=scorer, cv=cv)
    for score, (train, test) in zip(scores, cv.split(X), strict=True):
        fitted = model().fit(X[train], y[train])
        assert score == pytest.approx(scorer(fitted, X[test], y[test]))
    clean = cross_val_score(model(), X, y, cv=cv)
    assert np.all(scores <= clean) and scores.mean() < clean.mean() - 0.05


def test_grid_search_with_several_robust_metrics_in_parallel(blobs):
    X, y = blobs
    scoring = {
        "acc": "accuracy",
        "pgd": robust_accuracy_scorer("pgd", eps=0.5, norm="l2"),
        "critical": critical_distance_scorer("pgd", norm="l2", max_eps=10.0),
    }
    grid = {"logisticregression__C": [0.01, 1.0]}
    results = {}
    for n_jobs in (1, 2):
        search = GridSearchCV(model(), grid, scoring=scoring, refit="acc", cv=3, n_jobs=n_jobs)
        results[n_jobs] = search.fit(X, y).cv_results_
    for key in ("mean_test_acc", "mean_test_pgd", "mean_test_critical"):
        np.testing.assert_allclose(results[1][key], results[2][key])
    # Stronger regularisation (C=0.01) shrinks the weights: larger margins in input space.
    assert results[1]["mean_test_critical"][0] != results[1]["mean_test_critical"][1]


def test_the_readme_critical_distance_scorer_tells_regularisations_apart():
    # The README's scorer: a fixed max_eps of 10 on digits whose margins are near 0.1.
    X, y = load_digits(return_X_y=True)
    X_train, X, y_train, y = train_test_split(X, y, test_size=300, random_state=0)
    scorer = critical_distance_scorer("pgd", norm="l2", max_eps=10.0)
    scores = [
        scorer(
            make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000)).fit(
                X_train, y_train
            ),
            X,
            y,
        )
        for C in (0.01, 100.0)
    ]
    # With the absolute tol = max_eps / 50 of before, both medians were 10 / 64.
    assert scores[0] > 1.1 * scores[1] and 10 / 64 not in np.round(scores, 6)


def test_critical_distance_scorer_is_the_median_over_correct_examples(blobs):
    X, y = blobs
    fitted = model().fit(X, y)
    distances = critical_distance(fitted, X, y, "noise", max_eps=50.0, random_state=0)
    correct = distances > 0
    median = critical_distance_scorer("noise", max_eps=50.0)
    assert median(fitted, X, y) == pytest.approx(np.median(distances[correct]))
    quantile = critical_distance_scorer(
        "noise", statistic=lambda d: np.quantile(d, 0.25), max_eps=50.0
    )
    assert quantile(fitted, X, y) == pytest.approx(np.quantile(distances[correct], 0.25))


def test_certified_accuracy_scorer_matches_certify(blobs):
    X, y = blobs
    fitted = model().fit(X, y)
    scorer = certified_accuracy_scorer(sigma=0.5, radius=0.25, n=500)
    labels, radii = certify(fitted, X, 0.5, n=500, random_state=0)
    expected = np.mean((labels == y) & (radii >= 0.25))
    assert scorer(fitted, X, y) == pytest.approx(expected)
    assert 0 < expected < 1


def test_scorers_on_a_torch_classifier():
    X, y = load_digits(return_X_y=True)
    net = RobustNetClassifier(max_epochs=3, device="cpu", random_state=0)
    scores = cross_val_score(
        net, X[:600], y[:600], cv=2, scoring=robust_accuracy_scorer("pgd", 0.05)
    )
    assert np.all((scores >= 0) & (scores <= 1))


def test_repr_and_pickle():
    scorer = robust_accuracy_scorer("pgd", eps=0.1, norm="l2", n_iter=20)
    assert repr(scorer) == (
        "robust_accuracy_scorer(attack='pgd', eps=0.1, relative=False, random_state=0, "
        "norm='l2', n_iter=20)"
    )
    assert repr(pickle.loads(pickle.dumps(scorer))) == repr(scorer)
    assert "critical_distance_scorer(attack='fgsm'" in repr(critical_distance_scorer("fgsm"))


def test_bad_parameters_raise_at_construction():
    with pytest.raises(InvalidParameterError, match="'eps' parameter of robust_accuracy_scorer"):
        robust_accuracy_scorer("pgd", eps=-1)
    with pytest.raises(InvalidParameterError, match="'statistic' parameter of critical_distance_s"):
        critical_distance_scorer("pgd", statistic="mode")
    with pytest.raises(InvalidParameterError, match="'sigma' parameter of certified_accuracy_s"):
        certified_accuracy_scorer(sigma=0.0, radius=0.5)
    with pytest.raises(InvalidParameterError, match="'radius' parameter of certified_accuracy_s"):
        certified_accuracy_scorer(sigma=0.5, radius=-0.5)


def _shift(estimator, X, y, eps, strength=1.0):
    """A callable attack with a keyword of its own."""
    return X + strength * eps[:, None]


@pytest.mark.parametrize(
    ("factory", "kwargs", "name"),
    [
        (robust_accuracy_scorer, dict(attack="nosuch", eps=0.1), "attack"),
        (robust_accuracy_scorer, dict(attack="pgd", eps=0.1, norm="l3"), "norm"),
        (robust_accuracy_scorer, dict(attack="pgd", eps=0.1, n_iter=0), "n_iter"),
        (robust_accuracy_scorer, dict(attack="pgd", eps=0.1, step_size=-1.0), "step_size"),
        (robust_accuracy_scorer, dict(attack="pgd", eps=0.1, step_size=np.nan), "step_size"),
        (robust_accuracy_scorer, dict(attack="pgd", eps=0.1, random_start="no"), "random_start"),
        (robust_accuracy_scorer, dict(attack="pgd", eps=0.1, clip=(1, 0)), "clip"),
        (robust_accuracy_scorer, dict(attack="fgsm", eps=0.1, batch_size=0), "batch_size"),
        (robust_accuracy_scorer, dict(attack="noise", eps=0.1, random_state=-1), "random_state"),
        (robust_accuracy_scorer, dict(attack="pgd", eps=np.inf), "eps"),
        (robust_accuracy_scorer, dict(attack="pgd", eps=0.1, relative="yes"), "relative"),
        (robust_accuracy_scorer, dict(attack=_shift, eps=0.1, batch_size=0), "batch_size"),
        (critical_distance_scorer, dict(attack="nosuch"), "attack"),
        (critical_distance_scorer, dict(attack="pgd", max_eps=-1), "max_eps"),
        (critical_distance_scorer, dict(attack="pgd", max_eps=np.inf), "max_eps"),
        (critical_distance_scorer, dict(attack="pgd", tol=0.0), "tol"),
        (critical_distance_scorer, dict(attack="pgd", max_eps=1.0, tol=2.0), "tol"),
        (critical_distance_scorer, dict(attack="pgd", rtol=0.0), "rtol"),
        (critical_distance_scorer, dict(attack="pgd", rtol=np.inf), "rtol"),
        (critical_distance_scorer, dict(attack="pgd", norm="l3"), "norm"),
        (critical_distance_scorer, dict(attack="noise", batch_size=0), "batch_size"),
        (critical_distance_scorer, dict(attack=_shift), "max_eps"),
        (certified_accuracy_scorer, dict(sigma=0.5, radius=0.1, n=0), "n"),
        (certified_accuracy_scorer, dict(sigma=0.5, radius=0.1, n0=0), "n0"),
        (certified_accuracy_scorer, dict(sigma=0.5, radius=0.1, verbose=-1), "verbose"),
        (critical_distance_scorer, dict(attack="pgd", verbose="loud"), "verbose"),
        (certified_accuracy_scorer, dict(sigma=0.5, radius=0.1, n=10.5), "n"),
        (certified_accuracy_scorer, dict(sigma=0.5, radius=0.1, alpha=1.5), "alpha"),
        (certified_accuracy_scorer, dict(sigma=0.5, radius=0.1, batch_size=0), "batch_size"),
        (certified_accuracy_scorer, dict(sigma=np.nan, radius=0.1), "sigma"),
        (certified_accuracy_scorer, dict(sigma=0.5, radius=0.1, random_state=-1), "random_state"),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_every_attack_parameter_is_checked_at_construction(factory, kwargs, name):
    # Raised inside cross_val_score, these errors would only give NaN scores and a warning.
    # They are the errors the functions called at scoring time raise, named as the factory's.
    with pytest.raises(
        InvalidParameterError, match=f"The '{name}' parameter of {factory.__name__} must be"
    ):
        factory(**kwargs)


@pytest.mark.parametrize(
    ("factory", "kwargs", "accepted"),
    [
        (robust_accuracy_scorer, dict(attack="pgd", eps=0.1, nosuch=1), "n_iter"),
        (robust_accuracy_scorer, dict(attack="fgsm", eps=0.1, n_iter=3), "norm"),
        (robust_accuracy_scorer, dict(attack="noise", eps=0.1, max_eps=3), "clip"),
        (robust_accuracy_scorer, dict(attack=_shift, eps=0.1, nosuch=1), "strength"),
        (critical_distance_scorer, dict(attack="pgd", nosuch=1), r"max_eps.*n_iter"),
        (critical_distance_scorer, dict(attack="noise", norm="l2"), "max_eps"),
        (certified_accuracy_scorer, dict(sigma=0.5, radius=0.1, nosuch=1), "n0"),
        (certified_accuracy_scorer, dict(sigma=0.5, radius=0.1, abstain=-1), "alpha"),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_unknown_keywords_fail_at_construction_naming_the_accepted_ones(factory, kwargs, accepted):
    with pytest.raises(TypeError, match=rf"unexpected keyword argument.*{accepted}"):
        factory(**kwargs)


def test_a_callable_attack_keeps_its_own_keywords(blobs):
    X, y = blobs
    fitted = model().fit(X, y)
    scorer = robust_accuracy_scorer(_shift, eps=0.0, strength=2.0)
    assert scorer(fitted, X, y) == pytest.approx(fitted.score(X, y))

    def anything(estimator, X, y, eps, **kwargs):
        return X

    robust_accuracy_scorer(anything, eps=0.1, whatever=1)  # **kwargs: any keyword may be its
    critical_distance_scorer(_shift, max_eps=1.0, strength=3.0, tol=0.1)
