"""A fit that stops half-way (Ctrl-C, an error) leaves the estimator as it found it."""

from __future__ import annotations

import copy
from contextlib import contextmanager

__all__ = ["all_or_nothing", "train_epochs"]


@contextmanager
def all_or_nothing(estimator):
    """Put back ``estimator``'s attributes if the block raises (Ctrl-C included); re-raise.

    A fit stopped half-way must not leave a half-trained model that looks fitted:
    a fresh estimator stays unfitted, a fitted one keeps its previous fit. The
    attributes other than the parameters are copied on entry, since training
    updates some of them in place (weights, synapses, shuffle streams, histories).

    Examples
    --------
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_robust._atomic_fit import all_or_nothing
    >>> scaler = StandardScaler()
    >>> try:
    ...     with all_or_nothing(scaler):
    ...         scaler.mean_ = 0.0
    ...         raise KeyboardInterrupt
    ... except KeyboardInterrupt:
    ...     pass
    >>> hasattr(scaler, "mean_")
    False
    """
    params = estimator.get_params(deep=False)
    saved = {
        name: value if name in params else copy.deepcopy(value)
        for name, value in vars(estimator).items()
    }
    try:
        yield
    except BaseException:
        vars(estimator).clear()
        vars(estimator).update(saved)
        raise


def train_epochs(estimator, X, n_epochs, *, restart):
    """Train ``estimator`` for ``n_epochs`` passes over X, all or nothing; return it.

    The body that ``fit`` and ``partial_fit`` share in the estimators trained epoch by
    epoch; they provide ``_validate_input(X, reset)``, ``_initialise(X)`` and
    ``_train(X, n_epochs)``.

    Parameters
    ----------
    estimator : estimator
        The estimator to train, left as it was if training does not complete.
    X : array-like of shape (n_samples, n_features)
        Training data.
    n_epochs : int
        Passes over X.
    restart : bool
        Check X as new data and initialise from it (``fit``, and a first
        ``partial_fit``); False continues from the current state.

    Returns
    -------
    estimator
        The same estimator, trained.
    """
    with all_or_nothing(estimator):
        X = estimator._validate_input(X, reset=restart)
        if restart:
            estimator._initialise(X)
        estimator._train(X, n_epochs)
    return estimator
