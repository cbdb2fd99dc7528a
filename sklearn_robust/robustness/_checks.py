"""Input checks and model plumbing shared by every robustness evaluation."""

from __future__ import annotations

from contextlib import contextmanager
from numbers import Real

import numpy as np
import torch
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted

from .._torch import to_numpy, to_tensor
from ..bridge import as_torch

__all__ = [
    "ClassPredictor",
    "check_batch_size",
    "check_clip",
    "check_eps",
    "check_inputs",
    "eval_mode",
    "gradient_model",
]


def check_inputs(estimator, X, y=None):
    """Validate X (and y) against a fitted classifier, before any work.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float32
    targets : ndarray of shape (n_samples,) of int64 indices into ``classes_``, or None
    """
    check_is_fitted(estimator)
    X = check_array(X, dtype=np.float32, ensure_all_finite=True, ensure_min_samples=1)
    n_features = getattr(estimator, "n_features_in_", None)
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(estimator).__name__} was fitted with "
            f"{n_features} features."
        )
    if y is None:
        return X, None
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(
            f"y must be 1-D with one label per row of X ({X.shape[0]}); got shape {y.shape}."
        )
    return X, label_indices(estimator, y)


def label_indices(estimator, y) -> np.ndarray:
    """Positions of the labels y in ``estimator.classes_``; unknown labels raise."""
    classes = np.asarray(estimator.classes_)
    positions = np.searchsorted(classes, y)
    positions = np.clip(positions, 0, len(classes) - 1)
    unknown = classes[positions] != y
    if np.any(unknown):
        raise ValueError(
            f"y holds labels the estimator does not know: {np.unique(y[unknown])[:5].tolist()}; "
            f"its classes are {classes.tolist()}."
        )
    return positions.astype(np.int64)


def check_eps(eps, n_samples, name="eps") -> np.ndarray:
    """A perturbation size per example: a non-negative scalar or one per row."""
    eps = np.asarray(eps, dtype=np.float64)
    if eps.ndim == 0:
        eps = np.full(n_samples, float(eps))
    if eps.shape != (n_samples,):
        raise ValueError(
            f"{name} must be a scalar or have one value per example ({n_samples}); "
            f"got shape {eps.shape}."
        )
    if not np.all(np.isfinite(eps)) or np.any(eps < 0):
        raise ValueError(f"{name} must be finite and >= 0; got min {eps.min()}.")
    return eps


def check_clip(clip, X):
    """``None`` or a (low, high) box that X must already lie in."""
    if clip is None:
        return None
    try:
        low, high = (float(v) for v in clip)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"clip must be None or a pair (low, high); got {clip!r}.") from exc
    if not low < high:
        raise ValueError(f"clip must satisfy low < high; got {clip!r}.")
    if X.size and (X.min() < low or X.max() > high):
        raise ValueError(
            f"X lies outside clip={clip!r} (its values span [{X.min():.4g}, {X.max():.4g}]); "
            "rescale X or widen clip."
        )
    return low, high


def check_batch_size(batch_size):
    if not isinstance(batch_size, Real) or batch_size < 1 or int(batch_size) != batch_size:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}.")
    return int(batch_size)


def gradient_model(estimator, purpose):
    """The estimator as a differentiable module, or a TypeError that says what still works."""
    try:
        return as_torch(estimator)
    except TypeError as exc:
        raise TypeError(f"{purpose} needs gradients through the estimator. {exc}") from exc


@contextmanager
def eval_mode(module: torch.nn.Module):
    """Put every submodule in eval mode, and restore each one's own flag afterwards."""
    flags = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for submodule, training in flags:
            submodule.training = training


class ClassPredictor:
    """Predicted class indices of float32 batches, on the model's device.

    Uses the differentiable view when the estimator has one (no copies to NumPy),
    and the estimator's own ``predict`` otherwise, so that black-box evaluations
    work on any classifier.
    """

    def __init__(self, estimator, differentiable=False, purpose="This evaluation"):
        self.estimator = estimator
        if differentiable:
            self.module = gradient_model(estimator, purpose)
        else:
            try:
                self.module = as_torch(estimator)
            except TypeError:
                self.module = None
        self.device = self.module.device if self.module is not None else torch.device("cpu")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.module is not None:
            with torch.no_grad(), eval_mode(self.module):
                return self.module(x.to(self.device)).argmax(1)
        labels = self.estimator.predict(to_numpy(x))
        return torch.from_numpy(label_indices(self.estimator, labels)).to(x.device)

    def indices(self, X: np.ndarray, batch_size: int) -> np.ndarray:
        """Predicted class indices of an array, in batches."""
        out = [
            to_numpy(self(to_tensor(X[start : start + batch_size], self.device)))
            for start in range(0, X.shape[0], batch_size)
        ]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
