"""Accuracy against perturbation size, and each example's critical (minimal fooling) distance."""

from __future__ import annotations

from math import ceil, log2
from numbers import Real

import numpy as np
import pandas as pd
import torch
from sklearn.utils._param_validation import (
    Interval,
    validate_parameter_constraints,
    validate_params,
)

from .._torch import eval_mode, forward_in_chunks, to_numpy
from .._validation import invalid_parameter
from ._checks import check_eps
from .attacks import ATTACK_CONSTRAINT, ATTACK_PARAMETER_CONSTRAINTS, prepare_attack

__all__ = ["BISECTION_CONSTRAINTS", "accuracy_curve", "check_bisection_params", "critical_distance"]

_GRID_START = 1e-3  # first eps of the automatic grid, as a fraction of the data's scale
_GRID_FACTOR = 10**0.25  # four points per decade
_GRID_MAX_POINTS = 48
_SATURATION_PATIENCE = 3  # points in a row whose accuracy moves less than _SATURATION_TOL
_SATURATION_TOL = 0.005
_GRID_RESOLUTION = 50  # tol = max_eps / 50, the absolute bisection that was the default
# The relative search spends at most this many evaluations per example after the attack at
# max_eps, pooled over the batch: no more than that bisection.
_ROUNDS = ceil(log2(_GRID_RESOLUTION))
_MAX_ROUNDS = 64  # a bound on the rounds whatever the budget
_FLOOR = 1e-3  # below max_eps * _FLOOR the relative search resolves an absolute rtol * floor
_OVERSHOOT = 0.8  # an interpolated eps lands 0.8 * rtol / (2 + rtol) beyond its estimate

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
    "rtol": [Interval(Real, 0, None, closed="neither")],
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
    rtol=0.01,
    random_state=None,
    verbose=0,
    **attack_kw,
):
    """Per example, the L2 length of the smallest perturbation by which the attack fools the model.

    Every example is first attacked at ``max_eps``; those that survive get
    ``inf``. The others are searched together, each within its own bracket
    ``(low, high]`` on the attack's eps (``low`` does not fool the model,
    ``high`` does), and each leaves the batch once its bracket is narrow enough:

    - by default, relatively: ``high <= (1 + rtol) * low``, so that a distance
      of 0.01 is resolved as finely as one of 10. Each round evaluates one eps
      per example inside its bracket: where the model has logits, the eps at
      which the margin (true logit minus the largest other), interpolated
      between the ends of the bracket, changes sign (regula falsi, Anderson-
      Bjorck variant), set a little under ``rtol / 2`` beyond that estimate so
      that the next round can close the bracket from the other side; from the
      third round on every other round takes the geometric midpoint, as does a
      model seen only through ``predict`` (a log-scale bisection). Along a
      linear model's decision function the margin is linear in eps, and two
      rounds suffice. The search spends at most 6 evaluations per example
      after the attack at ``max_eps``, pooled over the batch (the examples that
      finish early leave theirs to the others): with the clean check, at most
      8 attack evaluations per example in all, as the absolute default of
      before (``tol = max_eps / 50``: ``1 + 1 + 6``) spent. An example that has
      not met ``rtol`` by then reports the upper end it reached (only then
      does its distance depend on the rest of the batch); a model seen
      through ``predict`` bisects ``[max_eps / 1000, max_eps]`` six times, to
      within a factor ``1000 ** (1 / 64)``, about 1.11. Below
      ``max_eps / 1000`` the resolution is absolute, ``rtol * max_eps / 1000``.
    - with ``tol``: absolutely, ``high - low <= tol``, by bisection from
      ``(0, max_eps]``, with no limit on the rounds (``log2(max_eps / tol)``).

    The distance reported is the L2 norm of the attack's perturbation at the
    upper end of the final bracket, the smallest eps found to fool the model
    (for an L-inf attack it differs from eps). The search assumes that an
    attack which succeeds at eps also succeeds at any larger eps, as it does
    for noise along a fixed direction and for PGD up to its randomness.

    Parameters
    ----------
    estimator : fitted classifier
        The model to attack.
    X : array-like of shape (n_samples, n_features)
        Examples to perturb.
    y : array-like of shape (n_samples,)
        True labels of the examples.
    attack : {"noise", "fgsm", "pgd"} or callable, default="pgd"
        The attack whose eps is searched.
    max_eps : float or None, default=None
        The largest eps tried. None: four times the largest row norm of X for
        L2 attacks and noise; for L-inf, the width of ``clip`` or twice the largest
        absolute value of X. A callable attack needs it.
    tol : float or None, default=None
        An absolute resolution: bracket width (in eps) at which an example
        stops, by bisection. None: the relative resolution ``rtol``.
    rtol : float, default=0.01
        The relative resolution: an example stops once the upper end of its
        bracket is within a factor ``1 + rtol`` of the lower. Ignored when
        ``tol`` is given.
    random_state : int, RandomState instance or None, default=None
        Seed of the attack's randomness.
    verbose : int, default=0
        Print one line per round of the search.
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
    >>> d = critical_distance(model, X, y, "pgd", norm="l2", random_start=False)
    >>> np.round(d, 3).tolist()  # the upper ends of brackets narrower than 1%
    [1.004, 3.012, 1.004, 3.012]
    >>> d = critical_distance(model, X, y, "pgd", norm="l2", random_start=False, tol=1e-3)
    >>> np.round(d, 2).tolist()
    [1.0, 3.0, 1.0, 3.0]
    """
    _check_bisection_relations(attack, max_eps, tol)
    prepared = prepare_attack(attack, estimator, X, y, random_state=random_state, **attack_kw)
    if max_eps is None:
        max_eps = _default_max_eps(prepared, attack_kw.get("norm", "linf"))
    max_eps = float(max_eps)
    if tol is not None:
        _check_tol(tol, max_eps)
        return _absolute_search(prepared, max_eps, tol, verbose)
    return _relative_search(prepared, max_eps, rtol, verbose)


