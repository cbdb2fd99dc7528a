"""Decision landscapes and Jacobian-norm maps on a plane through an input.

Following Hoffman et al. (*Robust Learning with Jacobian Regularization*) and
Holzhausen et al. (figure 4), a model is probed on a square grid in a
two-dimensional plane of input space through one example: which class it
predicts there and how confidently, and how fast its hidden representation
changes (the Frobenius norm of the exact input Jacobian). Both maps draw the
same plane from the same ``random_state``, so they can be laid side by side.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from .._torch import eval_mode, forward_in_chunks, to_numpy, to_tensor
from .._validation import FLOAT32_MAX, check_fitted_estimator, check_float32_range
from ..bridge import as_torch

__all__ = ["DecisionLandscape", "JacobianNormMap", "decision_landscape", "jacobian_norm_map"]

_RANK_TOL = 1e-10  # relative size below which a direction counts as dependent
_JIT_DEPRECATION = r"`torch\.jit\.script` is deprecated"

# The plane of both maps; x's shape and range, and the directions' shape and rank, are
# checked against the estimator by _plane.
_PLANE_CONSTRAINTS = {
    "estimator": "no_validation",
    "x": ["array-like"],
    "directions": ["array-like", None],
    "extent": [Interval(Real, 0, None, closed="neither"), None],
    "resolution": [Interval(Integral, 2, None, closed="left")],
    "random_state": ["random_state"],
}
_POSITIVE_INT = [Interval(Integral, 1, None, closed="left")]


@dataclass(frozen=True, eq=False)
class _Plane:
    """A square grid on the plane ``center + a * directions[0] + b * directions[1]``.

    Attributes
    ----------
    center : ndarray of shape (n_features,)
        The input at the middle of the plane, float64.
    directions : ndarray of shape (2, n_features)
        Orthonormal rows: ``directions[0]`` runs along the horizontal axis of a
        plot, ``directions[1]`` along the vertical one.
    offsets : ndarray of shape (resolution,)
        Coordinates along either direction, ``linspace(-extent, extent, resolution)``.
    """

    center: np.ndarray
    directions: np.ndarray
    offsets: np.ndarray

    @property
    def extent(self) -> float:
        """Half the side of the square, in input units."""
        return float(self.offsets[-1])

    @property
    def points(self) -> np.ndarray:
        """The inputs evaluated, float32 of shape (resolution**2, n_features).

        Row ``i * resolution + j`` is ``center + offsets[j] * directions[0]
        + offsets[i] * directions[1]``: entry ``[i, j]`` of every map.
        """
        b, a = np.meshgrid(self.offsets, self.offsets, indexing="ij")
        steps = np.stack([a.ravel(), b.ravel()], axis=1) @ self.directions
        return (self.center + steps).astype(np.float32)


@dataclass(frozen=True, eq=False)
class DecisionLandscape(_Plane):
    """The predicted class and its probability on a grid in a plane; see :func:`decision_landscape`.

    Built by :func:`decision_landscape`; each parameter is kept as the attribute of
    the same name.

    Parameters
    ----------
    center : ndarray of shape (n_features,)
        The input at the middle of the plane, float64.
    directions : ndarray of shape (2, n_features)
        Orthonormal rows: ``directions[0]`` runs along the horizontal axis of a
        plot, ``directions[1]`` along the vertical one.
    offsets : ndarray of shape (resolution,)
        Coordinates along either direction, ``linspace(-extent, extent, resolution)``.
    labels : ndarray of shape (resolution, resolution)
        The class predicted at ``center + offsets[j] * directions[0] + offsets[i]
        * directions[1]``, in entry ``[i, j]`` (values of ``classes``).
    confidence : ndarray of shape (resolution, resolution)
        The largest class probability there; NaN for a classifier that gives none.
    classes : ndarray of shape (n_classes,)
        The estimator's ``classes_``, so that plots colour each class the same way.

    Attributes
    ----------
    extent : float
        Half the side of the square, in input units.
    points : ndarray of shape (resolution**2, n_features)
        The inputs evaluated, float32.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_robust.robustness import decision_landscape
    >>> X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]); y = ["a", "b", "c"]
    >>> model = LogisticRegression().fit(X, y)
    >>> landscape = decision_landscape(model, X[0], resolution=5, random_state=0)
    >>> landscape.labels.shape, landscape.points.shape, landscape.classes.tolist()
    ((5, 5), (25, 2), ['a', 'b', 'c'])
    """

    labels: np.ndarray
    confidence: np.ndarray
    classes: np.ndarray


@dataclass(frozen=True, eq=False)
class JacobianNormMap(_Plane):
    """Frobenius norms of an input Jacobian on a grid in a plane; see :func:`jacobian_norm_map`.

    Built by :func:`jacobian_norm_map`; each parameter is kept as the attribute of
    the same name.

    Parameters
    ----------
    center : ndarray of shape (n_features,)
        The input at the middle of the plane, float64.
    directions : ndarray of shape (2, n_features)
        Orthonormal rows: ``directions[0]`` runs along the horizontal axis of a
        plot, ``directions[1]`` along the vertical one.
    offsets : ndarray of shape (resolution,)
        Coordinates along either direction, ``linspace(-extent, extent, resolution)``.
    norms : ndarray of shape (resolution, resolution)
        ``||d h / d x||_F`` at ``center + offsets[j] * directions[0] + offsets[i]
        * directions[1]``, in entry ``[i, j]``; float64.
    output : {"hidden", "decision"}
        Which representation ``h`` was differentiated.

    Attributes
    ----------
    extent : float
        Half the side of the square, in input units.
    points : ndarray of shape (resolution**2, n_features)
        The inputs evaluated, float32.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neural_network import MLPClassifier
    >>> from sklearn_robust.robustness import jacobian_norm_map
    >>> X = np.random.default_rng(0).normal(size=(30, 3)); y = X[:, 0] > 0
    >>> model = MLPClassifier((8,), solver="lbfgs", random_state=0).fit(X, y)
    >>> jmap = jacobian_norm_map(model, X[0], resolution=4, random_state=0)
    >>> jmap.norms.shape, jmap.output, bool((jmap.norms >= 0).all())
    ((4, 4), 'hidden', True)
    """

    norms: np.ndarray
    output: str


@validate_params(
    _PLANE_CONSTRAINTS | {"batch_size": _POSITIVE_INT}, prefer_skip_nested_validation=True
)
def decision_landscape(
    estimator,
    x,
    directions=None,
    extent=None,
    resolution=41,
    *,
    random_state=None,
    batch_size=4096,
) -> DecisionLandscape:
    """The class a classifier predicts, and how confidently, on a plane through ``x``.

    The grid point ``[i, j]`` is ``x + offsets[j] * u + offsets[i] * v`` with
    ``(u, v)`` an orthonormal pair of directions, as in Hoffman et al. and
    Holzhausen et al. (figure 4, lower panel).

    Parameters
    ----------
    estimator : fitted classifier
        Any classifier: the differentiable view of :func:`~sklearn_robust.bridge.as_torch`
        is used when there is one (softmax of its logits), else ``predict`` and
        ``predict_proba`` (confidence NaN without ``predict_proba``).
    x : array-like of shape (n_features,)
        The center of the plane.
    directions : array-like of shape (2, n_features) or None, default=None
        Two linearly independent directions, orthonormalised (Gram-Schmidt: the
        first keeps its direction). None: two standard-normal vectors drawn from
        ``random_state``, orthonormalised. Pass ``landscape.directions`` to reuse a plane.
    extent : float or None, default=None
        Half the side of the square grid; None: ``||x||`` (1 when ``x`` is 0).
    resolution : int, default=41
        Grid points per side (at least 2); odd puts ``x`` itself at the middle.
    random_state : int, RandomState instance or None, default=None
        Draws the plane when ``directions`` is None; the same seed gives the
        same plane here and in :func:`jacobian_norm_map`.
    batch_size : int, default=4096
        Grid points evaluated at once.

    Returns
    -------
    DecisionLandscape
        ``labels`` and ``confidence`` of shape (resolution, resolution), with the
        plane (``center``, ``directions``, ``offsets``) and ``classes``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_robust.robustness import decision_landscape
    >>> X = np.array([[-2.0, -1.0], [-2.0, 1.0], [2.0, -1.0], [2.0, 1.0]]); y = [0, 0, 1, 1]
    >>> model = LogisticRegression().fit(X, y)   # boundary x0 = 0
    >>> landscape = decision_landscape(model, [0.5, 0.0], directions=np.eye(2), extent=1,
    ...                                resolution=3)
    >>> landscape.offsets
    array([-1.,  0.,  1.])
    >>> landscape.labels   # rows: second direction (x1), columns: first direction (x0)
    array([[0, 1, 1],
           [0, 1, 1],
           [0, 1, 1]])
    >>> landscape.points.shape
    (9, 2)
    """
    check_fitted_estimator(estimator)
    if not hasattr(estimator, "classes_"):
        raise ValueError(
            f"decision_landscape needs a classifier; {type(estimator).__name__} has no classes_."
        )
    plane = _plane(estimator, x, directions, extent, resolution, random_state)
    labels, confidence = _predict_grid(estimator, plane.points, batch_size)
    shape = (plane.offsets.size,) * 2
    return DecisionLandscape(
        center=plane.center,
        directions=plane.directions,
        offsets=plane.offsets,
        labels=labels.reshape(shape),
        confidence=confidence.reshape(shape),
        classes=np.asarray(estimator.classes_),
    )


@validate_params(
    _PLANE_CONSTRAINTS
    | {"output": [StrOptions({"hidden", "decision"})], "chunk_size": _POSITIVE_INT},
    prefer_skip_nested_validation=True,
)
def jacobian_norm_map(
    estimator,
    x,
    directions=None,
    extent=None,
    resolution=41,
    *,
    output="hidden",
    random_state=None,
    chunk_size=64,
) -> JacobianNormMap:
    """The Frobenius norm of the exact Jacobian ``d h / d x`` on a plane through ``x``.

    Holzhausen et al. (figure 4, upper panel) read its level as how fast the
    representation changes and its variation across the plane as curvature.
    The Jacobian is computed exactly with :mod:`torch.func`, vectorised over
    ``chunk_size`` grid points at a time (forward mode when the input is
    narrower than ``h``, reverse mode otherwise).

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        Every step differentiable (see :func:`~sklearn_robust.bridge.as_torch`).
    x : array-like of shape (n_features,)
        The center of the plane.
    directions : array-like of shape (2, n_features) or None, default=None
        As in :func:`decision_landscape`.
    extent : float or None, default=None
        Half the side of the square grid; None: ``||x||`` (1 when ``x`` is 0).
    resolution : int, default=41
        Grid points per side (at least 2).
    output : {"hidden", "decision"}, default="hidden"
        ``h``: the representation the final classifier reads out, or the logits
        (for a transformer, its transform).
    random_state : int, RandomState instance or None, default=None
        Draws the plane when ``directions`` is None; the same seed gives the
        same plane as in :func:`decision_landscape`.
    chunk_size : int, default=64
        Grid points whose Jacobians are held in memory at once (each holds
        ``width(h) * n_features`` floats).

    Returns
    -------
    JacobianNormMap
        ``norms`` of shape (resolution, resolution), with the plane.

    Raises
    ------
    TypeError
        If a step of the estimator cannot be differentiated (the message names it).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_robust.robustness import jacobian_norm_map
    >>> X = np.random.default_rng(0).normal(size=(40, 5)); y = X[:, 0] > 0
    >>> model = make_pipeline(PCA(n_components=2), LogisticRegression()).fit(X, y)
    >>> jmap = jacobian_norm_map(model, X[0], resolution=5, random_state=0)
    >>> jmap.norms.shape   # h is the PCA projection: its Jacobian has orthonormal rows
    (5, 5)
    >>> bool(np.allclose(jmap.norms, np.sqrt(2), atol=1e-5))
    True
    """
    check_fitted_estimator(estimator)
    plane = _plane(estimator, x, directions, extent, resolution, random_state)
    module = as_torch(estimator, output=output)
    norms = _jacobian_norms(module, plane.points, chunk_size)
    return JacobianNormMap(
        center=plane.center,
        directions=plane.directions,
        offsets=plane.offsets,
        norms=norms.reshape((plane.offsets.size,) * 2),
        output=output,
    )


def _plane(estimator, x, directions, extent, resolution, random_state) -> _Plane:
    """Validate the plane against the estimator before any model is run.

    The parameters' types and ranges were checked by ``validate_params``.
    """
    center = _check_center(estimator, x)
    if extent is None:
        extent = float(np.linalg.norm(center)) or 1.0
    if directions is None:
        directions = check_random_state(random_state).standard_normal((2, center.size))
    directions = _orthonormal(directions, center.size)
    offsets = np.linspace(-float(extent), float(extent), resolution)
    # The grid is evaluated in float32: a point beyond its range would become inf and
    # then NaN, predicted as class 0. The grid is largest at a corner of the square.
    corners = center + np.array([[-1, -1], [-1, 1], [1, -1], [1, 1]]) @ (extent * directions)
    largest = float(np.abs(corners).max())
    if largest > FLOAT32_MAX:
        raise ValueError(
            f"The plane's grid, x +- extent={float(extent):.3g} along the directions, reaches "
            f"{largest:.3g} in absolute value, beyond float32's range (+-{FLOAT32_MAX:.3g}) "
            "in which this package computes; choose a smaller extent."
        )
    return _Plane(center=center, directions=directions, offsets=offsets)


def _check_center(estimator, x) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"x must be one example, a 1-D array; got shape {x.shape}.")
    x = check_float32_range(check_array(x[None], dtype=np.float64, ensure_all_finite=True), "x")[0]
    n_features = getattr(estimator, "n_features_in_", None)
    if n_features is not None and x.size != n_features:
        raise ValueError(
            f"x has {x.size} features, but {type(estimator).__name__} was fitted with "
            f"{n_features} features."
        )
    if x.size < 2:
        raise ValueError("A plane needs at least 2 input features; x has 1.")
    return x


def _orthonormal(directions, n_features) -> np.ndarray:
    directions = np.asarray(directions, dtype=np.float64)
    if directions.shape != (2, n_features):
        raise ValueError(
            f"directions must have shape (2, n_features) = (2, {n_features}); "
            f"got {directions.shape}."
        )
    if not np.all(np.isfinite(directions)):
        raise ValueError("directions must be finite.")
    q, r = np.linalg.qr(directions.T)
    if np.any(np.abs(np.diag(r)) <= _RANK_TOL * np.linalg.norm(directions, axis=1).max()):
        raise ValueError("directions must be linearly independent (rank 2); they span a line.")
    # QR fixes each column only up to sign: flip them so that u points along directions[0]
    # and the plane keeps its orientation.
    return (q * np.sign(np.diag(r))).T.copy()


def _predict_grid(estimator, points, batch_size):
    """Predicted labels and their probability, through torch when the estimator allows it."""
    try:
        module = as_torch(estimator)
    except TypeError:
        return _predict_black_box(estimator, points, batch_size)

    def top_class(rows):
        top = torch.softmax(module(to_tensor(rows, module.device)), dim=1).max(dim=1)
        return to_numpy(top.indices), to_numpy(top.values)

    with torch.no_grad(), eval_mode(module):
        indices, confidence = forward_in_chunks(top_class, points, batch_size)
    return np.asarray(estimator.classes_)[indices], confidence.astype(np.float64)


def _predict_black_box(estimator, points, batch_size):
    # Labels come from predict even with predict_proba: for some classifiers (SVC with
    # Platt scaling) the two disagree, and the landscape shows the model's decisions.
    def predicted(rows):
        labels = np.asarray(estimator.predict(rows))
        if not hasattr(estimator, "predict_proba"):
            return labels, np.full(rows.shape[0], np.nan)
        return labels, np.max(estimator.predict_proba(rows), axis=1)

    labels, confidence = forward_in_chunks(predicted, points, batch_size)
    return labels, confidence.astype(np.float64)


def _jacobian_norms(module, points, chunk_size) -> np.ndarray:
    """Frobenius norms of the exact Jacobian of ``module`` at each point, chunk by chunk."""

    def single(point):
        return module(point[None]).reshape(-1)

    with torch.no_grad(), eval_mode(module), warnings.catch_warnings():
        # torch builds its forward-mode decompositions with torch.jit.script on first use,
        # and warns about its own deprecated call.
        warnings.filterwarnings("ignore", _JIT_DEPRECATION, DeprecationWarning)
        points = to_tensor(points, module.device)
        width = single(points[0]).numel()
        # Forward mode pushes one tangent per input feature, reverse mode one cotangent
        # per output unit: take whichever needs fewer passes.
        jacobian = torch.func.jacfwd if points.shape[1] < width else torch.func.jacrev
        batched = torch.func.vmap(jacobian(single))
        norms = forward_in_chunks(
            lambda chunk: to_numpy(batched(chunk).flatten(1).norm(dim=1)), points, chunk_size
        )
    return norms.astype(np.float64)
