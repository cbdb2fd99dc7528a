"""Perturbations of inputs: random directions, FGSM and PGD, batched in torch.

Each attack is prepared once on a data set (:func:`prepare_attack`), drawing its
randomness once per example: the random direction of ``random_noise`` and the
random start of ``pgd`` are the same for every ``eps`` and every batch size, so
that accuracy curves are smooth in eps and a bisection on eps compares like with
like.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import (
    Interval,
    StrOptions,
    validate_parameter_constraints,
    validate_params,
)

from .._torch import eval_mode, forward_in_chunks, to_numpy, to_tensor, torch_generator
from ._checks import check_clip, check_eps, check_inputs
from ._predictor import ClassPredictor

__all__ = [
    "ATTACK_CONSTRAINT",
    "ATTACK_PARAMETER_CONSTRAINTS",
    "ATTACK_TYPES",
    "EPS_CONSTRAINT",
    "attack_keywords",
    "check_attack_params",
    "fgsm",
    "pgd",
    "prepare_attack",
    "random_noise",
]

NORMS = ("linf", "l2")
_TINY = 1e-12  # keeps a zero gradient or perturbation from dividing by zero


class PreparedAttack(ABC):
    """An attack bound to one estimator and one data set.

    Parameters
    ----------
    estimator : fitted classifier
    X : ndarray of shape (n_samples, n_features), float32
    targets : ndarray of int64 or None
        True class indices (into ``classes_``); gradient attacks need them.
    clip : (low, high) or None
    batch_size : int
    """

    name = "attack"

    def __init__(self, estimator, X, targets, *, clip, batch_size):
        self.estimator = estimator
        self.clip = clip
        self.batch_size = batch_size
        self.predictor = self._predictor(estimator)
        self.device = self.predictor.device
        self.X = to_tensor(X, self.device)
        self.targets = None if targets is None else torch.from_numpy(targets).to(self.device)

    def _predictor(self, estimator):
        return ClassPredictor(estimator)

    @property
    def n_samples(self):
        return self.X.shape[0]

    def perturb(self, rows, eps) -> torch.Tensor:
        """Perturbed copies of the rows ``rows`` at per-example sizes ``eps``."""
        rows = np.asarray(rows, dtype=np.int64)
        eps = torch.as_tensor(np.asarray(eps, dtype=np.float32), device=self.device)
        pieces = [
            self._perturb_batch(index, eps[i : i + self.batch_size])
            for i, index in self._batches(rows)
        ]
        if not pieces:
            return self.X[:0].clone()
        return torch.cat(pieces)

    def _batches(self, rows):
        """(position, index) per batch; a run of consecutive rows is indexed by a slice,
        a view instead of a gathered copy of the data."""
        consecutive = rows.size > 0 and np.array_equal(
            rows, np.arange(rows[0], rows[0] + rows.size)
        )
        index = torch.as_tensor(rows, device=self.device)
        for i in range(0, rows.size, self.batch_size):
            if consecutive:
                yield i, slice(int(rows[i]), int(rows[min(i + self.batch_size, rows.size) - 1]) + 1)
            else:
                yield i, index[i : i + self.batch_size]

    @abstractmethod
    def _perturb_batch(self, rows: torch.Tensor, eps: torch.Tensor) -> torch.Tensor: ...

    def fooled(self, rows, eps):
        """Whether each perturbed row is misclassified, and the L2 norm of its perturbation."""
        index = torch.as_tensor(np.asarray(rows, dtype=np.int64), device=self.device)
        if index.numel() == 0:  # predict of a black-box estimator refuses no rows
            return np.zeros(0, dtype=bool), np.zeros(0)
        x_adv = self.perturb(rows, eps)
        wrong = forward_in_chunks(self.predictor, x_adv, self.batch_size) != self.targets[index]
        distance = (x_adv - self.X[index]).norm(dim=1)
        return to_numpy(wrong), to_numpy(distance).astype(np.float64)

    def _clip(self, x):
        return x if self.clip is None else x.clamp(*self.clip)


class NoiseAttack(PreparedAttack):
    """Random perturbation: one standard-normal direction per example, unit L2 norm."""

    name = "noise"

    def __init__(self, estimator, X, targets, *, random_state=None, clip=None, batch_size=512):
        super().__init__(estimator, X, targets, clip=clip, batch_size=batch_size)
        directions = torch.randn(X.shape, generator=torch_generator(random_state))
        directions /= directions.norm(dim=1, keepdim=True).clamp_min(_TINY)
        self.directions = directions.to(self.device)

    def _perturb_batch(self, rows, eps):
        return self._clip(self.X[rows] + eps[:, None] * self.directions[rows])


class ProjectedGradientAttack(PreparedAttack):
    """PGD: ``n_iter`` steps up the loss, each projected back onto the L-inf or L2 eps-ball.

    Madry et al.'s projected gradient descent (on the negated loss), with an
    optional random start in the ball. :class:`FGSMAttack` is its one-step case
    and shares its gradient (``_ascent``): one full step of size eps from the
    clean input, which the ball already holds, so nothing is projected.
    """

    name = "pgd"

    def __init__(
        self,
        estimator,
        X,
        targets,
        *,
        norm="linf",
        n_iter=10,
        step_size=None,
        random_start=True,
        random_state=None,
        clip=None,
        batch_size=512,
    ):
        # norm, n_iter and step_size were checked by prepare_attack (check_attack_params).
        if targets is None:
            raise ValueError("Gradient attacks need the true labels y.")
        self.norm, self.n_iter, self.step_size = norm, int(n_iter), step_size
        super().__init__(estimator, X, targets, clip=clip, batch_size=batch_size)
        self.start = self._random_start(X.shape, random_state) if random_start else None

    def _predictor(self, estimator):
        return ClassPredictor(estimator, differentiable=True, purpose=f"The {self.name} attack")

    def _random_start(self, shape, random_state):
        """A point in the unit ball per example, scaled by eps when used (as torchattacks)."""
        generator = torch_generator(random_state)
        if self.norm == "linf":
            start = torch.rand(shape, generator=generator) * 2 - 1
        else:
            start = torch.randn(shape, generator=generator)
            radius = torch.rand((shape[0], 1), generator=generator)
            start *= radius / start.norm(dim=1, keepdim=True).clamp_min(_TINY)
        return start.to(self.device)

    def _perturb_batch(self, rows, eps):
        module = self.predictor.module
        x0, target, eps = self.X[rows], self.targets[rows], _scalar_if_uniform(eps)
        step = eps * 2.5 / self.n_iter if self.step_size is None else self.step_size
        x = x0 if self.start is None else self._clip(x0 + eps * self.start[rows])
        with eval_mode(module):
            for _ in range(self.n_iter):
                x = self._project(x + step * self._ascent(module, x, target), x0, eps)
        return x.detach()

    def _ascent(self, module, x, target):
        """Steepest-ascent direction of the loss: sign (L-inf) or unit gradient (L2)."""
        x = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(wrong_class_log_odds(module(x), target).sum(), x)
        if self.norm == "linf":
            return grad.sign()
        return grad / grad.norm(dim=1, keepdim=True).clamp_min(_TINY)

    def _project(self, x, x0, eps):
        delta = x - x0
        if self.norm == "linf":
            delta = delta.clamp(-eps, eps)
        else:
            norms = delta.norm(dim=1, keepdim=True)
            delta = delta * torch.clamp(eps / norms.clamp_min(_TINY), max=1.0)
        return self._clip(x0 + delta)


class FGSMAttack(ProjectedGradientAttack):
    """The fast gradient (sign) method: one step of size eps from the clean input."""

    name = "fgsm"

    def __init__(
        self, estimator, X, targets, *, norm="linf", clip=None, batch_size=512, random_state=None
    ):
        # random_state is accepted, and unused, so every attack takes the same keywords.
        super().__init__(
            estimator,
            X,
            targets,
            norm=norm,
            n_iter=1,
            random_start=False,
            clip=clip,
            batch_size=batch_size,
        )

    def _perturb_batch(self, rows, eps):
        module = self.predictor.module
        x0, target, eps = self.X[rows], self.targets[rows], _scalar_if_uniform(eps)
        with eval_mode(module):
            return self._clip(x0 + eps * self._ascent(module, x0, target)).detach()


class CallableAttack(PreparedAttack):
    """A user attack ``attack(estimator, X, y, eps) -> X_adv`` with per-example eps."""

    def __init__(
        self,
        estimator,
        X,
        targets,
        *,
        function,
        clip=None,
        batch_size=512,
        random_state=None,
        **kwargs,
    ):
        super().__init__(estimator, X, targets, clip=clip, batch_size=batch_size)
        if "random_state" in inspect.signature(function).parameters:
            kwargs["random_state"] = random_state
        self.function, self.kwargs = function, kwargs
        self.name = getattr(function, "__name__", "attack")
        self.labels = None if targets is None else np.asarray(estimator.classes_)[targets]

    def _perturb_batch(self, rows, eps):
        index = rows if isinstance(rows, slice) else to_numpy(rows)
        x_adv = self.function(
            self.estimator,
            to_numpy(self.X[rows]),
            self.labels[index],
            to_numpy(eps),
            **self.kwargs,
        )
        return self._clip(to_tensor(x_adv, self.device))


def _scalar_if_uniform(eps: torch.Tensor):
    """A float when every example has the same eps (scalar arithmetic is cheaper), else a column."""
    if eps.numel() and bool(eps.min() == eps.max()):
        return float(eps[0])
    return eps[:, None]


def wrong_class_log_odds(logits, target):
    """Per example, log(sum of the other classes' probabilities / the true class's).

    A monotone function of the cross-entropy (CE = softplus of it), so sign and
    normalised-gradient steps are exactly those of the cross-entropy; unlike the
    cross-entropy its gradient does not vanish in float32 once the model is
    confident (where 1 - p_true rounds to 0).
    """
    true_logit = logits.gather(1, target[:, None]).squeeze(1)
    others = logits.scatter(1, target[:, None], float("-inf"))
    return torch.logsumexp(others, dim=1) - true_logit


# Attack name -> the class that prepares and runs it. (The main job's ATTACKS is the tuple of
# names it measures.)
ATTACK_TYPES = {
    "noise": NoiseAttack,
    "random_noise": NoiseAttack,
    "fgsm": FGSMAttack,
    "pgd": ProjectedGradientAttack,
}

# validate_params constraints, shared by the attacks, the curves and the scorers, so that a
# scorer factory checks its keywords with the very constraints the functions it calls use.
ATTACK_CONSTRAINT = [StrOptions(set(ATTACK_TYPES)), callable]
# A size per example: a scalar, or an array whose entries check_eps checks against X.
# An Interval open at infinity refuses inf as it refuses NaN.
EPS_CONSTRAINT = [Interval(Real, 0, None, closed="left"), "array-like"]
# The keyword arguments of the prepared attacks (the callable attack's own are its business).
ATTACK_PARAMETER_CONSTRAINTS = {
    "norm": [StrOptions(set(NORMS))],
    "n_iter": [Interval(Integral, 1, None, closed="left")],
    "step_size": [Interval(Real, 0, None, closed="neither"), None],
    "random_start": ["boolean"],
    "random_state": ["random_state"],
    # The pair's form (low < high) and X's place in it are checked by check_clip.
    "clip": ["array-like", None],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
}


def _function_constraints(*keywords, y=True, eps=True):
    """The constraints of a public attack function: its data, eps and ``keywords``."""
    constraints = {"estimator": "no_validation", "X": ["array-like"]}
    if y:
        constraints["y"] = ["array-like"]
    if eps:
        constraints["eps"] = EPS_CONSTRAINT
    return constraints | {key: ATTACK_PARAMETER_CONSTRAINTS[key] for key in keywords}


@validate_params(
    _function_constraints(eps=False) | {"attack": ATTACK_CONSTRAINT, "y": ["array-like", None]},
    prefer_skip_nested_validation=True,
)
def prepare_attack(attack, estimator, X, y=None, **attack_kw) -> PreparedAttack:
    """Validate the inputs and bind an attack (a name or a callable) to them.

    Parameters
    ----------
    attack : {"noise", "fgsm", "pgd"} or callable
        A callable is called as ``attack(estimator, X, y, eps, **attack_kw)``
        with one eps per row (and ``random_state`` when it takes one) and
        returns the perturbed X.
    estimator : fitted classifier
        The model to attack.
    X : array-like of shape (n_samples, n_features)
        Examples to perturb.
    y : array-like of shape (n_samples,), optional
        True labels of the examples.
    **attack_kw
        Keyword arguments of the attack (``norm``, ``n_iter``, ``random_state``,
        ``clip``, ``batch_size``, ...).

    Returns
    -------
    PreparedAttack
        The attack bound to the validated inputs.

    Raises
    ------
    InvalidParameterError
        For an unknown attack name or a bad parameter value (see
        :func:`check_attack_params`); a ValueError and a TypeError.
    ValueError
        For bad X or y, or X outside ``clip``.
    TypeError
        For a keyword argument the attack does not take.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_robust.robustness import prepare_attack
    >>> X = np.random.default_rng(0).normal(size=(6, 4)); y = [0, 1] * 3
    >>> model = LogisticRegression().fit(X, y)
    >>> attack = prepare_attack("pgd", model, X, y, n_iter=5, random_state=0)
    >>> rows, eps = np.arange(6), np.full(6, 0.1)
    >>> tuple(attack.perturb(rows, eps).shape)
    (6, 4)
    >>> fooled, l2 = attack.fooled(rows, eps)  # an L-inf step of 0.1 on 4 features
    >>> fooled.shape, l2.round(4).tolist()
    ((6,), [0.2, 0.2, 0.2, 0.2, 0.2, 0.2])
    """
    check_attack_params(attack, **attack_kw)
    X, targets = check_inputs(estimator, X, y)
    attack_kw["clip"] = check_clip(attack_kw.get("clip"), X)
    if callable(attack):
        return CallableAttack(estimator, X, targets, function=attack, **attack_kw)
    return ATTACK_TYPES[attack](estimator, X, targets, **attack_kw)


# What CallableAttack takes for itself; every other keyword goes to the callable.
_CALLABLE_KEYWORDS = frozenset({"clip", "batch_size", "random_state"})


def attack_keywords(attack):
    """The keyword arguments :func:`prepare_attack` takes for ``attack``.

    Parameters
    ----------
    attack : str or callable
        A name of :data:`ATTACK_TYPES` (checked by the caller) or a callable attack.

    Returns
    -------
    keywords : frozenset of str or None
        None for a callable that takes ``**kwargs`` or whose signature cannot
        be read: any keyword may be meant for it.
    """
    if not callable(attack):
        parameters = inspect.signature(ATTACK_TYPES[attack]).parameters
        return frozenset(name for name, p in parameters.items() if p.kind == p.KEYWORD_ONLY)
    try:
        parameters = list(inspect.signature(attack).parameters.values())
    except (TypeError, ValueError):  # some builtins and C callables have no signature
        return None
    if any(p.kind == p.VAR_KEYWORD for p in parameters):
        return None
    # The callable is called as attack(estimator, X, y, eps, **keywords).
    named = [p for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    positional = sum(p.kind != p.KEYWORD_ONLY for p in named[:4])
    return _CALLABLE_KEYWORDS | {p.name for p in named[positional:]}


def check_attack_params(attack, **attack_kw):
    """Check an attack and its keyword arguments, before any data is seen.

    :func:`prepare_attack` starts with this check; the scorer factories call it
    at construction, so that a bad parameter fails there rather than inside
    ``cross_val_score`` (which would turn the error into NaN scores). The values
    are checked against :data:`ATTACK_PARAMETER_CONSTRAINTS`, as ``validate_params``
    checks a function's parameters; what a keyword may be depends on the attack,
    so these are checked here rather than by a decorator.

    Parameters
    ----------
    attack : {"noise", "fgsm", "pgd"} or callable
    **attack_kw
        Keyword arguments of the attack (``norm``, ``n_iter``, ``step_size``,
        ``random_start``, ``random_state``, ``clip``, ``batch_size``). Those a
        callable attack receives itself are not checked here.

    Raises
    ------
    InvalidParameterError
        For an unknown attack name or a bad value, named as a parameter of
        :func:`prepare_attack` (or of the decorated function it passes through).
    TypeError
        For a keyword argument the attack does not take; the message lists those it takes.

    Examples
    --------
    >>> from sklearn_robust.robustness.attacks import check_attack_params
    >>> check_attack_params("pgd", norm="l3")
    Traceback (most recent call last):
    ...
    sklearn.utils._param_validation.InvalidParameterError: The 'norm' parameter of ...
    """
    validate_parameter_constraints(
        {"attack": ATTACK_CONSTRAINT}, {"attack": attack}, caller_name="prepare_attack"
    )
    accepted = attack_keywords(attack)
    unknown = [] if accepted is None else sorted(set(attack_kw) - accepted)
    if unknown:
        name = getattr(attack, "__name__", "callable") if callable(attack) else repr(attack)
        raise TypeError(
            f"attack={name} got unexpected keyword argument(s) {unknown}; it takes "
            f"{sorted(accepted)}."
        )
    checked = _CALLABLE_KEYWORDS if callable(attack) else ATTACK_PARAMETER_CONSTRAINTS.keys()
    params = {key: attack_kw[key] for key in checked & attack_kw.keys()}
    validate_parameter_constraints(
        ATTACK_PARAMETER_CONSTRAINTS, params, caller_name="prepare_attack"
    )
    # The form of the pair alone: that X lies in the box is checked with X, by prepare_attack.
    check_clip(params.get("clip"), np.zeros((0, 0), dtype=np.float32))


def _run(attack, estimator, X, y, eps, **attack_kw):
    prepared = prepare_attack(attack, estimator, X, y, **attack_kw)
    eps = check_eps(eps, prepared.n_samples)
    return to_numpy(prepared.perturb(np.arange(prepared.n_samples), eps))


@validate_params(
    _function_constraints("random_state", "clip", "batch_size", y=False),
    prefer_skip_nested_validation=True,
)
def random_noise(estimator, X, eps, random_state=None, *, clip=None, batch_size=512):
    """Perturb each example by ``eps`` along its own random direction.

    The direction of each example is a standard-normal draw normalised to unit
    L2 norm; for a given ``random_state`` it is the same for every ``eps``. Needs
    only ``predict``, so any fitted classifier works.

    Parameters
    ----------
    estimator : fitted classifier
        Only checked (fitted, feature count): noise does not look at the model.
    X : array-like of shape (n_samples, n_features)
        Examples to perturb.
    eps : float or array-like of shape (n_samples,)
        L2 length of each perturbation, >= 0.
    random_state : int, RandomState instance or None, default=None
        Seed of the random directions.
    clip : (low, high) or None, default=None
        Clamp the perturbed inputs to this box; X must lie in it.
    batch_size : int, default=512
        Number of examples processed at once.

    Returns
    -------
    X_noisy : ndarray of shape (n_samples, n_features), float32
        The perturbed examples.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_robust.robustness import random_noise
    >>> X = np.random.default_rng(0).normal(size=(6, 4)); y = [0, 1] * 3
    >>> model = LogisticRegression().fit(X, y)
    >>> X_noisy = random_noise(model, X, eps=0.5, random_state=0)
    >>> np.round(np.linalg.norm(X_noisy - X, axis=1), 4).tolist()
    [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    """
    return _run(
        "noise",
        estimator,
        X,
        None,
        eps,
        random_state=random_state,
        clip=clip,
        batch_size=batch_size,
    )


@validate_params(
    _function_constraints("norm", "clip", "batch_size"), prefer_skip_nested_validation=True
)
def fgsm(estimator, X, y, eps, norm="linf", *, clip=None, batch_size=512):
    """The fast gradient (sign) method: one step of size eps up the loss.

    ``norm="linf"`` steps by ``eps * sign(grad)`` (Goodfellow et al.), ``"l2"``
    by ``eps * grad / ||grad||``. The loss is the cross-entropy, computed in a
    form whose gradient survives float32 saturation (same steps).

    Parameters
    ----------
    estimator : fitted classifier
        Differentiable through :func:`sklearn_robust.bridge.as_torch`.
    X : array-like of shape (n_samples, n_features)
        Examples to perturb.
    y : array-like of shape (n_samples,)
        True labels.
    eps : float or array-like of shape (n_samples,)
        Perturbation size in the chosen norm, >= 0.
    norm : {"linf", "l2"}, default="linf"
        Norm in which ``eps`` is measured.
    clip : (low, high) or None, default=None
        Clamp adversarial inputs to this box (e.g. (0, 1) for images); X must lie in it.
    batch_size : int, default=512
        Number of examples processed at once.

    Returns
    -------
    X_adv : ndarray of shape (n_samples, n_features), float32
        The adversarial examples.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_robust.robustness import fgsm
    >>> X = np.array([[1.0, 0.0], [-1.0, 0.0]]); y = [1, 0]
    >>> model = LogisticRegression().fit(X, y)
    >>> fgsm(model, X, y, eps=0.25).tolist()
    [[0.75, 0.0], [-0.75, 0.0]]
    """
    return _run("fgsm", estimator, X, y, eps, norm=norm, clip=clip, batch_size=batch_size)


@validate_params(
    _function_constraints(
        "norm", "n_iter", "step_size", "random_start", "clip", "random_state", "batch_size"
    ),
    prefer_skip_nested_validation=True,
)
def pgd(
    estimator,
    X,
    y,
    eps,
    norm="linf",
    n_iter=10,
    step_size=None,
    random_start=True,
    clip=None,
    *,
    random_state=None,
    batch_size=512,
):
    """Projected gradient descent (Madry et al.): ``n_iter`` steps, projected onto the eps-ball.

    The defaults are the papers' PGD-10. The setting of lee-vijayan table 2
    (advertorch's LinfPGDAttack) is
    ``pgd(model, X, y, eps=4/255, norm="linf", n_iter=50, step_size=4/255*2/100,
    random_start=True, clip=(0, 1))``.

    Parameters
    ----------
    estimator : fitted classifier
        Differentiable through :func:`sklearn_robust.bridge.as_torch`.
    X : array-like of shape (n_samples, n_features)
        Examples to perturb.
    y : array-like of shape (n_samples,)
        True labels.
    eps : float or array-like of shape (n_samples,)
        Radius of the ball in the chosen norm, >= 0.
    norm : {"linf", "l2"}, default="linf"
        Norm in which ``eps`` is measured.
    n_iter : int, default=10
        Number of gradient steps.
    step_size : float or None, default=None
        None: ``2.5 * eps / n_iter``, enough to cross the ball from any start.
    random_start : bool, default=True
        Start from a random point of the ball (uniform per coordinate for
        L-inf; a random direction at a uniform radius for L2), drawn once per
        example and scaled by eps.
    clip : (low, high) or None, default=None
        Clamp adversarial inputs to this box; X must lie in it.
    random_state : int, RandomState instance or None, default=None
        Seed of the random start.
    batch_size : int, default=512
        Number of examples processed at once.

    Returns
    -------
    X_adv : ndarray of shape (n_samples, n_features), float32
        The adversarial examples.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_robust.robustness import pgd
    >>> X = np.array([[1.0, 0.0], [-1.0, 0.0]]); y = [1, 0]
    >>> model = LogisticRegression().fit(X, y)
    >>> X_adv = pgd(model, X, y, eps=2.0, norm="l2", random_state=0)
    >>> (model.predict(X_adv) != y).all()
    np.True_
    """
    return _run(
        "pgd",
        estimator,
        X,
        y,
        eps,
        norm=norm,
        n_iter=n_iter,
        step_size=step_size,
        random_start=random_start,
        random_state=random_state,
        clip=clip,
        batch_size=batch_size,
    )
