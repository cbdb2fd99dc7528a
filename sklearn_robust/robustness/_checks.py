"""Input checks and model plumbing shared by every robustness evaluation."""

from __future__ import annotations

from contextlib import contextmanager
from numbers import Real

import numpy as np
import pandas as pd
import torch
from sklearn.utils import check_array
from sklearn.utils.validation import _check_feature_names, _check_n_features, check_is_fitted

from .._torch import to_numpy, to_tensor
from .._validation import check_float32_range
from ..bridge import as_torch

__all__ = [
    "ClassPredictor",
    "check_batch_size",
    "check_classifier",
    "check_clip",
    "check_eps",
    "check_inputs",
    "eval_mode",
    "gradient_model",
]


def check_inputs(estimator, X, y=None):
    """Validate X (and y) against a fitted classifier, before any work.

    X is checked as the estimator's own ``predict`` checks it (scikit-learn's
    feature-name and feature-count checks), and refused where float32, in which
    every evaluation computes, cannot hold its values.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float32
    targets : ndarray of shape (n_samples,) of int64 indices into ``classes_``, or None
    """
    check_is_fitted(estimator)
    check_classifier(estimator)
    # The estimator's own checks, not validate_data: they need no scikit-learn tags, so any
    # fitted classifier works; columns reordered or renamed since fit are refused here.
    _check_feature_names(estimator, X, reset=False)
    X = check_array(X, dtype=[np.float32, np.float64], ensure_all_finite=True, ensure_min_samples=1)
    _check_n_features(estimator, X, reset=False)
    X = check_float32_range(X).astype(np.float32, copy=False)
    if y is None:
        return X, None
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(
            f"y must be 1-D with one label per row of X ({X.shape[0]}); got shape {y.shape}."
        )
    return X, label_indices(estimator, y)


def check_classifier(estimator):
    """A fitted classifier is needed: ``classes_`` and ``predict``; a clear TypeError if not."""
    if not (hasattr(estimator, "classes_") and hasattr(estimator, "predict")):
        raise TypeError(
            "estimator must be a fitted classifier (with classes_ and predict); got "
            f"{type(estimator).__name__}, which has no "
            f"{'classes_' if hasattr(estimator, 'predict') else 'predict'}. Evaluate the "
            "classifier (or the Pipeline ending in it) rather than a transformer."
        )


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
    try:
        eps = np.asarray(eps, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must be a number or one number per example; got {eps!r}."
        ) from exc
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
        labels = self.estimator.predict(self._as_fitted(to_numpy(x)))
        return torch.from_numpy(label_indices(self.estimator, labels)).to(x.device)

    def _as_fitted(self, X):
        """Rows under the column names the estimator was fitted with, so predict is quiet."""
        names = getattr(self.estimator, "feature_names_in_", None)
        if names is None:
            return X
        return pd.DataFrame(X, columns=names)

    def indices(self, X: np.ndarray, batch_size: int) -> np.ndarray:
        """Predicted class indices of an array, in batches."""
        out = [
            to_numpy(self(to_tensor(X[start : start + batch_size], self.device)))
            for start in range(0, X.shape[0], batch_size)
        ]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