def _absolute_search(prepared, max_eps, tol, verbose):
    """Bisection on eps from (0, max_eps] until each bracket is at most ``tol`` wide."""
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


def _relative_search(prepared, max_eps, rtol, verbose):
    """Per example, a bracket on eps narrowed until ``high <= (1 + rtol) * low``, within the
    evaluations the absolute default spends (see critical_distance)."""
    distances = np.zeros(prepared.n_samples)
    rows = np.arange(prepared.n_samples)
    fooled, _, margin = _probe(prepared, rows, np.zeros(rows.size))
    rows = rows[~fooled]
    margin_low = None if margin is None else margin[~fooled]
    fooled, best, margin = _probe(prepared, rows, np.full(rows.size, max_eps))
    distances[rows[~fooled]] = np.inf
    rows, best = rows[fooled], best[fooled]
    low, high = np.zeros(rows.size), np.full(rows.size, max_eps)
    # Which end moved last (+1 high, -1 low, 0 neither): when the same end moves twice,
    # the other end's margin is scaled down (Anderson-Bjorck), so that regula falsi does
    # not creep up on the root from one side.
    moved = np.zeros(rows.size, dtype=np.int8)
    if margin is not None:
        margin_low, margin_high = margin_low[fooled], margin[fooled]
    floor = _FLOOR * max_eps
    budget, round_ = _ROUNDS * rows.size, 0
    while rows.size and rows.size <= budget and round_ < _MAX_ROUNDS:
        round_ += 1
        budget -= rows.size
        # From the third round on, every other round bisects: at worst the bracket's
        # log-width halves every two rounds, whatever the margins do.
        if margin is None or (round_ > 2 and round_ % 2):
            eps = _log_midpoint(low, high, floor)
        else:
            eps = _interpolated(low, high, margin_low, margin_high, rtol, floor)
        fooled, norms, margin_eps = _probe(prepared, rows, eps)
        high = np.where(fooled, eps, high)
        low = np.where(fooled, low, eps)
        best = np.where(fooled, norms, best)
        if margin is not None:
            side = np.where(fooled, 1, -1).astype(np.int8)
            again = side == moved
            with np.errstate(divide="ignore", invalid="ignore"):
                replaced = np.where(fooled, margin_high, margin_low)
                scale = 1 - margin_eps / replaced
            scale = np.where(again & (scale > 0) & np.isfinite(scale), scale, 0.5)
            margin_low = np.where(again & fooled, margin_low * scale, margin_low)
            margin_high = np.where(again & ~fooled, margin_high * scale, margin_high)
            margin_high = np.where(fooled, margin_eps, margin_high)
            margin_low = np.where(fooled, margin_low, margin_eps)
            moved = side
        done = high - low <= rtol * np.maximum(low, floor)
        distances[rows[done]] = best[done]
        keep = ~done
        rows, low, high, best, moved = rows[keep], low[keep], high[keep], best[keep], moved[keep]
        if margin is not None:
            margin_low, margin_high = margin_low[keep], margin_high[keep]
        if verbose:
            print(f"[critical_distance] round {round_}: {rows.size} examples left")
    if verbose and rows.size:
        print(f"[critical_distance] {rows.size} examples stop short of rtol={rtol:g}")
    distances[rows] = best  # the upper end each reached
    return distances


