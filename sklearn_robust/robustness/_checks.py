"""Input checks shared by every robustness evaluation."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.validation import _check_feature_names, _check_n_features

from .._validation import (
    check_fitted_estimator,
    check_float32_range,
    invalid_parameter,
    label_indices,
)

__all__ = [
    "check_classifier",
    "check_clip",
    "check_eps",
    "check_inputs",
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
    check_fitted_estimator(estimator)
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
    return X, label_indices(estimator.classes_, y)


def check_classifier(estimator):
    """A fitted single-output classifier: ``classes_`` (one array) and ``predict``."""
    if hasattr(estimator, "predict") and isinstance(getattr(estimator, "classes_", None), list):
        final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
        way_out = (
            "evaluate one level with level_view(level), e.g. clf.level_view(-1) and that "
            "level's column of labels"
            if hasattr(final, "level_view")
            else "evaluate a classifier of one output"
        )
        raise TypeError(
            f"{type(estimator).__name__} was fitted on {len(estimator.classes_)} outputs "
            f"(levels of labels); the robustness evaluations take one: {way_out}."
        )
    if not (hasattr(estimator, "classes_") and hasattr(estimator, "predict")):
        raise TypeError(
            "estimator must be a fitted classifier (with classes_ and predict); got "
            f"{type(estimator).__name__}, which has no "
            f"{'classes_' if hasattr(estimator, 'predict') else 'predict'}. Evaluate the "
            "classifier (or the Pipeline ending in it) rather than a transformer."
        )


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


def check_clip(clip, X, caller="prepare_attack"):
    """``None`` or a (low, high) box, low < high, that X must already lie in.

    ``validate_params`` checks that ``clip`` is None or array-like; the pair's form
    and its relation to X are checked here. Pass an empty X to check the form alone.
    """
    if clip is None:
        return None
    try:
        low, high = (float(v) for v in clip)
        valid = low < high
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise invalid_parameter("clip", caller, "None or a pair (low, high) with low < high", clip)
    if X.size and (X.min() < low or X.max() > high):
        raise ValueError(
            f"X lies outside clip={clip!r} (its values span [{X.min():.4g}, {X.max():.4g}]); "
            "rescale X or widen clip."
        )
    return low, high
