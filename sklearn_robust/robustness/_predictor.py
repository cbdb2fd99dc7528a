"""Predicted class indices of torch batches, for every robustness evaluation.

The evaluations perturb inputs as float32 tensors on the model's device;
:class:`ClassPredictor` answers "which class now?" for such a batch, through
the differentiable view of the estimator when it has one and through its own
``predict`` otherwise.
"""

from __future__ import annotations

import pandas as pd
import torch

from .._torch import eval_mode, to_numpy
from .._validation import label_indices
from ..bridge import as_torch

__all__ = ["ClassPredictor", "gradient_model"]


def gradient_model(estimator, purpose):
    """The estimator as a differentiable module, or a TypeError that says what still works."""
    try:
        return as_torch(estimator)
    except TypeError as exc:
        raise TypeError(f"{purpose} needs gradients through the estimator. {exc}") from exc


class ClassPredictor:
    """Predicted class indices of float32 batches, on the model's device.

    Uses the differentiable view when the estimator has one (no copies to NumPy),
    and the estimator's own ``predict`` otherwise, so that black-box evaluations
    work on any classifier.

    Parameters
    ----------
    estimator : fitted classifier
    differentiable : bool, default=False
        Require the differentiable view: a TypeError, naming ``purpose``, if
        the estimator has none.
    purpose : str, default="This evaluation"
        What needs the gradients, for that error message.

    Attributes
    ----------
    module : EstimatorModule or None
        The differentiable view, or None where only ``predict`` is used.
    device : torch.device
        Where the batches are to be (the CPU for ``predict``).
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
        return torch.from_numpy(label_indices(self.estimator.classes_, labels)).to(x.device)

    def _as_fitted(self, X):
        """Rows under the column names the estimator was fitted with, so predict is quiet."""
        names = getattr(self.estimator, "feature_names_in_", None)
        if names is None:
            return X
        return pd.DataFrame(X, columns=names)