def _probe(prepared, rows, eps):
    """The attack at ``eps`` on ``rows``: whether each is fooled, the L2 norm of its
    perturbation and, where the model has logits, its margin (the true class's logit minus
    the largest other, <= 0 where fooled); None for a model seen through ``predict``."""
    module = prepared.predictor.module
    if module is None or rows.size == 0:
        return (*prepared.fooled(rows, eps), None)
    x_adv = prepared.perturb(rows, eps)
    index = torch.as_tensor(rows, device=prepared.device)
    target = prepared.targets[index][:, None]
    with torch.no_grad(), eval_mode(module):
        logits = forward_in_chunks(module, x_adv, prepared.batch_size)
    true = logits.gather(1, target).squeeze(1)
    other = logits.scatter(1, target, float("-inf")).amax(1)
    fooled = logits.argmax(1) != target.squeeze(1)
    norms = (x_adv - prepared.X[index]).norm(dim=1)
    return to_numpy(fooled), _float64(norms), _float64(true - other)


def _float64(tensor):
    return to_numpy(tensor).astype(np.float64)


def _log_midpoint(low, high, floor):
    """The geometric midpoint of each bracket, its lower end raised to ``floor``; below the
    floor, the arithmetic midpoint."""
    return np.where(high > floor, np.sqrt(np.maximum(low, floor) * high), (low + high) / 2)


def _interpolated(low, high, margin_low, margin_high, rtol, floor):
    """Where the margin, linear in eps between the bracket's ends, reaches 0, moved beyond
    that estimate away from the end farther from it (in ratio), so that one more round on
    the other side can close the bracket; the log midpoint where that leaves the bracket."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        root = low + (high - low) * margin_low / (margin_low - margin_high)
        step = _OVERSHOOT * rtol / (2 + rtol)
        guess = np.where(root * root > low * high, root * (1 - step), root * (1 + step))
        inside = (margin_low > margin_high) & np.isfinite(guess) & (guess > low) & (guess < high)
    return np.where(inside, guess, _log_midpoint(low, high, floor))


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


def check_bisection_params(attack, max_eps=None, tol=None, rtol=0.01, verbose=0):
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
        attack), ``tol`` is not in ``(0, max_eps)``, ``rtol`` is not a positive
        finite number or ``verbose`` is not a non-negative int; a ValueError and
        a TypeError.

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
        {"max_eps": max_eps, "tol": tol, "rtol": rtol, "verbose": verbose},
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
