"""Input validation shared by the estimators: scikit-learn's, plus float32's range.

Also the small checks several modules need: integer parameters, labels as class indices,
and scikit-learn's error for a parameter rule that ``validate_params`` cannot express.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = [
    "FLOAT32_MAX",
    "check_fitted_estimator",
    "check_float32_range",
    "check_int",
    "invalid_parameter",
    "label_indices",
    "validate_float_data",
]

FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_fitted_estimator(estimator):
    """scikit-learn's ``check_is_fitted``, with a way out for a bare torch module.

    A trained ``torch.nn.Module`` is not an estimator; scikit-learn would only
    say so. The error here names :class:`~sklearn_robust.nn.TorchClassifier`,
    which makes it one.
    """
    if isinstance(estimator, torch.nn.Module):
        raise TypeError(
            f"Got a torch module ({type(estimator).__name__}), not a fitted estimator. Wrap a "
            "trained network as a classifier first: "
            "sklearn_robust.nn.TorchClassifier(module, classes=[...], input_shape=...)."
        )
    check_is_fitted(estimator)


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


def check_int(value, name, *, minimum) -> int:
    """An integer parameter of at least ``minimum``, as a Python int.

    Booleans are refused although they are integers: ``resolution=True`` is a mistake.

    Raises
    ------
    ValueError
        If ``value`` is not an integer or is below ``minimum``; the message names it.

    Examples
    --------
    >>> from sklearn_robust._validation import check_int
    >>> check_int(3, "resolution", minimum=2)
    3
    >>> check_int(1.5, "resolution", minimum=2)
    Traceback (most recent call last):
    ...
    ValueError: resolution must be an integer >= 2; got 1.5.
    """
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def invalid_parameter(name, caller, requirement, value) -> InvalidParameterError:
    """scikit-learn's error for a parameter that breaks a rule ``validate_params`` cannot express.

    Worded as ``validate_params`` words its own errors, so that a function decorated
    with it renames ``caller`` to itself when the error passes through it (as when
    :func:`~sklearn_robust.robustness.pgd` checks its keywords through
    :func:`~sklearn_robust.robustness.prepare_attack`).

    Parameters
    ----------
    name : str
        The parameter.
    caller : str
        The function whose parameter it is.
    requirement : str
        What the value must be, e.g. ``"< max_eps=1.0"``.
    value : object
        The value given.

    Returns
    -------
    InvalidParameterError
        To be raised; it is a ValueError and a TypeError.

    Examples
    --------
    >>> from sklearn_robust._validation import invalid_parameter
    >>> error = invalid_parameter("tol", "critical_distance", "< max_eps=1.0", 2.0)
    >>> print(error)
    The 'tol' parameter of critical_distance must be < max_eps=1.0. Got 2.0 instead.
    >>> isinstance(error, ValueError) and isinstance(error, TypeError)
    True
    """
    return InvalidParameterError(
        f"The {name!r} parameter of {caller} must be {requirement}. Got {value!r} instead."
    )


def label_indices(classes, y) -> np.ndarray:
    """Positions of the labels ``y`` in the sorted array ``classes``; unknown labels raise.

    Parameters
    ----------
    classes : array-like of shape (n_classes,)
        Sorted, as scikit-learn's ``classes_`` are.
    y : array-like
        Labels, of any shape.

    Returns
    -------
    indices : ndarray of int64, of the shape of ``y``

    Raises
    ------
    ValueError
        If ``y`` holds a label that is not in ``classes``; the message lists a few.

    Examples
    --------
    >>> from sklearn_robust._validation import label_indices
    >>> label_indices(["cat", "dog"], ["dog", "dog", "cat"]).tolist()
    [1, 1, 0]
    """
    classes, y = np.asarray(classes), np.asarray(y)
    # searchsorted gives where an unknown label would go: clipped, then compared, it is caught.
    positions = np.clip(np.searchsorted(classes, y), 0, len(classes) - 1)
    unknown = classes[positions] != y
    if np.any(unknown):
        raise ValueError(
            f"y holds labels the estimator does not know: {np.unique(y[unknown])[:5].tolist()}; "
            f"its classes are {classes.tolist()}."
        )
    return positions.astype(np.int64)
