"""The prediction methods of a classifier whose network returns one logit per class."""

from __future__ import annotations

import torch

from .._torch import to_numpy

__all__ = ["LogitClassifierMixin"]


class LogitClassifierMixin:
    """``decision_function``, ``predict_proba``, ``predict_log_proba`` and ``predict`` from logits.

    A class using it defines ``_logits(X)``: X checked against the fitted
    estimator and run through the network, as a float32 tensor of shape
    ``(n_samples, n_classes)`` whose column ``j`` scores ``classes_[j]``.
    """

    def _logits(self, X) -> torch.Tensor:
        raise NotImplementedError

    def decision_function(self, X):
        """Logits; for two classes, the margin ``logit_1 - logit_0`` (1-D).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes), float32
            Decision scores (logits) of each sample.
        """
        logits = self._logits(X)
        if logits.shape[1] == 2:
            logits = logits[:, 1] - logits[:, 0]
        return to_numpy(logits)

    def predict_proba(self, X):
        """Softmax of the logits.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probability of each class, in the order of ``classes_``.
        """
        return to_numpy(torch.softmax(self._logits(X), dim=1))

    def predict_log_proba(self, X):
        """Log-softmax of the logits.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probabilities of the classes, in the order of ``classes_``.
        """
        return to_numpy(torch.log_softmax(self._logits(X), dim=1))

    def predict(self, X):
        """Class with the largest logit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Predicted class of each sample.
        """
        winners = to_numpy(self._logits(X).argmax(dim=1))  # first: it checks the fit
        return self.classes_[winners]
