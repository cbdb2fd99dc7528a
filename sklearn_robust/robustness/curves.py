"""Accuracy against perturbation size, and each example's critical (minimal fooling) distance."""

from __future__ import annotations

from numbers import Real

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import (
    Interval,
    validate_parameter_constraints,
    validate_params,
)

from .._validation import invalid_parameter
from ._checks import check_eps
from .attacks import ATTACK_CONSTRAINT, ATTACK_PARAMETER_CONSTRAINTS, prepare_attack

__all__ = ["BISECTION_CONSTRAINTS", "accuracy_curve", "check_bisection_params", "critical_distance"]

_GRID_START = 1e-3  # first eps of the automatic grid, as a fraction of the data's scale
_GRID_FACTOR = 10**0.25  # four points per decade
_GRID_MAX_POINTS = 48
_SATURATION_PATIENCE = 3  # points in a row whose accuracy moves less than _SATURATION_TOL
_SATURATION_TOL = 0.005
_GRID_RESOLUTION = 50  # default tol = max_eps / 50: finer than a 20-point grid

# What both functions take besides the attack's keywords (checked by prepare_attack).
_CURVE_CONSTRAINTS = {
    "estimator": "no_validation",
    "X": ["array-like"],
    "y": ["array-like"],
    "attack": ATTACK_CONSTRAINT,
    "random_state": ATTACK_PARAMETER_CONSTRAINTS["random_state"],
    "verbose": ["verbose"],
}
# critical_distance's own keywords; critical_distance_scorer checks them with these.
BISECTION_CONSTRAINTS = {
    "max_eps": [Interval(Real, 0, None, closed="neither"), None],
    "tol": [Interval(Real, 0, None, closed="neither"), None],
    "verbose": ["verbose"],
}


