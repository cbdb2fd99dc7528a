"""Covariance (PCA) spectra of representations and power-law fits to their decay."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import check_is_fitted, validate_data

from ._torch import binary_exponent, resolve_device, to_numpy, torch_generator
from ._validation import invalid_parameter

__all__ = ["PowerLawFit", "PowerLawSpectrum", "covariance_spectrum", "fit_power_law"]

WEIGHTINGS = ("uniform", "log")
# The data product's floating-point type: float32 is the package's default (fast on any
# device); float64 keeps the eigenvalues far below lambda_1 of heavy-tailed
# representations, such as a Krotov-Hopfield layer's ReLU(h)^n.
PRECISIONS = ("float32", "float64")
_TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}

# Eigenvalues at or below this fraction of lambda_1 are treated as zero. The data
# product is formed in float32 (unit round-off ~6e-8), so its eigenvalues carry an
# absolute error of order 1e-7 * lambda_1; anything under 1e-6 * lambda_1 is
# round-off, and its logarithm would drag the slope towards an arbitrary value.
RELATIVE_FLOOR = 1e-6
# The same for float64 data whose product is formed in float64 (precision="float64"):
# round-off of order 1e-16 * n * lambda_1 stays well under it.
FLOAT64_FLOOR = 1e-12

SCALE_CHECK_COLUMNS = ["width", "repeat", "alpha", "alpha_stderr", "r2", "n_max"]

# A regression line needs three points to have a residual (and so a standard error);
# two points still give a slope, with an infinite standard error and a warning.
MIN_POINTS = 3
MIN_RANKS = 2

# The parameters of PowerLawSpectrum, which the functions it is built on take too.
# That n_max exceeds n_min is checked by _check_rank_range.
_PARAMETER_CONSTRAINTS = {
    "n_min": [Interval(Integral, 1, None, closed="left")],
    "n_max": [Interval(Integral, 2, None, closed="left")],
    "weighting": [StrOptions(set(WEIGHTINGS))],
    # A name is checked by resolve_device, as torch reads it.
    "device": [str, torch.device, None],
    "precision": [StrOptions(set(PRECISIONS))],
}


@validate_params(
    {
        "X": ["array-like"],
        "device": _PARAMETER_CONSTRAINTS["device"],
        "precision": _PARAMETER_CONSTRAINTS["precision"],
    },
    prefer_skip_nested_validation=True,
)
def covariance_spectrum(X, device="auto", precision="float32"):
    """Compute the eigenvalues of the sample covariance of ``X``, largest first.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data, one row per sample. Must be finite and have at least 2 samples.
    device : {"auto", "cpu", "cuda"} or torch.device, default="auto"
        Where the data product is computed; ``"auto"`` picks CUDA when available.
    precision : {"float32", "float64"}, default="float32"
        Floating-point type of the data product. float32 is accurate to about
        ``1e-7 * lambda_1`` in every eigenvalue; float64 to about ``1e-16 * lambda_1``,
        for spectra whose tail lies far below their top.

    Returns
    -------
    eigenvalues : ndarray of shape (n_features,), float64
        Eigenvalues of ``np.cov(X, rowvar=False)`` (ddof=1) in descending order.
        When ``n_samples < n_features`` the spectrum has at most ``n_samples - 1``
        nonzero values and is padded with zeros. An eigenvalue beyond float64's
        range (data above about ``1e154``) is returned as ``inf``, with a
        ``RuntimeWarning``; one below it (data under about ``1e-154``) as 0 or a
        subnormal number. :class:`PowerLawSpectrum` fits the spectrum's ratios,
        which are computed the same at any scale.

    Notes
    -----
    The ``O(n d min(n, d))`` product of the centred data is computed in
    ``precision`` (float32 by default) with torch, on the data divided by a power
    of two that brings it into ``[-1, 1]`` (an exact scaling): float32 squares
    overflow from about ``1e19`` and underflow under about ``1e-19``. The small
    eigenproblem is solved in float64 so that the tail of the spectrum is not
    lost to the solver's round-off, and the eigenvalues are scaled back.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_robust.spectrum import covariance_spectrum
    >>> X = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 1.0], [2.0, 1.0]])
    >>> np.round(covariance_spectrum(X, device="cpu"), 4)
    array([1.3333, 0.3333])
    """
    eigenvalues, exponent = _scaled_spectrum(X, device, precision)
    with np.errstate(over="ignore", under="ignore"):
        scaled_back = np.ldexp(eigenvalues, 2 * exponent)
    overflow = np.isinf(scaled_back)
    if overflow.any():
        warnings.warn(
            f"{int(overflow.sum())} covariance eigenvalues lie beyond float64's range and are "
            "returned as inf; their ratios, which PowerLawSpectrum fits, are exact. Rescale X "
            "for the values themselves.",
            RuntimeWarning,
            stacklevel=2,
        )
    return scaled_back


def _scaled_spectrum(X, device, precision="float32"):
    """The covariance spectrum of ``X / 2^e`` and ``e``: that of ``X`` is ``4^e`` times it.

    The power of two keeps the data in ``[-1, 1]`` for the float32 product, whatever
    the scale of ``X``; dividing by it is exact.
    """
    X = check_array(X, dtype=(np.float64, np.float32), ensure_min_samples=2)
    n_samples, n_features = X.shape
    # Scaled first, so that the mean's sum cannot overflow; centred on the host in
    # the input's own precision, as subtracting a large mean in float32 would
    # cancel the digits that carry the variance; scaled again, as centring can
    # leave much smaller values (a large mean, a small spread).
    first = binary_exponent(X)
    centred = np.ldexp(X, -first)
    centred -= centred.mean(axis=0)
    second = binary_exponent(centred)
    centred = torch.as_tensor(
        np.ldexp(centred, -second), dtype=_TORCH_DTYPES[precision], device=resolve_device(device)
    )
    product = _scatter_matrix(centred) / (n_samples - 1)
    eigenvalues = to_numpy(torch.linalg.eigvalsh(product.double())).astype(np.float64)
    eigenvalues = np.clip(eigenvalues[::-1], 0.0, None)  # eigvalsh is ascending
    eigenvalues = np.pad(eigenvalues, (0, n_features - eigenvalues.size))
    # Centring costs one degree of freedom: the rank is at most n_samples - 1, so
    # whatever the solver returns beyond it is round-off, not variance.
    eigenvalues[n_samples - 1 :] = 0.0
    return eigenvalues, first + second


def _scatter_matrix(centred):
    """The smaller of Xc^T Xc and Xc Xc^T; both share their nonzero eigenvalues."""
    if centred.shape[0] >= centred.shape[1]:
        return centred.T @ centred
    return centred @ centred.T


@dataclass(frozen=True)
class PowerLawFit:
    """Result of :func:`fit_power_law`: ``lambda_n / lambda_1 ~ exp(intercept) n^-alpha``.

    Built by :func:`fit_power_law`; each parameter is kept as the attribute of the
    same name.

    Parameters
    ----------
    alpha : float
        Decay exponent (minus the slope in log-log coordinates).
    alpha_stderr : float
        Standard error of the slope of the (weighted) least-squares line.
    r2 : float
        (Weighted) coefficient of determination of the line; 1 for an exact power law.
    intercept : float
        Intercept of the line, in natural-log units of ``lambda_n / lambda_1``.
    n_min : int
        First rank (1-based) actually used.
    n_max : int
        Last rank (1-based, inclusive) actually used.
    weighting : {"uniform", "log"}
        Weighting of the ranks in the regression.
    n_points : int
        Number of ranks in the fit, ``n_max - n_min + 1``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_robust.spectrum import fit_power_law
    >>> fit = fit_power_law(np.arange(1, 51) ** -2.0, n_min=1, n_max=50)
    >>> round(fit.alpha, 6), round(fit.r2, 6), fit.n_points
    (2.0, 1.0, 50)
    """

    alpha: float
    alpha_stderr: float
    r2: float
    intercept: float
    n_min: int
    n_max: int
    weighting: str
    n_points: int


@validate_params(
    {"eigenvalues": ["array-like"]}
    | {key: _PARAMETER_CONSTRAINTS[key] for key in ("n_min", "n_max", "weighting")}
    | {"relative_floor": [Interval(Real, 0, 1, closed="neither"), None]},
    prefer_skip_nested_validation=True,
)
def fit_power_law(eigenvalues, n_min=11, n_max=500, weighting="uniform", *, relative_floor=None):
    """Fit ``lambda_n = lambda_1 n^-alpha`` by linear regression in log-log coordinates.

    The regression is of ``log(lambda_n / lambda_1)`` on ``log n`` with an
    intercept over the ranks ``n_min .. n_max`` (1-based, inclusive), as in
    Appendix C of Holzhausen et al.; ``alpha`` is minus the slope.

    Parameters
    ----------
    eigenvalues : array-like of shape (n_eigenvalues,)
        Finite spectrum. It is sorted in descending order first, so the output of
        :func:`numpy.linalg.eigvalsh` (ascending) can be passed as is.
    n_min : int, default=11
        First rank of the fit (>= 1). Skipping the head avoids the few leading
        components that rarely follow the bulk's power law.
    n_max : int, default=500
        Last rank of the fit (> ``n_min``). It is clipped, with a ``UserWarning``, to
        the number of numerically nonzero eigenvalues (those above
        ``relative_floor * lambda_1``).
    weighting : {"uniform", "log"}, default="uniform"
        ``"uniform"`` gives every rank the same weight; ``"log"`` weights rank ``n``
        by ``1/n`` so that every octave of ranks counts the same.
    relative_floor : float in (0, 1) or None, default=None
        Eigenvalues at or below ``relative_floor * lambda_1`` count as zero;
        None: ``1e-6``, the round-off of a float32 covariance product.

    Returns
    -------
    PowerLawFit
        The fit, recording the rank range actually used.

    Raises
    ------
    ValueError
        If the input is not a finite 1-D array, ``lambda_1 <= 0``, the parameters
        are invalid, or fewer than 2 eigenvalues are numerically nonzero.

    Warns
    -----
    UserWarning
        If ``n_max`` is clipped, or if fewer than 3 ranks remain in the requested
        range and the fit falls back to ranks ``1 .. n_usable``; with only 2 usable
        ranks the line has no residual and ``alpha_stderr`` is infinite.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_robust.spectrum import fit_power_law
    >>> fit = fit_power_law(np.arange(1, 201) ** -1.0, n_min=11, n_max=100)
    >>> round(fit.alpha, 6), (fit.n_min, fit.n_max)
    (1.0, (11, 100))
    """
    _check_rank_range(n_min, n_max, "fit_power_law")
    floor = RELATIVE_FLOOR if relative_floor is None else relative_floor
    spectrum = _as_spectrum(eigenvalues)
    first, last = _fit_range(n_min, n_max, _count_usable(spectrum, floor), spectrum.size, floor)
    ranks = np.arange(first, last + 1, dtype=np.float64)
    x = np.log(ranks)
    y = np.log(spectrum[first - 1 : last] / spectrum[0])
    weights = 1.0 / ranks if weighting == "log" else np.ones_like(ranks)
    slope, intercept, stderr, r2 = _weighted_line(x, y, weights)
    return PowerLawFit(
        alpha=float(-slope),
        alpha_stderr=stderr,
        r2=r2,
        intercept=intercept,
        n_min=int(first),
        n_max=int(last),
        weighting=weighting,
        n_points=int(last - first + 1),
    )


def _check_rank_range(n_min, n_max, caller):
    """n_max must exceed n_min; the constraints check each one alone."""
    if n_max <= n_min:
        raise invalid_parameter("n_max", caller, f"> n_min={n_min}", n_max)


def _as_spectrum(eigenvalues):
    """A finite float64 1-D spectrum in descending order, with lambda_1 > 0."""
    spectrum = check_array(eigenvalues, ensure_2d=False, dtype=np.float64, input_name="eigenvalues")
    if spectrum.ndim != 1:
        raise ValueError(f"eigenvalues must be 1-D; got shape {spectrum.shape}.")
    spectrum = np.sort(spectrum)[::-1]
    if spectrum[0] <= 0:
        raise ValueError(f"The largest eigenvalue must be > 0; got {spectrum[0]!r}.")
    return spectrum


def _count_usable(spectrum, floor):
    """Number of leading eigenvalues that are numerically nonzero (above floor * lambda_1)."""
    return int(np.count_nonzero(spectrum > spectrum[0] * floor))


def _fit_range(n_min, n_max, n_usable, n_total, floor):
    """The 1-based inclusive ranks to fit, warning when the request cannot be honoured."""
    last = min(n_max, n_usable)
    if last - n_min + 1 >= MIN_POINTS:
        if last < n_max:
            warnings.warn(_clip_message(n_max, last, n_usable, n_total), UserWarning, stacklevel=3)
        return n_min, last
    if n_usable < MIN_RANKS:
        raise ValueError(
            f"A power-law fit needs at least {MIN_RANKS} numerically nonzero eigenvalues "
            f"(> {floor:g} * lambda_1); got {n_usable} of {n_total}."
        )
    consequence = (
        "" if n_usable >= MIN_POINTS else " Two points leave no residual: alpha_stderr is inf."
    )
    warnings.warn(
        f"The requested ranks {n_min}..{n_max} hold fewer than {MIN_POINTS} usable ranks: "
        f"only ranks 1..{n_usable} (of {n_total}) have numerically nonzero eigenvalues. "
        f"Falling back to ranks 1..{n_usable}.{consequence}",
        UserWarning,
        stacklevel=3,
    )
    return 1, n_usable


def _clip_message(n_max, last, n_usable, n_total):
    """Explain why n_max was lowered: a short spectrum or (numerically) zero eigenvalues."""
    if n_usable < n_total:
        reason = f"only {n_usable} of the {n_total} eigenvalues are numerically nonzero"
    else:
        reason = f"the spectrum has only {n_total} eigenvalues"
    return f"n_max={n_max} was clipped to {last}: {reason}."


def _weighted_line(x, y, weights):
    """Weighted least-squares line: slope, intercept, slope standard error and R^2."""
    total = weights.sum()
    x_mean = weights @ x / total
    y_mean = weights @ y / total
    dx, dy = x - x_mean, y - y_mean
    sxx = weights @ dx**2  # > 0: the ranks (and so their logs) are distinct
    slope = (weights @ (dx * dy)) / sxx
    residual = weights @ (dy - slope * dx) ** 2
    spread = weights @ dy**2
    # A perfectly flat stretch (all y equal) is an exact power law with alpha = 0.
    r2 = 1.0 - residual / spread if spread > 0 else 1.0
    # The weights are relative precisions, so the residual variance is estimated
    # from the data, with two degrees of freedom spent on the line.
    stderr = np.sqrt(residual / (x.size - 2) / sxx) if x.size > 2 else np.inf
    return float(slope), float(y_mean - slope * x_mean), float(stderr), float(r2)


class PowerLawSpectrum(BaseEstimator):
    """Power-law fit ``lambda_n ~ n^-alpha`` to the covariance spectrum of a representation.

    Following Holzhausen et al., "Neural robustness: geometry and spectrum", the
    ordered covariance (PCA) spectrum of ``X`` is normalised by its largest
    eigenvalue and a line is fitted to it in log-log coordinates over the ranks
    ``n_min .. n_max``. :meth:`scale_check` repeats the fit on random subsets of
    the units (a true power law is scale invariant) and :meth:`white_noise_alpha`
    calibrates the estimate on white noise, whose true exponent is 0.

    Parameters
    ----------
    n_min : int, default=11
        First rank (1-based) of the fit.
    n_max : int, default=500
        Last rank of the fit; clipped (with a warning) to the numerically nonzero
        part of the spectrum.
    weighting : {"uniform", "log"}, default="uniform"
        Weighting of the ranks; ``"log"`` weights rank ``n`` by ``1/n``.
    device : {"auto", "cpu", "cuda"} or torch.device, default="auto"
        Where the covariance product is computed.
    precision : {"float32", "float64"}, default="float32"
        Floating-point type of the covariance product (see
        :func:`covariance_spectrum`): float64 for representations whose spectrum
        falls far below its top, such as a Krotov-Hopfield layer's.

    Attributes
    ----------
    eigenvalues_ : ndarray of shape (n_features_in_,)
        Covariance spectrum of the training data divided by its largest value
        (plot it against ``np.arange(1, n_features_in_ + 1)`` on log-log axes).
    alpha_ : float
        Fitted decay exponent.
    alpha_stderr_ : float
        Standard error of ``alpha_`` from the regression.
    r2_ : float
        Coefficient of determination of the log-log fit.
    intercept_ : float
        Intercept of the log-log line (natural log of ``lambda_n / lambda_1``).
    fit_range_ : tuple of (int, int)
        Ranks ``(n_min, n_max)`` actually used.
    weighting_ : str
        Weighting used.
    relative_floor_ : float
        Eigenvalues at or below ``relative_floor_ * lambda_1`` were treated as
        zero: ``1e-6``, or ``1e-12`` for float64 data with ``precision="float64"``.
    n_samples_fit_ : int
        Number of samples seen in :meth:`fit`.
    n_features_in_ : int
        Number of features seen in :meth:`fit`.

    See Also
    --------
    covariance_spectrum : The spectrum on its own.
    fit_power_law : The fit on a given spectrum.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_robust.spectrum import PowerLawSpectrum
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(4000, 100)) * np.arange(1, 101) ** -0.5
    >>> est = PowerLawSpectrum(n_min=2, n_max=50, device="cpu").fit(X)
    >>> round(est.alpha_, 1), est.fit_range_
    (1.0, (2, 50))
    """

    _parameter_constraints: dict = dict(_PARAMETER_CONSTRAINTS)

    def __init__(
        self, n_min=11, n_max=500, weighting="uniform", device="auto", precision="float32"
    ):
        self.n_min = n_min
        self.n_max = n_max
        self.weighting = weighting
        self.device = device
        self.precision = precision

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Compute the spectrum of ``X`` and fit the power law.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Representation, one row per sample; at least 2 samples and 2 features.
        y : None
            Ignored.

        Returns
        -------
        self : PowerLawSpectrum
            The fitted estimator.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_robust.spectrum import PowerLawSpectrum
        >>> X = np.random.default_rng(0).normal(size=(500, 20)) * np.arange(1, 21) ** -1.0
        >>> est = PowerLawSpectrum(n_min=1, n_max=20, device="cpu").fit(X)
        >>> float(est.eigenvalues_[0]), est.fit_range_
        (1.0, (1, 20))
        """
        self._check_range()
        # Two eigenvalues are the fewest that give a slope (three give it an error).
        X = validate_data(
            self, X, dtype=(np.float64, np.float32), ensure_min_samples=2, ensure_min_features=2
        )
        self._warn_if_rank_deficient(X.shape)
        eigenvalues, fit = self._spectrum_and_fit(X)
        self.eigenvalues_ = eigenvalues / eigenvalues[0]
        self.relative_floor_ = self._floor(X)
        self.alpha_ = fit.alpha
        self.alpha_stderr_ = fit.alpha_stderr
        self.r2_ = fit.r2
        self.intercept_ = fit.intercept
        self.fit_range_ = (fit.n_min, fit.n_max)
        self.weighting_ = fit.weighting
        self.n_samples_fit_ = X.shape[0]
        return self

    def score(self, X, y=None):
        """R^2 of the power-law fit, with the same settings, to the spectrum of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)
            Data to score.
        y : None
            Ignored.

        Returns
        -------
        score : float
            Coefficient of determination of the log-log line; 1 for an exact power law.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_robust.spectrum import PowerLawSpectrum
        >>> X = np.random.default_rng(0).normal(size=(500, 20)) * np.arange(1, 21) ** -1.0
        >>> est = PowerLawSpectrum(n_min=1, n_max=20, device="cpu").fit(X)
        >>> est.score(X) == est.r2_
        True
        """
        check_is_fitted(self)
        X = validate_data(
            self, X, dtype=(np.float64, np.float32), ensure_min_samples=2, reset=False
        )
        return self._spectrum_and_fit(X)[1].r2

    def scale_check(self, X, widths=None, n_repeats=1, random_state=None):
        """Refit the exponent on random subsets of the units of ``X`` (figure 2's scale check).

        A power-law spectrum is scale invariant: picking ``w`` of the ``d`` units
        keeps ``lambda_n ~ n^-alpha``, so the fitted ``alpha`` should barely move
        with the width. The estimator does not need to be fitted.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Representation, one row per sample.
        widths : sequence of int, default=None
            Numbers of units to keep (each in ``3 .. n_features``). ``None`` means
            ``n_features // 8``, ``// 4``, ``// 2`` and ``n_features``, dropping
            widths below 3.
        n_repeats : int, default=1
            Random subsets drawn per width.
        random_state : int, RandomState instance or None, default=None
            Seed for the choice of units.

        Returns
        -------
        results : pandas.DataFrame
            One row per (width, repeat) with columns ``width``, ``repeat``,
            ``alpha``, ``alpha_stderr``, ``r2`` and ``n_max`` (last rank used).

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_robust.spectrum import PowerLawSpectrum
        >>> X = np.random.default_rng(0).normal(size=(2000, 64)) * np.arange(1, 65) ** -0.5
        >>> est = PowerLawSpectrum(n_min=2, n_max=8, device="cpu")
        >>> est.scale_check(X, widths=[16, 64], random_state=0)["width"].tolist()
        [16, 64]
        """
        self._validate_params()
        self._check_range()
        X = check_array(X, dtype=(np.float64, np.float32), ensure_min_samples=2)
        widths = _check_widths(widths, X.shape[1])
        if not isinstance(n_repeats, Integral) or n_repeats < 1:
            raise ValueError(f"n_repeats must be a positive integer; got {n_repeats!r}.")
        rng = check_random_state(random_state)
        rows = []
        for width in widths:
            for repeat in range(n_repeats):
                units = np.sort(rng.choice(X.shape[1], size=width, replace=False))
                fit = self._spectrum_and_fit(X[:, units])[1]
                rows.append((width, repeat, fit.alpha, fit.alpha_stderr, fit.r2, fit.n_max))
        return pd.DataFrame(rows, columns=SCALE_CHECK_COLUMNS)

    def white_noise_alpha(
        self, n_repeats=3, transform=None, n_input_features=None, random_state=None
    ):
        """Exponent the same fit finds on Gaussian white noise, whose true exponent is 0.

        The paper takes the deviation of this value from 0 as a proxy for the
        error of ``alpha_``. The noise has the fitted shape
        ``(n_samples_fit_, n_features_in_)``; with ``transform``, noise of shape
        ``(n_samples_fit_, n_input_features)`` is passed through it first, which
        gives the spectrum a layer produces on noise input.

        Parameters
        ----------
        n_repeats : int, default=3
            Independent noise draws.
        transform : callable or object with a ``transform`` method, default=None
            Maps noise of shape ``(n_samples, n_input_features)`` to a representation.
        n_input_features : int, default=None
            Width of the noise fed to ``transform``; required with ``transform``.
        random_state : int, RandomState instance or None, default=None
            Seed for the noise.

        Returns
        -------
        result : dict
            ``"alpha_mean"`` and ``"alpha_std"`` (population standard deviation, 0
            for one repeat) over the repeats, and ``"alphas"``, the individual values.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_robust.spectrum import PowerLawSpectrum
        >>> X = np.random.default_rng(0).normal(size=(4000, 40))
        >>> est = PowerLawSpectrum(n_min=2, n_max=20, device="cpu").fit(X)
        >>> abs(est.white_noise_alpha(random_state=0)["alpha_mean"]) < 0.2
        True
        """
        check_is_fitted(self)
        if not isinstance(n_repeats, Integral) or n_repeats < 1:
            raise ValueError(f"n_repeats must be a positive integer; got {n_repeats!r}.")
        apply = _as_callable(transform)
        n_noise = self._noise_width(transform, n_input_features)
        generator = torch_generator(random_state)
        alphas = []
        for _ in range(n_repeats):
            noise = to_numpy(torch.randn(self.n_samples_fit_, n_noise, generator=generator))
            representation = apply(noise)
            if isinstance(representation, torch.Tensor):
                representation = to_numpy(representation)
            alphas.append(self._spectrum_and_fit(np.asarray(representation))[1].alpha)
        alphas = np.asarray(alphas)
        # Population std (ddof=0), so that a single repeat gives 0 rather than NaN.
        return {
            "alpha_mean": float(alphas.mean()),
            "alpha_std": float(alphas.std()),
            "alphas": alphas,
        }

    def _check_range(self):
        _check_rank_range(self.n_min, self.n_max, type(self).__name__)

    def _warn_if_rank_deficient(self, shape):
        """Warn when the sample count, not the width, caps the ranks of the fit."""
        n_samples, n_features = shape
        if n_samples - 1 < min(self.n_max, n_features):
            warnings.warn(
                f"n_samples - 1 = {n_samples - 1} is below the last requested rank "
                f"(n_max={self.n_max}, n_features={n_features}): the sample covariance has "
                f"rank at most n_samples - 1, so the ranks beyond it are zero and not fitted.",
                UserWarning,
                stacklevel=3,
            )

    def _spectrum_and_fit(self, X):
        """The covariance spectrum of ``X`` up to a power of two (the fit needs only its
        ratios; unlike :func:`covariance_spectrum`'s it is finite for any finite ``X``),
        and fit_power_law with this estimator's settings."""
        eigenvalues = _scaled_spectrum(X, self.device, self.precision)[0]
        fit = fit_power_law(
            eigenvalues,
            n_min=self.n_min,
            n_max=self.n_max,
            weighting=self.weighting,
            relative_floor=self._floor(X),
        )
        return eigenvalues, fit

    def _floor(self, X):
        """Where eigenvalues become round-off: far lower for float64 data in float64."""
        precise = self.precision == "float64" and np.asarray(X).dtype == np.float64
        return FLOAT64_FLOOR if precise else RELATIVE_FLOOR

    def _noise_width(self, transform, n_input_features):
        """Width of the noise: the fitted width, or the transform's input width."""
        if transform is None:
            if n_input_features is not None:
                raise ValueError("n_input_features is only used together with transform.")
            return self.n_features_in_
        if not isinstance(n_input_features, Integral) or n_input_features < 1:
            raise ValueError(
                "n_input_features (a positive integer) is required with transform; "
                f"got {n_input_features!r}."
            )
        return int(n_input_features)


def _as_callable(transform):
    """Turn None, a callable or a fitted transformer into a function of the noise."""
    if transform is None:
        return lambda noise: noise
    if hasattr(transform, "transform"):
        return transform.transform
    if callable(transform):
        return transform
    raise TypeError(
        f"transform must be a callable or have a transform method; got {type(transform)}."
    )


def _check_widths(widths, n_features):
    """Default or validated widths for the scale check, each in 3 .. n_features."""
    if widths is None:
        candidates = (n_features // 8, n_features // 4, n_features // 2, n_features)
        return sorted({w for w in candidates if w >= MIN_POINTS})
    widths = list(widths)
    bad = [w for w in widths if not (isinstance(w, Integral) and MIN_POINTS <= w <= n_features)]
    if bad:
        raise ValueError(
            f"widths must be integers in {MIN_POINTS}..{n_features} (n_features); got {bad}."
        )
    return [int(w) for w in widths]
