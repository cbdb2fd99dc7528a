"""Self-organizing maps (optionally toroidal) as probes of learned representations."""

from __future__ import annotations

import math
import time
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.metrics.pairwise import cosine_distances
from sklearn.utils._param_validation import (
    Interval,
    StrOptions,
    validate_parameter_constraints,
    validate_params,
)
from sklearn.utils.validation import check_is_fitted

from .._atomic_fit import train_epochs
from .._torch import (
    binary_exponent,
    forward_in_chunks,
    resolve_device,
    seed_from,
    to_numpy,
    to_tensor,
    torch_generator,
)
from .._validation import validate_float_data
from ._training import (
    ROWS_PER_CHUNK,
    batch_epoch,
    decay_factor,
    distance_from_similarity,
    minibatch_epoch,
    row_norms,
    unit_scores,
    unit_similarity,
)

__all__ = ["SOMProbe", "grid_distance"]

# Two units are grid neighbours when their grid distance is at most this (the 8
# surrounding units, diagonals included, as MiniSom's topographic error).
_NEIGHBOUR_RADIUS = 1.42


@validate_params(
    {
        "units_a": ["array-like", Integral],
        "units_b": ["array-like", Integral],
        "shape": [tuple],
        "toroidal": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def grid_distance(units_a, units_b, shape, toroidal=True):
    """Euclidean distance between units on the grid, by flat index ``row * n_cols + col``.

    On the torus each axis takes the shortest way round, ``min(|d|, n - |d|)``,
    which is the distance to the nearest of the 9 tiled copies of the map.

    Parameters
    ----------
    units_a, units_b : array-like of int
        Flat unit indices; broadcast against each other.
    shape : tuple of int
        ``(n_rows, n_cols)``.
    toroidal : bool, default=True
        Wrap around the edges.

    Returns
    -------
    ndarray of float
        Grid distance of each pair of units.

    Examples
    --------
    >>> from sklearn_robust.som import grid_distance
    >>> float(grid_distance(0, 19, (20, 20)))  # (0, 0) and (0, 19) are adjacent on the torus
    1.0
    >>> float(grid_distance(0, 19, (20, 20), toroidal=False))
    19.0
    """
    n_rows, n_cols = shape
    row_a, col_a = np.divmod(np.asarray(units_a), n_cols)
    row_b, col_b = np.divmod(np.asarray(units_b), n_cols)
    d_row, d_col = np.abs(row_a - row_b), np.abs(col_a - col_b)
    if toroidal:
        d_row, d_col = np.minimum(d_row, n_rows - d_row), np.minimum(d_col, n_cols - d_col)
    return np.sqrt(d_row**2 + d_col**2)


def _paired_distances(a, b, metric):
    """Cosine or Euclidean distance between matching vectors of ``a`` and ``b`` (last axis)."""
    if metric == "euclidean":
        return np.linalg.norm(a - b, axis=-1)
    norms = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    cosine = (a * b).sum(axis=-1) / np.where(norms > 0, norms, 1.0)
    return np.clip(1.0 - cosine, 0.0, 2.0)


def _squared_grid_distances(shape, toroidal, device):
    """``(n_units, n_units)`` squared grid distances between every pair of units."""
    units = np.arange(shape[0] * shape[1])
    squared = grid_distance(units[:, None], units[None, :], shape, toroidal) ** 2
    return torch.as_tensor(squared, dtype=torch.float32, device=device)


def _rows_in_unit_range(X):
    """Each row of X divided by its own power of two, into ``[-1, 1]``: exact, angles kept.

    The power is :func:`~sklearn_robust._torch.binary_exponent` of the row.
    """
    return np.ldexp(X, -np.frexp(np.max(np.abs(X), axis=1, keepdims=True))[1])


def _weight_cosine_distances(weights):
    """scikit-learn's cosine distances between the rows of ``weights``, in double precision.

    Each row is first divided by the power of two that brings it into ``[-1, 1]``,
    which leaves its cosines unchanged: scikit-learn takes rows whose norm is under
    ten machine epsilons for zero rows, and the weights are in the data's units,
    which can be that small.
    """
    weights = np.asarray(weights, dtype=np.float64)
    return cosine_distances(_rows_in_unit_range(weights))


def _float32_weights(weights, what):
    """``weights`` as float32, refusing values that float32 cannot hold (inf or NaN there)."""
    with np.errstate(over="ignore", invalid="ignore"):
        weights = np.asarray(weights, dtype=np.float32)
    if not np.all(np.isfinite(weights)):
        raise ValueError(
            f"{what} are not all finite in float32, in which the map is stored (values "
            f"beyond float32's range, +-{np.finfo(np.float32).max:.3g}, become inf)."
        )
    return weights


class SOMProbe(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Self-organizing map on a (toroidal) grid, with the analyses of Lee and Vijayan.

    Each of the ``n_rows x n_cols`` units holds a weight vector. For an input
    ``x`` the best matching unit (BMU) ``u`` is the unit nearest ``x`` in
    ``metric``, and every unit ``v`` moves towards ``x`` by eq. 1 of the paper::

        W_v += exp(-D(u, v)^2 / (2 sigma(s)^2 + eps)) * alpha(s) * (x - W_v)

    with ``D`` the Euclidean distance on the grid (on the torus, per axis the
    shortest way round: ``min(|d|, n - |d|)``) and ``eps = 1e-8``.

    ``algorithm="minibatch"`` shuffles the data each epoch and applies, per
    batch of ``batch_size`` samples, the **mean** of the samples'
    neighbourhood-weighted steps (as QuickSOM, the paper's library); ``s``
    counts these updates and ``sigma(s) = sigma * f(s)``,
    ``alpha(s) = learning_rate * f(s)`` with ``f`` from ``decay`` over
    ``T = n_epochs * ceil(n_samples / batch_size)`` updates: ``"exp"`` is
    QuickSOM's ``f(s) = exp(-5 s / T)``; ``"linear"`` is
    ``f(s) = 1 - 0.99 s / T`` (down to 1% of the initial values).

    ``algorithm="batch"`` is Kohonen's batch map: each epoch finds every
    sample's BMU and sets ``W = (H^T X) / (H^T 1)``, ``H`` the ``(n_samples,
    n_units)`` neighbourhood of the samples' BMUs; ``learning_rate`` is unused and
    sigma goes from ``sigma`` at the first epoch to 1 at the last, geometrically
    (``"exp"``) or linearly (``"linear"``); a sigma below 1 stays constant.

    The map computes in float32, whose squares overflow from about ``1e19``: it
    is trained on the data divided by the power of two that brings them (and the
    starting weights) into ``[-1, 1]``, which is exact, and the weights and
    distances are scaled back. A map of ``c X`` is therefore ``c`` times the map
    of ``X`` (to float32 rounding), with the same BMUs; with ``metric="cosine"``
    each input row and each unit is scaled by its own power of two when BMUs and
    distances are computed, so a map can be queried at any scale. The weights are
    stored in float32 in the data's units, and input beyond float32's range
    (about ``3.4e38``) is refused with a ``ValueError``.

    Parameters
    ----------
    n_rows, n_cols : int, default=20
        Height and width of the grid.
    metric : {"cosine", "euclidean"}, default="cosine"
        How inputs are compared to the units' weights: the cosine distance
        ``1 - x.w / (|x| |w|)`` (eq. 2 of the paper) or the Euclidean distance.
    topology : {"toroidal", "planar"}, default="toroidal"
        ``"toroidal"`` wraps the grid's edges (periodic boundary).
    sigma : float, default=10.0
        Initial neighbourhood width, in grid units.
    learning_rate : float, default=0.1
        Initial learning rate ``alpha`` (mini-batch algorithm).
    decay : {"exp", "linear"}, default="exp"
        Schedule of sigma and the learning rate (see above).
    n_epochs : int, default=5
        Passes over the data.
    batch_size : int, default=10
        Samples per update (mini-batch algorithm).
    algorithm : {"minibatch", "batch"}, default="minibatch"
        Mini-batch updates of eq. 1, or Kohonen's batch map.
    init : {"random", "sample"} or array-like of shape (n_rows, n_cols, n_features), \
default="random"
        Initial weights: Gaussian with the data's per-feature mean and standard
        deviation, randomly drawn training samples, or the given array.
    output : {"distances", "coordinates"}, default="distances"
        What ``transform`` returns: the distance to every unit, or the BMU's
        ``(row, col)`` on the grid.
    device : {"auto", "cpu", "cuda"} or torch.device, default="auto"
        Where to compute; "auto" uses CUDA when available.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights and the per-epoch shuffles.
    verbose : int, default=0
        Print the training loss after every epoch when positive.

    Attributes
    ----------
    weights_ : ndarray of shape (n_rows, n_cols, n_features), float32
        The units' weights.
    quantization_error_ : float
        Mean distance (in ``metric``) from each training sample to its BMU, after fit.
    topographic_error_ : float
        Fraction of training samples whose two best units are not grid neighbours
        (the 8 surrounding units; across the edges on the torus).
    loss_history_ : list of float
        Training loss of each epoch: the mean distance from each sample to its
        BMU at the moment it was used (before its update), as the paper's
        figure 3 and QuickSOM's training log report it.
    n_iter_ : int
        Epochs trained so far (``fit`` and ``partial_fit`` together).
    n_steps_ : int
        Weight updates so far.
    sigma_, learning_rate_ : float
        The values used by the last update.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_robust import SOMProbe
    >>> X = np.random.default_rng(0).normal(size=(200, 8))
    >>> som = SOMProbe(n_rows=5, n_cols=5, sigma=2.0, random_state=0).fit(X)
    >>> som.weights_.shape
    (5, 5, 8)
    >>> som.predict(X[:3]).shape, som.transform(X[:3]).shape
    ((3,), (3, 25))
    >>> som.top_bmus(X[:3], k=4).shape
    (3, 4)
    """

    _parameter_constraints: dict = {
        "n_rows": [Interval(Integral, 1, None, closed="left")],
        "n_cols": [Interval(Integral, 1, None, closed="left")],
        "metric": [StrOptions({"cosine", "euclidean"})],
        "topology": [StrOptions({"toroidal", "planar"})],
        "sigma": [Interval(Real, 0, None, closed="neither")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "decay": [StrOptions({"exp", "linear"})],
        "n_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "algorithm": [StrOptions({"minibatch", "batch"})],
        "init": [StrOptions({"random", "sample"}), "array-like"],
        "output": [StrOptions({"distances", "coordinates"})],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_rows=20,
        n_cols=20,
        *,
        metric="cosine",
        topology="toroidal",
        sigma=10.0,
        learning_rate=0.1,
        decay="exp",
        n_epochs=5,
        batch_size=10,
        algorithm="minibatch",
        init="random",
        output="distances",
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_rows = n_rows
        self.n_cols = n_cols
        self.metric = metric
        self.topology = topology
        self.sigma = sigma
        self.learning_rate = learning_rate
        self.decay = decay
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.algorithm = algorithm
        self.init = init
        self.output = output
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the map on X for ``n_epochs`` passes.

        A call that does not complete (an error, or Ctrl-C, which propagates)
        leaves the estimator as it was: unfitted, or with its previous fit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; at least 2 samples.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : SOMProbe
            The fitted probe.
        """
        return train_epochs(self, X, self.n_epochs, restart=True)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """One more epoch on X, continuing the weights and the decay schedule.

        The schedule's length ``T`` is reckoned from this X as in ``fit``; past it
        sigma and the learning rate keep their last values. The first call
        initialises the map from X. A call that does not complete (an error, or
        Ctrl-C, which propagates) leaves the estimator as it was.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : SOMProbe
            The probe, updated.
        """
        return train_epochs(self, X, 1, restart=not hasattr(self, "weights_"))

    @property
    def _n_units(self):
        return self.n_rows * self.n_cols

    @property
    def _toroidal(self):
        return self.topology == "toroidal"

    def _validate_input(self, X, reset):
        resolve_device(self.device)  # a bad device fails here, before any work
        # Two samples at least: a map is not learned (nor its init scaled) from one.
        # Values beyond float32's range are refused: the map's weights are float32.
        return validate_float_data(self, X, reset=reset, ensure_min_samples=2)

    def _initialise(self, X):
        n_samples, n_features = X.shape
        shape = (self.n_rows, self.n_cols, n_features)
        if isinstance(self.init, str) and self.init == "random":
            generator = torch_generator(self.random_state)
            noise = torch.randn(self._n_units, n_features, generator=generator).numpy()
            # On scaled data: the variance of float32 values above ~1e19 overflows.
            exponent = binary_exponent(X)
            scaled = np.ldexp(X, -exponent)
            weights = np.ldexp(scaled.mean(axis=0) + noise * scaled.std(axis=0), exponent)
        elif isinstance(self.init, str):  # "sample"
            rng = np.random.RandomState(seed_from(self.random_state))
            rows = rng.choice(n_samples, self._n_units, replace=n_samples < self._n_units)
            weights = X[rows]
        else:
            weights = np.asarray(self.init)
            if weights.shape != shape:
                raise ValueError(
                    f"init has shape {weights.shape}; expected (n_rows, n_cols, n_features) "
                    f"= {shape}."
                )
        self.weights_ = _float32_weights(weights, "The initial weights").reshape(shape)
        # The shuffle stream lives on the estimator so partial_fit calls continue it.
        self._shuffle_rng = np.random.RandomState(seed_from(self.random_state) + 1)
        self.n_iter_ = 0
        self.n_steps_ = 0
        self.loss_history_ = []

    @torch.inference_mode()  # no autograd bookkeeping on the hot path
    def _train(self, X, n_epochs):
        device = resolve_device(self.device)
        # Trained in units of 2^exponent (see the class docstring): an exact scaling
        # that keeps float32 squares and products finite.
        exponent = binary_exponent(X, self.weights_)
        unit = self._distance_unit(exponent)
        data = to_tensor(np.ldexp(X, -exponent), device)
        norms = row_norms(data)  # once: every epoch's loss needs them
        weights = to_tensor(np.ldexp(self.weights_.reshape(self._n_units, -1), -exponent), device)
        grid_sq = _squared_grid_distances((self.n_rows, self.n_cols), self._toroidal, device)
        epoch = self._batch_epoch if self.algorithm == "batch" else self._minibatch_epoch
        for _ in range(n_epochs):
            started = time.perf_counter()
            # The training loss: each sample's distance to its BMU when it was used.
            self.loss_history_.append(epoch(data, norms, weights, grid_sq) * unit)
            self.n_iter_ += 1
            if self.verbose:
                print(
                    f"[SOMProbe] epoch {self.n_iter_}/{self.n_epochs}  sigma {self.sigma_:.4f}  "
                    f"loss {self.loss_history_[-1]:.6f}  {time.perf_counter() - started:.2f} s",
                    flush=True,
                )
        trained = np.ldexp(to_numpy(weights).astype(np.float64), exponent)
        self.weights_ = _float32_weights(trained, "The trained weights").reshape(
            self.n_rows, self.n_cols, -1
        )
        quantization, first, second = self._best_two(data, norms, weights)
        self.quantization_error_ = float(quantization.mean()) * unit
        self.topographic_error_ = self._topographic_error(first, second)

    def _distance_unit(self, exponent):
        """What a distance between data scaled by ``2^-exponent`` is multiplied by."""
        return 2.0**exponent if self.metric == "euclidean" else 1.0

    def _minibatch_epoch(self, data, norms, weights, grid_sq):
        """One shuffled pass of eq. 1 in mini-batches; returns the mean distance to the BMUs."""
        order = torch.from_numpy(self._shuffle_rng.permutation(len(data))).to(data.device)
        shuffled = data[order]  # one gather per epoch; the batches are then views
        n_batches = math.ceil(len(data) / self.batch_size)
        steps = np.arange(self.n_steps_, self.n_steps_ + n_batches)
        factors = decay_factor(steps, self.n_epochs * n_batches, self.decay)
        sigmas, learning_rates = self.sigma * factors, self.learning_rate * factors
        similarity = minibatch_epoch(
            weights, shuffled, grid_sq, sigmas, learning_rates, self.batch_size, self.metric
        )
        self.sigma_, self.learning_rate_ = float(sigmas[-1]), float(learning_rates[-1])
        self.n_steps_ += n_batches
        return self._mean_distance(similarity.unsqueeze(1), norms[order])

    def _batch_epoch(self, data, norms, weights, grid_sq):
        """One epoch of Kohonen's batch map (:func:`batch_epoch`); returns the mean distance.

        Sigma goes from ``sigma`` at the first epoch to 1 at the last (see the
        class docstring), reckoned from the epochs trained so far.
        """
        if self.sigma > 1.0 and self.n_epochs > 1:
            fraction = min(self.n_iter_, self.n_epochs - 1) / (self.n_epochs - 1)
            if self.decay == "exp":
                self.sigma_ = self.sigma ** (1.0 - fraction)
            else:
                self.sigma_ = self.sigma + (1.0 - self.sigma) * fraction
        else:
            self.sigma_ = self.sigma
        self.learning_rate_ = 1.0
        similarity = batch_epoch(weights, data, grid_sq, self.sigma_, self.metric)
        self.n_steps_ += 1
        return self._mean_distance(similarity.unsqueeze(1), norms)

    def _mean_distance(self, similarity, norms):
        """Mean distance (in ``metric``) of rows with these BMU similarity scores and norms."""
        distance = distance_from_similarity(similarity, norms, self.metric).squeeze(1)
        if self.metric == "euclidean":
            distance = distance.sqrt_()
        return float(distance.double().mean())

    def _best_two(self, data, norms, weights):
        """Per sample: distance to the BMU (in ``metric``), the BMU, the second-best unit."""
        k = min(2, len(weights))
        # Ranked by similarity; only the best is turned into a distance.
        best, ranked = forward_in_chunks(
            lambda rows: tuple(torch.topk(unit_similarity(rows, weights, self.metric), k, dim=1)),
            data,
            ROWS_PER_CHUNK,
        )
        distance = distance_from_similarity(best[:, :1], norms, self.metric).squeeze(1)
        distance = to_numpy(distance).astype(np.float64)
        if self.metric == "euclidean":
            distance = np.sqrt(distance)
        ranked = to_numpy(ranked)
        return distance, ranked[:, 0], ranked[:, k - 1]

    def _topographic_error(self, first, second):
        if self._n_units == 1:
            return 0.0
        gaps = grid_distance(first, second, (self.n_rows, self.n_cols), self._toroidal)
        return float(np.mean(gaps > _NEIGHBOUR_RADIUS))

    # ------------------------------------------------------------ inference
    def _check(self, X):
        check_is_fitted(self)
        return validate_float_data(self, X, reset=False)

    def _scaled(self, X):
        """``X`` and the weights, each divided by a power of two, and the Euclidean exponent.

        Cosine distances do not see a row's or a unit's scale: each is brought into
        ``[-1, 1]`` on its own. Euclidean ones take one scale for both, ``2^exponent``,
        by which their distances are to be multiplied. Either keeps float32 squares
        finite, and the row's result does not depend on the other rows.
        """
        weights = self.weights_.reshape(self._n_units, -1)
        if self.metric == "cosine":
            return _rows_in_unit_range(X), _rows_in_unit_range(weights), 0
        exponent = binary_exponent(X, weights)
        return np.ldexp(X, -exponent), np.ldexp(weights, -exponent), exponent

    @torch.inference_mode()
    def _scores(self, X, dtype=torch.float32):
        """Scores to minimise for every unit (cosine distance or squared distance).

        The squared distances are of the scaled data of :meth:`_scaled`, whose
        exponent is returned too. The inputs are float32 either way;
        ``dtype=torch.float64`` accumulates in double precision, so that each row's
        values do not depend on the rows it is batched with (float32 matmul kernels
        round differently by batch shape).
        """
        device = resolve_device(self.device)
        X, weights, exponent = self._scaled(X)
        weights = to_tensor(weights, device).to(dtype)

        def scores(rows):
            return to_numpy(unit_scores(to_tensor(rows, device).to(dtype), weights, self.metric))

        return forward_in_chunks(scores, X, ROWS_PER_CHUNK), exponent

    def transform(self, X):
        """Distance from each sample to every unit, or its BMU's grid coordinates.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        Xt : ndarray of shape (n_samples, n_rows * n_cols) or (n_samples, 2), float32
            With ``output="distances"``, the cosine or Euclidean distance (per
            ``metric``) to every unit, columns in flat unit order
            ``row * n_cols + col``; computed in double precision from the float32
            inputs and weights, then rounded, so a row's distances do not depend
            on the other rows passed with it. With ``output="coordinates"``, the
            BMU's ``(row, col)``.
        """
        if self.output == "coordinates":
            rows, cols = np.divmod(self.predict(X), self.n_cols)
            return np.stack([rows, cols], axis=1).astype(np.float32)
        scores, exponent = self._scores(self._check(X), dtype=torch.float64)
        distances = scores if self.metric == "cosine" else np.sqrt(scores)
        return (distances * self._distance_unit(exponent)).astype(np.float32)

    def predict(self, X):
        """Flat index ``row * n_cols + col`` of each sample's best matching unit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        bmus : ndarray of shape (n_samples,), int64
            Flat index of each sample's best matching unit.
        """
        return self._scores(self._check(X))[0].argmin(axis=1).astype(np.int64)

    def score(self, X, y=None):
        """Negative quantization error: minus the mean distance to the BMU.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.
        y : None
            Ignored.

        Returns
        -------
        score : float
            Minus the mean distance of the samples to their BMUs.
        """
        return -float(self.transform(X).min(axis=1).astype(np.float64).mean())

    # ------------------------------------------------------------- analyses
    def top_bmus(self, X, k=10):
        """Flat indices of the ``k`` best matching units of each sample, best first.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.
        k : int, default=10
            At most ``n_rows * n_cols``.

        Returns
        -------
        units : ndarray of shape (n_samples, k), int64
            Flat indices of each sample's ``k`` best matching units, best first.
        """
        self._check_k(k, "top_bmus")
        scores = torch.from_numpy(self._scores(self._check(X))[0])
        return torch.topk(scores, k, dim=1, largest=False).indices.numpy().astype(np.int64)

    def _check_k(self, k, method):
        """Refuse a ``k`` outside ``[1, n_rows * n_cols]``, naming the method called."""
        validate_parameter_constraints(
            {"k": [Interval(Integral, 1, self._n_units, closed="both")]},
            {"k": k},
            caller_name=f"{type(self).__name__}.{method} (a {self.n_rows} x {self.n_cols} map)",
        )

    def bmu_density(self, X):
        """Fraction of the samples whose BMU is each unit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        density : ndarray of shape (n_rows, n_cols), float64
            Sums to 1.
        """
        bmus = self.predict(X)
        counts = np.bincount(bmus, minlength=self._n_units).astype(np.float64)
        return (counts / max(len(bmus), 1)).reshape(self.n_rows, self.n_cols)

    def class_spread(self, X, y, *, return_centers=False):
        """``D_class``: mean grid distance from each class's BMUs to the class centre.

        The centre is :meth:`class_centers`'s; ``D_class`` is the mean torus
        distance (:func:`grid_distance`) from the class's BMUs to it (on a planar
        map, the Euclidean distance). Smaller means the class's inputs land in a
        more compact region of the map (the paper's figure 6A-B).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.
        y : array-like of shape (n_samples,)
            Class labels.
        return_centers : bool, default=False
            Also return :meth:`class_centers`.

        Returns
        -------
        spread : dict
            Class label -> ``D_class`` (float), for every label in ``y``.
        centers : dict
            Class label -> ``(row, col)``; only with ``return_centers=True``.
        """
        validate_parameter_constraints(
            {"return_centers": ["boolean"]},
            {"return_centers": return_centers},
            caller_name=f"{type(self).__name__}.class_spread",
        )
        spread, centers = self._class_geometry(X, y)
        return (spread, centers) if return_centers else spread

    def class_centers(self, X, y):
        """Each class's centre on the map, found on the unfolded torus.

        On the torus (section 2.4 and figure 2 of the paper): take the class's
        most frequent BMU ``m`` (ties: the lowest index); place each of the
        class's BMUs at its copy, among the 3 x 3 tiling of the map around ``m``,
        nearest ``m`` (per axis ``d - n round(d / n)``, ``d`` the offset from
        ``m``); the centre is the mean of these positions, wrapped back onto the
        map. On a planar map it is the plain mean position.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.
        y : array-like of shape (n_samples,)
            Class label of each sample.

        Returns
        -------
        centers : dict
            Class label -> ``(row, col)``, floats in ``[0, n_rows) x [0, n_cols)``.
        """
        return self._class_geometry(X, y)[1]

    def _class_geometry(self, X, y):
        """Per class: ``D_class`` and the centre (see :meth:`class_centers`)."""
        bmus = self.predict(X)
        y = np.asarray(y)
        if y.shape != (len(bmus),):
            raise ValueError(f"y must have shape ({len(bmus)},); got {y.shape}.")
        shape = np.array([self.n_rows, self.n_cols], dtype=np.float64)
        positions = np.stack(np.divmod(bmus, self.n_cols), axis=1).astype(np.float64)
        spread, centers = {}, {}
        for label in np.unique(y):
            points = positions[y == label]
            if self._toroidal:
                mode = np.bincount(bmus[y == label]).argmax()
                anchor = np.array(divmod(mode, self.n_cols), dtype=np.float64)
                offsets = points - anchor
                unfolded = anchor + offsets - shape * np.round(offsets / shape)
                centre = np.mod(unfolded.mean(axis=0), shape)
                gaps = np.abs(np.mod(points - centre, shape))
                gaps = np.minimum(gaps, shape - gaps)
            else:
                centre = points.mean(axis=0)
                gaps = points - centre
            key = label.item() if hasattr(label, "item") else label
            spread[key] = float(np.sqrt((gaps**2).sum(axis=1)).mean())
            centers[key] = (float(centre[0]), float(centre[1]))
        return spread, centers

    def unit_cosine_distances(self):
        """Cosine distance between the weights of every pair of units (figure 6C-D).

        Returns
        -------
        distances : ndarray of shape (n_rows * n_cols, n_rows * n_cols), float64
            ``1 - w_u.w_v / (|w_u| |w_v|)``, flat unit order; the pairs are its
            upper triangle. Small everywhere means the map's units code nearly the
            same direction: the layer's representations are homogeneous.
        """
        check_is_fitted(self)
        return _weight_cosine_distances(self.weights_.reshape(self._n_units, -1))

    def u_matrix(self):
        """Mean distance (in ``metric``) from each unit's weights to its grid neighbours'.

        The U-matrix of the map: the 4 neighbours up, down, left and right
        (across the edges on the torus; fewer at a planar map's edges). High
        values are borders between regions coding different inputs.

        Returns
        -------
        u_matrix : ndarray of shape (n_rows, n_cols), float64
            Mean distance of each unit to its grid neighbours.
        """
        check_is_fitted(self)
        weights = self.weights_.astype(np.float64)
        total = np.zeros((self.n_rows, self.n_cols))
        count = np.zeros((self.n_rows, self.n_cols))
        for axis, size in ((0, self.n_rows), (1, self.n_cols)):
            for step in (1, -1):
                neighbour = np.roll(weights, step, axis=axis)
                distance = _paired_distances(weights, neighbour, self.metric)
                valid = np.ones_like(distance, dtype=bool)
                if not self._toroidal:  # np.roll wrapped the first (or last) row/column
                    edge = [slice(None), slice(None)]
                    edge[axis] = 0 if step == 1 else size - 1
                    valid[tuple(edge)] = False
                if size == 1:
                    valid[:] = False  # a unit is not its own neighbour
                total += np.where(valid, distance, 0.0)
                count += valid
        return np.divide(total, count, out=np.zeros_like(total), where=count > 0)

    def center_units(self, X, y):
        """The unit nearest each class's centre: its centre rounded onto the grid.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.
        y : array-like of shape (n_samples,)
            Class label of each sample.

        Returns
        -------
        units : dict
            Class label -> flat unit index ``row * n_cols + col``.
        """
        units = {}
        for label, (row, col) in self.class_centers(X, y).items():
            row, col = round(row), round(col)
            if self._toroidal:
                row, col = row % self.n_rows, col % self.n_cols
            units[label] = int(row * self.n_cols + col)
        return units

    def center_cosine_distances(self, X, y):
        """Cosine distance between the weights of the classes' centre units (figure 7).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.
        y : array-like of shape (n_samples,)
            Class label of each sample.

        Returns
        -------
        distances : pandas.DataFrame of shape (n_classes, n_classes)
            Indexed by class label both ways (sorted); the weights compared are
            those of :meth:`center_units`. Larger off-diagonal values mean the
            classes are coded by more distinct directions.
        """
        import pandas as pd

        units = self.center_units(X, y)
        weights = self.weights_.reshape(self._n_units, -1)[list(units.values())]
        labels = list(units)
        distances = _weight_cosine_distances(weights)
        return pd.DataFrame(distances, index=labels, columns=labels)

    def bmu_shift(self, X_clean, X_perturbed, k=10):
        """Grid distance between the i-th best BMU of each clean and perturbed sample.

        Parameters
        ----------
        X_clean, X_perturbed : array-like of shape (n_samples, n_features)
            Paired inputs (e.g. images and their adversarial versions, as codes).
        k : int, default=10
            Number of best units compared.

        Returns
        -------
        shifts : ndarray of shape (n_samples, k), float64
            ``shifts[j, i]`` is the (torus) distance between the i-th best units of
            ``X_clean[j]`` and ``X_perturbed[j]``.
        """
        self._check_k(k, "bmu_shift")
        clean = self.top_bmus(X_clean, k)
        perturbed = self.top_bmus(X_perturbed, k)
        if clean.shape != perturbed.shape:
            raise ValueError(
                f"X_clean and X_perturbed must have the same number of samples; got "
                f"{len(clean)} and {len(perturbed)}."
            )
        return grid_distance(clean, perturbed, (self.n_rows, self.n_cols), self._toroidal)

    @property
    def _n_features_out(self):
        return 2 if self.output == "coordinates" else self.n_rows * self.n_cols

    def get_feature_names_out(self, input_features=None):
        """Output feature names: ``somprobe0, ...`` per unit, or ``bmu_row, bmu_col``.

        Parameters
        ----------
        input_features : None
            Ignored.

        Returns
        -------
        feature_names_out : ndarray of str
            Names of the output features.
        """
        if self.output == "coordinates":
            check_is_fitted(self)
            return np.asarray(["bmu_row", "bmu_col"], dtype=object)
        return super().get_feature_names_out(input_features)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Numerics are float32 torch; float32 in gives float32 out.
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
