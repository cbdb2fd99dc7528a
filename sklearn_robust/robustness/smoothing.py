"""Randomized smoothing (Cohen, Rosenfeld & Kolter, 2019): certified L2 radii, smoothed labels."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from scipy.stats import beta, binom, norm
from sklearn.utils._param_validation import (
    Interval,
    validate_parameter_constraints,
    validate_params,
)

from .._torch import forward_in_chunks, seed_from, to_numpy, to_tensor, torch_generator
from ._checks import check_inputs
from ._predictor import ClassPredictor

__all__ = ["SMOOTHING_CONSTRAINTS", "certify", "check_smoothing_params", "smoothed_predict"]

# certify's parameters; smoothed_predict takes them all but n0, and
# certified_accuracy_scorer checks its keywords with them.
SMOOTHING_CONSTRAINTS = {
    "estimator": "no_validation",
    "X": ["array-like"],
    "sigma": [Interval(Real, 0, None, closed="neither")],
    "n0": [Interval(Integral, 1, None, closed="left")],
    "n": [Interval(Integral, 1, None, closed="left")],
    "alpha": [Interval(Real, 0, 1, closed="neither")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    # Any label; that it is not one of the estimator's classes is checked with the estimator.
    "abstain": "no_validation",
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


@validate_params(SMOOTHING_CONSTRAINTS, prefer_skip_nested_validation=True)
def certify(
    estimator,
    X,
    sigma,
    n0=100,
    n=10000,
    alpha=0.001,
    *,
    batch_size=10000,
    abstain=-1,
    random_state=None,
    verbose=0,
):
    """Predict with the Gaussian-smoothed classifier and certify L2 radii (CERTIFY).

    The smoothed classifier ``g(x) = argmax_c P(f(x + e) = c)``, ``e ~ N(0, sigma^2 I)``,
    is constant on the L2 ball of radius ``sigma * Phi^-1(pA)`` around x, where ``pA``
    is the probability of its top class (Cohen et al., theorem 1). Per example,
    ``n0`` noisy copies choose the top class cA, and ``n`` fresh ones count its
    votes nA; the one-sided Clopper-Pearson bound
    ``pA_lower = Beta.ppf(alpha, nA, n - nA + 1)`` holds with probability
    ``1 - alpha``. Where ``pA_lower < 0.5`` the example abstains, else it gets cA
    and the radius ``sigma * Phi^-1(pA_lower)``. Needs only ``predict``, so any
    fitted classifier works; the differentiable torch view is used when there is one.

    Parameters
    ----------
    estimator : fitted classifier
        The base classifier ``f``.
    X : array-like of shape (n_samples, n_features)
        Examples to classify and certify.
    sigma : float
        Standard deviation of the Gaussian noise, > 0.
    n0 : int, default=100
        Noise draws per example that select the class.
    n : int, default=10000
        Noise draws per example that estimate its probability.
    alpha : float, default=0.001
        Probability, per example, that the radius is wrong; in (0, 1).
    batch_size : int, default=10000
        Most noisy inputs per forward pass.
    abstain : object, default=-1
        Label of the examples that abstain; it must not be one of ``classes_``.
        The labels keep the dtype of ``classes_`` where it holds ``abstain``, and
        are an object array otherwise (``abstain=None`` always gives one).
    random_state : int, RandomState instance or None, default=None
        Seeds the noise: the same value (and batch_size) gives the same result.
    verbose : int, default=0
        Print a progress line per chunk of examples.

    Returns
    -------
    labels : ndarray of shape (n_samples,)
        Values of ``classes_``, or ``abstain``.
    radii : ndarray of shape (n_samples,), float64
        Certified L2 radius; 0 where the example abstains.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_robust.robustness import certify
    >>> X = np.array([[-2.0, 0.0], [-1.0, 0.0], [1.0, 0.0], [2.0, 0.0]]); y = [0, 0, 1, 1]
    >>> model = LogisticRegression().fit(X, y)   # boundary x0 = 0
    >>> labels, radii = certify(model, [[1.0, 0.0], [0.0, 0.0]], sigma=0.5, random_state=0)
    >>> labels.tolist()   # [0, 0] lies on the boundary: it abstains
    [1, -1]
    >>> np.round(radii, 2).tolist()   # [1, 0] is 1.0 from the boundary
    [0.97, 0.0]
    """
    X, classes = _validate(estimator, X, abstain)
    selection, estimation = _votes(
        estimator, X, sigma, (n0, n), batch_size, random_state, verbose, "certify"
    )
    top = selection.argmax(axis=1)
    n_top = estimation[np.arange(len(top)), top]
    # The Beta quantile is undefined for nA = 0, where the bound is 0.
    p_lower = np.where(n_top > 0, beta.ppf(alpha, np.maximum(n_top, 1), n - n_top + 1), 0.0)
    certified = p_lower >= 0.5
    radii = np.where(certified, sigma * norm.ppf(p_lower), 0.0)
    return _labels(classes, top, certified, abstain), radii


@validate_params(
    {key: value for key, value in SMOOTHING_CONSTRAINTS.items() if key != "n0"},
    prefer_skip_nested_validation=True,
)
def smoothed_predict(
    estimator,
    X,
    sigma,
    n=10000,
    alpha=0.001,
    *,
    batch_size=10000,
    abstain=-1,
    random_state=None,
    verbose=0,
):
    """Predict with the Gaussian-smoothed classifier, abstaining when unsure (PREDICT).

    Per example, ``n`` noisy copies ``x + e``, ``e ~ N(0, sigma^2 I)``, vote;
    with nA and nB the two largest counts, a two-sided binomial test of nA
    out of ``nA + nB`` at p = 0.5 (p-value ``min(1, 2 * Binom.cdf(min(nA, nB),
    nA + nB, 0.5))``) decides: the example gets the top class if the p-value is
    at most ``alpha`` and abstains otherwise. The label returned differs from
    the smoothed classifier's with probability at most ``alpha`` (Cohen et al.,
    theorem 2).

    Parameters
    ----------
    estimator : fitted classifier
        The base classifier ``f``.
    X : array-like of shape (n_samples, n_features)
        Examples to classify.
    sigma : float
        Standard deviation of the Gaussian noise, > 0.
    n : int, default=10000
        Noise draws per example.
    alpha : float, default=0.001
        Level of the test; in (0, 1).
    batch_size : int, default=10000
        Most noisy inputs per forward pass.
    abstain : object, default=-1
        Label of the examples that abstain; see :func:`certify`.
    random_state : int, RandomState instance or None, default=None
        Seeds the noise.
    verbose : int, default=0
        Print a progress line per chunk of examples.

    Returns
    -------
    labels : ndarray of shape (n_samples,)
        Values of ``classes_``, or ``abstain``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_robust.robustness import smoothed_predict
    >>> X = np.array([[-2.0, 0.0], [-1.0, 0.0], [1.0, 0.0], [2.0, 0.0]]); y = ["a", "a", "b", "b"]
    >>> model = LogisticRegression().fit(X, y)
    >>> smoothed_predict(model, [[-1.0, 0.0], [0.0, 0.0]], sigma=0.5, abstain=None,
    ...                  random_state=0).tolist()
    ['a', None]
    """
    X, classes = _validate(estimator, X, abstain)
    (counts,) = _votes(estimator, X, sigma, (n,), batch_size, random_state, verbose, "predict")
    order = np.argsort(-counts, axis=1, kind="stable")
    top = order[:, 0]
    n_top = np.take_along_axis(counts, order[:, :1], axis=1)[:, 0]
    # A classifier with one class has no runner-up: every draw votes for the top class.
    n_second = np.take_along_axis(counts, order[:, 1:2], axis=1)[:, 0] if len(classes) > 1 else 0
    p_value = np.minimum(1.0, 2 * binom.cdf(np.minimum(n_top, n_second), n_top + n_second, 0.5))
    return _labels(classes, top, p_value <= alpha, abstain)


def check_smoothing_params(**params):
    """Check parameters of :func:`certify` by name, without data.

    Each is checked against :data:`SMOOTHING_CONSTRAINTS`, the constraints
    :func:`certify` and :func:`smoothed_predict` are decorated with;
    :func:`~sklearn_robust.robustness.certified_accuracy_scorer` makes this
    check at construction.

    Parameters
    ----------
    **params
        Parameters of :func:`certify` (``sigma``, ``n0``, ``n``, ``alpha``,
        ``batch_size``, ``random_state``, ``verbose``).

    Raises
    ------
    InvalidParameterError
        Naming the first bad parameter; a ValueError and a TypeError.

    Examples
    --------
    >>> from sklearn_robust.robustness.smoothing import check_smoothing_params
    >>> check_smoothing_params(sigma=0.5, n=0)
    Traceback (most recent call last):
    ...
    sklearn.utils._param_validation.InvalidParameterError: The 'n' parameter of certify ...
    """
    validate_parameter_constraints(SMOOTHING_CONSTRAINTS, params, caller_name="certify")


def _validate(estimator, X, abstain):
    """Check X and abstain against the estimator; returns X (float32) and ``classes_``."""
    X, _ = check_inputs(estimator, X)
    classes = np.asarray(estimator.classes_)
    if abstain is not None and any(label == abstain for label in classes.tolist()):
        raise ValueError(
            f"abstain={abstain!r} is one of the estimator's classes; pass another value, "
            "e.g. abstain=None (the labels are then an object array)."
        )
    return X, classes


def _votes(estimator, X, sigma, draws, batch_size, random_state, verbose, name):
    """Votes per (example, class) of ``f(x + e)``, one count array per entry of ``draws``.

    The examples go in chunks that fit the largest number of draws into one
    forward pass, and every count of ``draws`` is done on a chunk before the
    next, so that progress is reported once per chunk.
    """
    predictor = ClassPredictor(estimator)
    generator = _generator(predictor.device, random_state)
    X = to_tensor(X, predictor.device)
    n_samples, n_classes = X.shape[0], len(estimator.classes_)
    done = 0

    def votes(chunk):
        nonlocal done
        counts = tuple(
            _chunk_votes(predictor, chunk, sigma, n_draws, n_classes, batch_size, generator)
            for n_draws in draws
        )
        done += chunk.shape[0]
        if verbose > 0:
            print(f"[{name}] {done}/{n_samples} examples")
        return counts

    per_chunk = max(1, batch_size // max(draws))
    return [to_numpy(total) for total in forward_in_chunks(votes, X, per_chunk)]


def _chunk_votes(predictor, chunk, sigma, n_draws, n_classes, batch_size, generator):
    """Votes of ``n_draws`` noisy copies of each row of ``chunk``, at most batch_size per pass."""
    n_rows, n_features = chunk.shape
    # Only one example per chunk can have more draws than a pass holds; they are then split.
    per_pass = max(1, min(n_draws, batch_size // n_rows))
    counts = torch.zeros((n_rows, n_classes), dtype=torch.int64, device=chunk.device)
    for done in range(0, n_draws, per_pass):
        k = min(per_pass, n_draws - done)
        noisy = torch.empty((n_rows, k, n_features), device=chunk.device, dtype=chunk.dtype)
        # Drawn at scale sigma and shifted in place: the noise is the cost that rivals the
        # forward pass on CPU, so the batch is written once and never copied.
        noisy.normal_(0.0, sigma, generator=generator).add_(chunk[:, None, :])
        votes = predictor(noisy.view(n_rows * k, n_features)).view(n_rows, k)
        counts.scatter_add_(1, votes, torch.ones_like(votes))
    return counts


def _generator(device, random_state):
    """Draw the noise where the model runs, seeded from random_state."""
    if device.type == "cpu":
        return torch_generator(random_state)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed_from(random_state))
    return generator


def _labels(classes, top, decided, abstain):
    labels = np.full(top.shape, abstain, dtype=_label_dtype(classes, abstain))
    labels[decided] = classes[top[decided]]
    return labels


def _label_dtype(classes, abstain):
    """The classes' dtype (widened if need be) where it holds ``abstain`` as it is, else object.

    -1 among integer classes keeps an integer array; -1 among strings or None
    gives an object array rather than the string "-1" or "None".
    """
    try:
        dtype = np.result_type(classes, np.asarray(abstain))
        holds = np.asarray(abstain, dtype=dtype).item() == abstain
    except (TypeError, ValueError, OverflowError):
        return np.dtype(object)
    return dtype if holds and dtype.kind == classes.dtype.kind else np.dtype(object)