@validate_params(
    _CURVE_CONSTRAINTS
    | {
        # Each entry is checked by check_eps: finite and >= 0.
        "epsilons": ["array-like", None],
        "relative": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def accuracy_curve(
    estimator,
    X,
    y,
    attack="pgd",
    epsilons=None,
    relative=True,
    *,
    random_state=None,
    verbose=0,
    **attack_kw,
):
    """Accuracy under an attack as a function of its size eps.

    Parameters
    ----------
    estimator : fitted classifier
        The model to attack.
    X : array-like of shape (n_samples, n_features)
        Examples to perturb.
    y : array-like of shape (n_samples,)
        True labels of the examples.
    attack : {"noise", "fgsm", "pgd"} or callable, default="pgd"
        See :func:`~sklearn_robust.robustness.attacks.prepare_attack`.
    epsilons : array-like of float or None, default=None
        None: a log grid (four points per decade, from 1e-3 of the data's scale)
        that extends until the accuracy saturates: it reaches 0 or moves less
        than 0.5% over three points after it has started to fall.
    relative : bool, default=True
        Evaluate only the examples the model classifies correctly, so that
        accuracy is 1 at eps = 0 (the paper's relative accuracy).
    random_state : int, RandomState instance or None, default=None
        Seeds the attack's random directions or starts (the same for every eps).
    verbose : int, default=0
        Print one line per eps.
    **attack_kw
        Passed to the attack (``norm``, ``n_iter``, ``clip``, ``batch_size``, ...).

    Returns
    -------
    curve : pandas.DataFrame
        Columns ``attack``, ``eps``, ``accuracy``, ``n`` (examples evaluated).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_robust.robustness import accuracy_curve
    >>> X = np.array([[1.0, 0.0], [2.0, 0.0], [-1.0, 0.0], [-2.0, 0.0]]); y = [1, 1, 0, 0]
    >>> model = LogisticRegression().fit(X, y)
    >>> accuracy_curve(model, X, y, "fgsm", epsilons=[0.5, 1.5, 2.5]).accuracy.tolist()
    [1.0, 0.5, 0.0]
    """
    prepared = prepare_attack(attack, estimator, X, y, random_state=random_state, **attack_kw)
    rows = evaluated_rows(prepared, relative)
    if epsilons is not None:
        epsilons = check_eps(epsilons, np.size(epsilons), name="epsilons")
        grid = iter(epsilons)
    else:
        grid = _log_grid(_data_scale(prepared, attack_kw.get("norm", "linf")))
    records = []
    for eps in grid:
        accuracy = robust_accuracy(prepared, rows, eps)
        records.append({"attack": prepared.name, "eps": float(eps), "accuracy": accuracy})
        if verbose:
            print(f"[accuracy_curve] {prepared.name} eps={eps:.4g}: accuracy {accuracy:.4f}")
        if epsilons is None and _saturated([r["accuracy"] for r in records]):
            break
    curve = pd.DataFrame.from_records(records, columns=["attack", "eps", "accuracy"])
    curve["n"] = rows.size
    return curve


@validate_params(_CURVE_CONSTRAINTS | BISECTION_CONSTRAINTS, prefer_skip_nested_validation=True)
def critical_distance(
    estimator,
    X,
    y,
    attack="pgd",
    *,
    max_eps=None,
    tol=None,
    random_state=None,
    verbose=0,
    **attack_kw,
):
    """Per example, the L2 length of the smallest perturbation by which the attack fools the model.

    Batched bisection on the attack's eps: every example is first attacked at
    ``max_eps``; those that survive get ``inf``, the others are bisected
    together, each leaving the batch once its bracket is narrower than ``tol``.
    The distance reported is the L2 norm of the successful perturbation at the
    upper end of the bracket (for an L-inf attack it differs from eps).
    Bisection assumes that an attack which succeeds at eps also succeeds at any
    larger eps, as it does for noise along a fixed direction and for PGD up to its
    randomness.

    Parameters
    ----------
    estimator : fitted classifier
        The model to attack.
    X : array-like of shape (n_samples, n_features)
        Examples to perturb.
    y : array-like of shape (n_samples,)
        True labels of the examples.
    attack : {"noise", "fgsm", "pgd"} or callable, default="pgd"
        The attack whose eps is bisected.
    max_eps : float or None, default=None
        The largest eps tried. None: four times the largest row norm of X for
        L2 attacks and noise; for L-inf, the width of ``clip`` or twice the largest
        absolute value of X. A callable attack needs it.
    tol : float or None, default=None
        Bracket width (in eps) at which an example stops; None: ``max_eps / 50``,
        2.5 times finer than a 20-point grid.
    random_state : int, RandomState instance or None, default=None
        Seed of the attack's randomness.
    verbose : int, default=0
        Print one line per bisection round.
    **attack_kw
        Passed to the attack.

    Returns
    -------
    distances : ndarray of shape (n_samples,), float64
        0 where the clean example is already misclassified, ``inf`` where the
        attack does not succeed within ``max_eps``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_robust.robustness import critical_distance
    >>> X = np.array([[1.0, 0.0], [3.0, 0.0], [-1.0, 0.0], [-3.0, 0.0]]); y = [1, 1, 0, 0]
    >>> model = LogisticRegression().fit(X, y)   # boundary x0 = 0
    >>> d = critical_distance(model, X, y, "pgd", norm="l2", max_eps=8, tol=1e-3,
    ...                       random_start=False)
    >>> np.round(d, 2).tolist()
    [1.0, 3.0, 1.0, 3.0]
    """
    _check_bisection_relations(attack, max_eps, tol)
    prepared = prepare_attack(attack, estimator, X, y, random_state=random_state, **attack_kw)
    if max_eps is None:
        max_eps = _default_max_eps(prepared, attack_kw.get("norm", "linf"))
    max_eps = float(max_eps)
    tol = max_eps / _GRID_RESOLUTION if tol is None else tol
    _check_tol(tol, max_eps)
    distances = np.zeros(prepared.n_samples)
    rows = evaluated_rows(prepared, relative=True)
    fooled, norms = prepared.fooled(rows, np.full(rows.size, max_eps))
    distances[rows[~fooled]] = np.inf
    rows, best = rows[fooled], norms[fooled]
    low, high = np.zeros(rows.size), np.full(rows.size, max_eps)
    round_ = 0
    while rows.size:
        round_ += 1
        middle = (low + high) / 2
        fooled, norms = prepared.fooled(rows, middle)
        high = np.where(fooled, middle, high)
        low = np.where(fooled, low, middle)
        best = np.where(fooled, norms, best)
        done = high - low <= tol
        distances[rows[done]] = best[done]
        rows, low, high, best = rows[~done], low[~done], high[~done], best[~done]
        if verbose:
            print(f"[critical_distance] round {round_}: {rows.size} examples left")
    return distances


def evaluated_rows(prepared, relative):
    """All rows, or (relative) those the model classifies correctly when unperturbed."""
    rows = np.arange(prepared.n_samples)
    if not relative:
        return rows
    fooled, _ = prepared.fooled(rows, np.zeros(rows.size))
    return rows[~fooled]


def robust_accuracy(prepared, rows, eps, sample_weight=None):
    """Fraction (weighted, optionally) of ``rows`` that the attack at ``eps`` does not fool."""
    if rows.size == 0:
        return float("nan")
    fooled, _ = prepared.fooled(rows, np.full(rows.size, eps))
    weights = None if sample_weight is None else np.asarray(sample_weight)[rows]
    return float(np.average(~fooled, weights=weights))


def _is_l2(prepared, norm):
    return prepared.name == "noise" or norm == "l2"


def _data_scale(prepared, norm):
    """The size of the data in the attack's norm.

    L2: the largest row norm. L-inf: the width of the clip box, else twice the
    largest absolute value (any L-inf ball that wide covers the data).
    """
    X = prepared.X
    if _is_l2(prepared, norm):
        return float(X.norm(dim=1).max()) or 1.0
    if prepared.clip is not None:
        return prepared.clip[1] - prepared.clip[0]
    return 2.0 * float(X.abs().max()) or 1.0


def _log_grid(scale):
    eps = _GRID_START * scale
    for _ in range(_GRID_MAX_POINTS):
        yield eps
        eps *= _GRID_FACTOR


def _saturated(accuracies):
    if accuracies[-1] == 0.0 or np.isnan(accuracies[-1]):
        return True
    if len(accuracies) <= _SATURATION_PATIENCE:
        return False
    started_falling = accuracies[-1] < 0.99 * accuracies[0]
    recent = accuracies[-_SATURATION_PATIENCE - 1 :]
    return started_falling and max(recent) - min(recent) < _SATURATION_TOL


def check_bisection_params(attack, max_eps=None, tol=None, verbose=0):
    """Check :func:`critical_distance`'s own parameters, before any data is seen.

    Each is checked against :data:`BISECTION_CONSTRAINTS`, the constraints
    :func:`critical_distance` is decorated with, and then what they cannot say:
    that a callable attack needs ``max_eps`` and that ``tol < max_eps``.
    :func:`critical_distance` makes the second check itself;
    :func:`~sklearn_robust.robustness.critical_distance_scorer` makes both at
    construction. With ``max_eps=None``, ``tol`` is compared with the default
    ``max_eps`` later, once the data give it.

    Raises
    ------
    InvalidParameterError
        If ``max_eps`` is not a positive finite number (or None for a named
        attack), ``tol`` is not in ``(0, max_eps)`` or ``verbose`` is not a
        non-negative int; a ValueError and a TypeError.

    Examples
    --------
    >>> from sklearn_robust.robustness.curves import check_bisection_params
    >>> check_bisection_params("pgd", max_eps=-1)
    Traceback (most recent call last):
    ...
    sklearn.utils._param_validation.InvalidParameterError: The 'max_eps' parameter of ...
    """
    validate_parameter_constraints(
        BISECTION_CONSTRAINTS,
        {"max_eps": max_eps, "tol": tol, "verbose": verbose},
        caller_name="critical_distance",
    )
    _check_bisection_relations(attack, max_eps, tol)


def _check_bisection_relations(attack, max_eps, tol):
    if max_eps is None and callable(attack):
        # Named attacks scale max_eps to the data; a callable's scale cannot be guessed.
        raise invalid_parameter(
            "max_eps", "critical_distance", "a float > 0 for a callable attack", None
        )
    if tol is not None:
        _check_tol(tol, np.inf if max_eps is None else float(max_eps))


def _check_tol(tol, max_eps):
    if not tol < max_eps:
        raise invalid_parameter("tol", "critical_distance", f"< max_eps={max_eps:.6g}", tol)


def _default_max_eps(prepared, norm):
    """Four times the data's L2 scale, or its L-inf scale (see critical_distance)."""
    scale = _data_scale(prepared, norm)
    return 4.0 * scale if _is_l2(prepared, norm) else scale
