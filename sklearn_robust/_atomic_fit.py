"""A fit that stops half-way (Ctrl-C, an error) leaves the estimator as it found it."""

from __future__ import annotations

import copy
from contextlib import contextmanager

__all__ = ["all_or_nothing"]


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
