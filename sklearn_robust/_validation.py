"""Input validation shared by the estimators: scikit-learn's, plus float32's range."""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import validate_data

__all__ = ["FLOAT32_MAX", "check_float32_range", "validate_float_data"]

FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_float32_range(X, name="X"):
    """Refuse finite values that a cast to float32 would turn into infinity.

    Every computation of this package runs in float32; a float64 value beyond
    about 3.4e38 would become ``inf`` there and then NaN, silently.

    Parameters
    ----------
    X : ndarray
        Validated (finite) numeric input.
    name : str, default="X"
        How the error message names the input.

    Returns
    -------
    X : ndarray
        The input, unchanged.

    Raises
    ------
    ValueError
        If any absolute value exceeds float32's largest finite value.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_robust._validation import check_float32_range
    >>> check_float32_range(np.array([[1e39]]))
    Traceback (most recent call last):
    ...
    ValueError: X holds values up to 1e+39 in absolute value, beyond float32's range ...
    """
    dtype = getattr(X, "dtype", None)
    if dtype is None or dtype.kind != "f" or dtype.itemsize <= 4 or X.size == 0:
        return X
    largest = max(float(np.max(X)), -float(np.min(X)))
    if largest > FLOAT32_MAX:
        raise ValueError(
            f"{name} holds values up to {largest:.3g} in absolute value, beyond float32's "
            f"range (+-{FLOAT32_MAX:.3g}) in which this package computes; rescale {name}."
        )
    return X


def validate_float_data(estimator, X="no_validation", y="no_validation", **check_params):
    """scikit-learn's ``validate_data`` for float input, refusing values float32 cannot hold.

    ``dtype`` defaults to ``[np.float32, np.float64]`` (float input kept as it is,
    anything else made float32). The return value is ``validate_data``'s.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_robust._validation import validate_float_data
    >>> validate_float_data(StandardScaler(), np.ones((2, 3), dtype=int)).dtype
    dtype('float32')
    """
    check_params.setdefault("dtype", [np.float32, np.float64])
    out = validate_data(estimator, X, y, **check_params)
    if isinstance(X, str) and X == "no_validation":
        return out
    no_y = y is None or (isinstance(y, str) and y == "no_validation")
    check_float32_range(out if no_y else out[0])
    return out
