"""Scorers ``scorer(estimator, X, y)`` for cross_val_score and GridSearchCV: robust accuracy,
critical distance and certified accuracy.

Each scorer seeds its randomness with ``random_state=0`` unless told otherwise, so
that every candidate of a search meets the same noise and the search is
reproducible. They are plain picklable objects, so ``n_jobs > 1`` works.

Every parameter, including the keyword arguments passed on to the attack,
:func:`~sklearn_robust.robustness.critical_distance` or
:func:`~sklearn_robust.robustness.certify`, is checked when the scorer is made,
by the checks those functions run themselves: inside ``cross_val_score`` or
``GridSearchCV`` an error would only turn the scores into NaN, with a warning.
Unknown keyword arguments raise a TypeError that lists the accepted ones.
"""

from __future__ import annotations

import inspect
from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from ._checks import check_inputs
from .attacks import (
    ATTACK_CONSTRAINT,
    ATTACK_PARAMETER_CONSTRAINTS,
    attack_keywords,
    check_attack_params,
    prepare_attack,
)
from .curves import check_bisection_params, critical_distance, evaluated_rows, robust_accuracy
from .smoothing import SMOOTHING_CONSTRAINTS, certify, check_smoothing_params

__all__ = ["certified_accuracy_scorer", "critical_distance_scorer", "robust_accuracy_scorer"]

_STATISTICS = {"median": np.median, "mean": np.mean}
# A scorer uses one size for every example: a scalar, unlike the attacks' eps.
_SCALAR_SIZE = [Interval(Real, 0, None, closed="left")]


class _Scorer:
    """Stores the factory's arguments and shows them as the factory call that made it.

    Subclasses define ``__call__(estimator, X, y, sample_weight=None)``.
    """

    factory = "scorer"

    def __init__(self, **params):
        self._params = params

    def __repr__(self):
        args = ", ".join(f"{key}={value!r}" for key, value in self._params.items())
        return f"{self.factory}({args})"


class RobustAccuracyScorer(_Scorer):
    factory = "robust_accuracy_scorer"

    def __call__(self, estimator, X, y, sample_weight=None):
        p = dict(self._params)
        attack, eps, relative = p.pop("attack"), p.pop("eps"), p.pop("relative")
        prepared = prepare_attack(attack, estimator, X, y, **p)
        rows = evaluated_rows(prepared, relative)
        return robust_accuracy(prepared, rows, eps, sample_weight)


class CriticalDistanceScorer(_Scorer):
    factory = "critical_distance_scorer"

    def __call__(self, estimator, X, y, sample_weight=None):
        p = dict(self._params)
        attack, statistic = p.pop("attack"), p.pop("statistic")
        distances = critical_distance(estimator, X, y, attack, **p)
        correct = distances > 0  # the paper's distribution: correctly classified examples
        if not correct.any():
            return 0.0
        function = _STATISTICS.get(statistic, statistic)
        return float(function(distances[correct]))


class CertifiedAccuracyScorer(_Scorer):
    factory = "certified_accuracy_scorer"

    def __call__(self, estimator, X, y, sample_weight=None):
        p = dict(self._params)
        sigma, radius = p.pop("sigma"), p.pop("radius")
        check_inputs(estimator, X, y)  # y too; X goes on as given, with its column names
        labels, radii = certify(estimator, X, sigma, abstain=None, **p)
        certified = (labels == np.asarray(y, dtype=object)) & (radii >= radius)
        return float(np.average(certified, weights=sample_weight))


def _keywords(function, supplied):
    """The keyword parameters of ``function`` other than those the scorer ``supplied``,
    with their defaults."""
    return {
        name: parameter.default
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.default is not parameter.empty and name not in supplied
    }


def _check_keywords(factory, given, accepted):
    """Unknown keyword arguments fail when the scorer is made, naming those it takes."""
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        raise TypeError(
            f"{factory} got unexpected keyword argument(s) {unknown}; it takes {sorted(accepted)}."
        )


