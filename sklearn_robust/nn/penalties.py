"""Penalties on the hidden representation, added to the cross-entropy of a classifier."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real

import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval

__all__ = ["L2Penalty", "Penalty", "PenaltyBatch", "encoding_weights"]


@dataclass
class PenaltyBatch:
    """What a penalty sees of one training minibatch.

    Attributes
    ----------
    inputs : torch.Tensor of shape (batch, n_features)
        The minibatch as fed to the module; ``requires_grad`` is set when the
        penalty's ``needs_input_grad`` is True.
    hidden : torch.Tensor of shape (batch, width)
        The hidden representation the module returned (flattened per example).
    logits : torch.Tensor of shape (batch, n_classes)
    targets : torch.Tensor of shape (batch,), int64
        Encoded class labels.
    module : torch.nn.Module
        The module being trained (L2Penalty reads its encoding weights).
    """

    inputs: torch.Tensor
    hidden: torch.Tensor
    logits: torch.Tensor
    targets: torch.Tensor
    module: torch.nn.Module


class Penalty(BaseEstimator):
    """Base class: a term ``strength * R(hidden)`` added to the training loss.

    Subclasses implement :meth:`term`, the unscaled value on one minibatch; the
    classifier clones the penalty at ``fit`` (so fitted state never leaks into
    the parameter) and calls :meth:`on_epoch_begin` before every epoch.
    Being scikit-learn estimators, penalties expose their hyperparameters to
    ``GridSearchCV`` as ``clf__penalty__strength``.
    """

    #: Whether the minibatch inputs must require gradients (Jacobian penalties).
    needs_input_grad = False

    _parameter_constraints: dict = {"strength": [Interval(Real, 0, None, closed="left")]}

    def __call__(self, batch: PenaltyBatch) -> torch.Tensor:
        """``strength * term(batch)``; exactly zero, with no work, when strength is 0."""
        if self.strength == 0:
            return batch.logits.new_zeros(())
        return self.strength * self.term(batch)

    def term(self, batch: PenaltyBatch) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def on_epoch_begin(self, hidden_of, X) -> None:
        """Hook before each epoch; ``hidden_of(X)`` gives the hidden layer of X (no grad)."""

    def validate(self) -> None:
        """Check the hyperparameters (called by the classifier before any work)."""
        self._validate_params()


def encoding_weights(module):
    """The weight matrices that produce the hidden representation.

    A module with an ``encoder`` attribute (as :class:`~sklearn_robust.nn.modules.MLP`)
    contributes that submodule's weights; otherwise every parameter with two or
    more dimensions outside a submodule called ``head`` counts.
    """
    if hasattr(module, "encoder"):
        named = module.encoder.named_parameters()
    else:
        named = ((n, p) for n, p in module.named_parameters() if not n.startswith("head."))
    return [param for _, param in named if param.ndim >= 2]


class L2Penalty(Penalty):
    """Weight decay of the encoding weights: ``strength * sum ||W||_F^2``.

    Holzhausen et al. regularize the encoder of their one-hidden-layer models
    this way ("L2"), which bounds the hidden Jacobian globally.

    Parameters
    ----------
    strength : float, default=1e-3
        Multiplier of the summed squared encoding weights.

    Examples
    --------
    >>> from sklearn_robust.nn.penalties import L2Penalty
    >>> L2Penalty(strength=1e-2)
    L2Penalty(strength=0.01)
    """

    def __init__(self, strength=1e-3):
        self.strength = strength

    def term(self, batch):
        return sum(weight.pow(2).sum() for weight in encoding_weights(batch.module))