@validate_params(
    {
        "attack": ATTACK_CONSTRAINT,
        "eps": _SCALAR_SIZE,
        "relative": ["boolean"],
        "random_state": ATTACK_PARAMETER_CONSTRAINTS["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def robust_accuracy_scorer(attack, eps, relative=False, *, random_state=0, **attack_kw):
    """Accuracy under ``attack`` at size ``eps``, as a scorer.

    Parameters
    ----------
    attack : {"noise", "fgsm", "pgd"} or callable
        The attack the model is scored under.
    eps : float
        Perturbation size, >= 0.
    relative : bool, default=False
        Only the examples the model classifies correctly count (accuracy 1 at eps 0).
    random_state : int or None, default=0
        Seed of the attack's randomness.
    **attack_kw
        Passed to the attack (``norm``, ``n_iter``, ``clip``, ...).

    Returns
    -------
    scorer : callable ``scorer(estimator, X, y)``
        Scorer for model selection and cross-validation.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn_robust.robustness import robust_accuracy_scorer
    >>> X, y = load_iris(return_X_y=True)
    >>> scorer = robust_accuracy_scorer("pgd", eps=0.1, norm="l2")
    >>> scorer
    robust_accuracy_scorer(attack='pgd', eps=0.1, relative=False, random_state=0, norm='l2')
    >>> scores = cross_val_score(LogisticRegression(max_iter=1000), X, y, scoring=scorer, cv=3)
    >>> bool(0.0 <= scores.mean() <= 1.0)
    True
    """
    # Checked here with prepare_attack's own checks: inside cross_val_score an error
    # would only turn every score into NaN, with a warning.
    check_attack_params(attack, **attack_kw)
    return RobustAccuracyScorer(
        attack=attack, eps=eps, relative=relative, random_state=random_state, **attack_kw
    )


@validate_params(
    {
        "attack": ATTACK_CONSTRAINT,
        "statistic": [StrOptions(set(_STATISTICS)), callable],
        "random_state": ATTACK_PARAMETER_CONSTRAINTS["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def critical_distance_scorer(attack, statistic="median", *, random_state=0, **attack_kw):
    """A statistic of the critical distances of the correctly classified examples, as a scorer.

    Larger is more robust. Misclassified examples (distance 0) are left out, as
    in the paper's distributions; examples the attack cannot fool within
    ``max_eps`` count as ``inf`` (so ``"mean"`` can be infinite; the median
    is finite while most examples are fooled).

    Parameters
    ----------
    attack : {"noise", "fgsm", "pgd"} or callable
        The attack the model is scored under.
    statistic : {"median", "mean"} or callable, default="median"
        A callable maps the array of distances to a float.
    random_state : int or None, default=0
        Seed of the attack's randomness.
    **attack_kw
        Passed to :func:`~sklearn_robust.robustness.critical_distance` and the
        attack (``max_eps``, ``rtol``, ``tol``, ``norm``, ...). By default each
        distance is resolved to ``rtol=0.01`` of itself, so that models whose
        distances differ by a few percent get different scores.

    Returns
    -------
    scorer : callable ``scorer(estimator, X, y)``
        Scorer for model selection and cross-validation.

    Examples
    --------
    >>> from sklearn_robust.robustness import critical_distance_scorer
    >>> critical_distance_scorer("noise", max_eps=10.0)
    critical_distance_scorer(attack='noise', statistic='median', random_state=0, max_eps=10.0)
    """
    own = _keywords(critical_distance, supplied={"attack", "random_state"})
    for_attack = {k: v for k, v in attack_kw.items() if k not in own}
    accepted = attack_keywords(attack)
    if accepted is not None:
        _check_keywords("critical_distance_scorer", attack_kw, {*own, *accepted})
    check_bisection_params(attack, **(own | {k: v for k, v in attack_kw.items() if k in own}))
    check_attack_params(attack, **for_attack)
    return CriticalDistanceScorer(
        attack=attack, statistic=statistic, random_state=random_state, **attack_kw
    )


@validate_params(
    {
        "sigma": SMOOTHING_CONSTRAINTS["sigma"],
        "radius": _SCALAR_SIZE,
        "random_state": SMOOTHING_CONSTRAINTS["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def certified_accuracy_scorer(sigma, radius, *, random_state=0, **certify_kw):
    """Fraction of examples the smoothed classifier labels correctly with a radius >= ``radius``.

    Parameters
    ----------
    sigma : float
        Noise level of the smoothing, > 0.
    radius : float
        The L2 radius that must be certified, >= 0.
    random_state : int or None, default=0
        Seed of the smoothing noise.
    **certify_kw
        Passed to :func:`~sklearn_robust.robustness.certify` (``n0``, ``n``,
        ``alpha``, ``batch_size``).

    Returns
    -------
    scorer : callable ``scorer(estimator, X, y)``
        Scorer for model selection and cross-validation.

    Examples
    --------
    >>> from sklearn_robust.robustness import certified_accuracy_scorer
    >>> certified_accuracy_scorer(sigma=0.25, radius=0.5, n=1000)
    certified_accuracy_scorer(sigma=0.25, radius=0.5, random_state=0, n=1000)
    """
    # certify's abstain is the scorer's own (None), as are sigma and random_state.
    accepted = _keywords(certify, supplied={"sigma", "abstain", "random_state"})
    _check_keywords("certified_accuracy_scorer", certify_kw, accepted)
    check_smoothing_params(**certify_kw)
    return CertifiedAccuracyScorer(
        sigma=sigma, radius=radius, random_state=random_state, **certify_kw
    )
