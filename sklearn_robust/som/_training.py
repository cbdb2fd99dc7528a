"""The numerics of SOM training: BMU scores, the neighbourhood, and eq. 1 over an epoch.

:func:`som_minibatch_step` is one update of eq. 1 written as the paper states
it. :func:`minibatch_epoch` runs an epoch of such updates with each unit's
weights kept as a scale times a vector (:class:`_ScaledWeights`), which gives
the same weights with about half the work per update. :func:`batch_epoch` is
an epoch of Kohonen's batch map.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from .._torch import forward_in_chunks

__all__ = [
    "ROWS_PER_CHUNK",
    "batch_epoch",
    "decay_factor",
    "distance_from_similarity",
    "minibatch_epoch",
    "row_norms",
    "som_minibatch_step",
    "unit_scores",
    "unit_similarity",
]

# Rows per chunk when searching BMUs: bounds memory at chunk x n_units floats.
ROWS_PER_CHUNK = 4096

# The epsilon of eq. 1: keeps exp(-D^2 / (2 sigma^2 + eps)) defined as sigma -> 0.
NEIGHBOURHOOD_EPS = 1e-8
# Final fraction of the initial value under decay="linear".
LINEAR_FLOOR = 0.01
_NORM_EPS = 1e-12
# Neighbourhood exponents are clamped here from below (see _influence).
_MIN_EXPONENT = -50.0
# The scaled weights are folded back (see _ScaledWeights) at least this often ...
_MAX_FOLD_INTERVAL = 100
# ... and before any unit's scale can fall below this.
_MIN_SCALE = 1e-6
# Floats per block of precomputed batch Gram matrices: bounds their memory.
_GRAM_BLOCK_FLOATS = 1 << 20


@validate_params(
    {
        "step": ["array-like", Integral],
        "total": [Interval(Integral, 0, None, closed="left")],
        "decay": [StrOptions({"exp", "linear"})],
    },
    prefer_skip_nested_validation=True,
)
def decay_factor(step, total, decay):
    """Multiplier of the initial sigma and learning rate at update ``step`` of ``total``.

    ``"exp"`` is QuickSOM's schedule ``exp(-5 step / total)``, from 1 down to
    ``exp(-5)``; ``"linear"`` falls linearly from 1 to ``LINEAR_FLOOR`` (0.01):
    ``1 - (1 - 0.01) step / total``. Past ``total`` the last value holds.

    Parameters
    ----------
    step : int or ndarray of int
        Update index, or indices for a whole schedule at once.
    total : int
        Number of updates in the schedule.
    decay : {"exp", "linear"}
        Shape of the schedule.

    Returns
    -------
    float or ndarray of float
        The multiplier at each ``step``.

    Examples
    --------
    >>> from sklearn_robust.som import decay_factor
    >>> round(float(decay_factor(50, 100, "exp")), 4)  # exp(-2.5)
    0.0821
    >>> decay_factor(range(0, 101, 50), 100, "linear").round(3).tolist()
    [1.0, 0.505, 0.01]
    """
    fraction = np.minimum(np.asarray(step), total) / max(total, 1)
    if decay == "exp":
        return np.exp(-5.0 * fraction)
    return 1.0 - (1.0 - LINEAR_FLOOR) * fraction


def unit_similarity(batch, weights, metric):
    """Scores to maximise, ``(n_batch, n_units)``, up to a per-row term that leaves the BMU.

    Cosine: ``x.W / |W|`` (the ``1 / |x|`` of the cosine is the same for every
    unit). Euclidean: ``x.W - |W|^2 / 2``, since
    ``|x - W|^2 = |x|^2 - 2 (x.W - |W|^2 / 2)``. One matmul; the unit norms scale
    whichever is smaller, the weights or the scores.
    """
    norms = torch.linalg.vector_norm(weights, dim=1)
    if metric == "euclidean":  # the bias added inside the matmul
        return torch.addmm(norms.square_().mul_(-0.5), batch, weights.T)
    norms.clamp_min_(_NORM_EPS)
    if len(batch) > weights.shape[1]:
        return batch @ (weights / norms.unsqueeze(1)).T
    return (batch @ weights.T).div_(norms)


def row_norms(batch):
    """``|x|`` of each row, ``(n, 1)``."""
    return torch.linalg.vector_norm(batch, dim=1, keepdim=True)


def distance_from_similarity(similarity, norms, metric):
    """Turn :func:`unit_similarity` scores into cosine or squared distances, in place.

    ``norms`` holds the rows' ``|x|`` as ``(n, 1)`` (:func:`row_norms`).
    """
    if metric == "cosine":  # 1 - x.W / (|x| |W|)
        return similarity.div_(norms.clamp_min(_NORM_EPS)).neg_().add_(1.0)
    # |x|^2 - 2 (x.W - |W|^2 / 2)
    return similarity.mul_(-2.0).add_(norms.square()).clamp_min_(0.0)


def unit_scores(batch, weights, metric):
    """Scores to minimise, ``(n_batch, n_units)``: cosine distance or squared distance."""
    similarity = unit_similarity(batch, weights, metric)
    return distance_from_similarity(similarity, row_norms(batch), metric)


def _influence(exponent):
    """``exp(exponent)`` in place, with exponents clamped at ``-50`` from below.

    Float32 exponentials under ~1e-38 are subnormal numbers, and every later
    operation on them runs 10-100x slower on x86 CPUs (measured: a 20 x 20
    map's training slowed 3x once sigma fell below 1); ``exp(-inf)`` is itself
    5x slower than a finite exponential. The floor ``exp(-50)`` ~ 2e-22 is a
    normal float, far below anything that moves a float32 weight.
    """
    return exponent.clamp_min_(_MIN_EXPONENT).exp_()


def _neighbourhood(grid_sq_rows, sigma):
    """``exp(-D^2 / (2 sigma^2 + eps))`` of eq. 1, floored at ``exp(-50)`` (:func:`_influence`)."""
    return _influence(grid_sq_rows.mul(-1.0 / (2.0 * sigma * sigma + NEIGHBOURHOOD_EPS)))


@validate_params(
    {
        "weights": [torch.Tensor],
        "batch": [torch.Tensor],
        "grid_sq": [torch.Tensor],
        # sigma = 0 is defined: the eps of eq. 1 keeps the neighbourhood finite.
        "sigma": [Interval(Real, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "metric": [StrOptions({"cosine", "euclidean"})],
    },
    prefer_skip_nested_validation=True,
)
def som_minibatch_step(weights, batch, grid_sq, sigma, learning_rate, metric):
    """One mini-batch update of eq. 1, in place.

    For every sample ``b`` with BMU ``u_b`` and every unit ``v``,
    ``h_bv = exp(-D(u_b, v)^2 / (2 sigma^2 + eps))`` and the batch moves the
    weights by the mean of the neighbourhood-weighted steps:
    ``W_v += learning_rate * mean_b h_bv (x_b - W_v)``
    ``= (1 - rate sum_b h_bv) W_v + rate sum_b h_bv x_b``, ``rate = learning_rate / B``.

    Parameters
    ----------
    weights : tensor of shape (n_units, n_features)
        Updated in place.
    batch : tensor of shape (n_batch, n_features)
        Samples of the mini-batch.
    grid_sq : tensor of shape (n_units, n_units)
        Squared grid distances between units.
    sigma, learning_rate : float
        Neighbourhood width and learning rate of the update.
    metric : {"cosine", "euclidean"}
        Similarity by which the BMUs are found.

    Returns
    -------
    bmus : tensor of shape (n_batch,)
        The batch's best matching units, before the update.
    similarity : tensor of shape (n_batch,)
        Their :func:`unit_similarity` scores, from which the caller computes the
        batch's distances when it needs them (the training loss).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn_robust.som import grid_distance
    >>> units = np.arange(4)  # a 2 x 2 grid
    >>> grid_sq = torch.tensor(grid_distance(units[:, None], units, (2, 2), toroidal=False) ** 2,
    ...                        dtype=torch.float32)
    >>> weights = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    >>> from sklearn_robust.som import som_minibatch_step
    >>> batch = torch.tensor([[0.1, 0.0], [0.9, 1.0]])
    >>> bmus, _ = som_minibatch_step(weights, batch, grid_sq, 0.5, 0.5, "euclidean")
    >>> bmus.tolist(), weights[0].double().round(decimals=3).tolist()
    ([0, 3], [0.029, 0.005])
    """
    return _minibatch_step(weights, batch, grid_sq, sigma, learning_rate, metric)


def _minibatch_step(weights, batch, grid_sq, sigma, learning_rate, metric):
    """:func:`som_minibatch_step` without the argument checks, for the training loop."""
    similarity, bmus = unit_similarity(batch, weights, metric).max(dim=1)
    influence = _neighbourhood(grid_sq.index_select(0, bmus), sigma)  # (n_batch, n_units)
    rate = learning_rate / len(batch)
    ones = influence.new_ones(len(batch))
    # 1 - rate sum_b h_bv, as one matrix-vector product
    retained = torch.addmv(weights.new_ones(len(weights)), influence.T, ones, alpha=-rate)
    retained = retained.unsqueeze_(1)
    # Scale in place, then add rate * influence^T @ batch inside the matmul: no temporary W.
    weights.mul_(retained).addmm_(influence.T, batch, alpha=rate)
    return bmus, similarity


def minibatch_epoch(weights, rows, grid_sq, sigmas, learning_rates, batch_size, metric):
    """Eq. 1 over ``rows`` in consecutive batches, one update per batch; weights in place.

    Gives the weights of :func:`som_minibatch_step` called on each batch in turn
    (to float32 rounding), with batch ``k`` updated at ``sigmas[k]`` and
    ``learning_rates[k]``.

    Parameters
    ----------
    weights : tensor of shape (n_units, n_features)
        Updated in place.
    rows : tensor of shape (n_rows, n_features)
        The epoch's rows, already shuffled; contiguous.
    grid_sq : tensor of shape (n_units, n_units)
        Squared grid distances between units.
    sigmas, learning_rates : ndarray of shape (ceil(n_rows / batch_size),)
        The schedule, one value per batch.
    batch_size : int
        Number of rows per update.
    metric : {"cosine", "euclidean"}
        Similarity by which the BMUs are found.

    Returns
    -------
    similarity : tensor of shape (n_rows,)
        Each row's :func:`unit_similarity` score at its BMU, found before the
        update that row takes part in.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn_robust.som import grid_distance
    >>> units = np.arange(4)  # a 2 x 2 grid
    >>> grid_sq = torch.tensor(grid_distance(units[:, None], units, (2, 2), toroidal=False) ** 2,
    ...                        dtype=torch.float32)
    >>> weights = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    >>> rows = torch.tensor([[0.1, 0.0], [0.9, 1.0], [0.0, 0.8], [1.0, 0.1]])
    >>> from sklearn_robust.som._training import minibatch_epoch
    >>> schedule = np.array([0.5, 0.5])  # two batches of two rows
    >>> similarity = minibatch_epoch(weights, rows, grid_sq, schedule, schedule, 2, "euclidean")
    >>> tuple(similarity.shape), weights[0].double().round(decimals=3).tolist()
    ((4,), [0.061, 0.035])
    """
    sizes = np.minimum(batch_size, len(rows) - batch_size * np.arange(len(sigmas)))
    if np.max(learning_rates) >= 1.0:  # a unit's scale 1 - rate sum_b h_bv can reach 0
        return _direct_epoch(weights, rows, grid_sq, sigmas, learning_rates, batch_size, metric)
    scaled = _ScaledWeights(weights, grid_sq, metric, _fold_interval(np.max(learning_rates)))
    # Per-batch constants made once: a Python float argument costs a conversion per op.
    exponent_scales = torch.as_tensor(
        1.0 / (2.0 * np.square(sigmas) + NEIGHBOURHOOD_EPS), dtype=rows.dtype, device=rows.device
    ).unbind(0)
    rates = (np.asarray(learning_rates) / sizes).tolist()
    similarities = [
        scaled.step(batch, gram, exponent_scales[k], rates[k])
        for k, (batch, gram) in enumerate(_batches_with_grams(rows, batch_size))
    ]
    weights.copy_(scaled.weights())
    return torch.cat(similarities)


def batch_epoch(weights, rows, grid_sq, sigma, metric):
    """Run Kohonen's batch map over ``rows``, ``W = (H^T X) / (H^T 1)``; weights in place.

    ``H`` is the ``(n_rows, n_units)`` neighbourhood (eq. 1's, at width ``sigma``)
    of the rows' BMUs. The rows are grouped by BMU first: with ``S_u`` the sum and
    ``n_u`` the count of the rows whose BMU is ``u``, ``H^T X = N S`` and
    ``H^T 1 = N n`` for the ``(n_units, n_units)`` neighbourhood ``N`` of the
    units, a ``n_units^2 x n_features`` product instead of
    ``n_rows x n_units x n_features``. Units no row reaches stay.

    Parameters
    ----------
    weights : tensor of shape (n_units, n_features)
        Updated in place.
    rows : tensor of shape (n_rows, n_features)
        Samples of the epoch.
    grid_sq : tensor of shape (n_units, n_units)
        Squared grid distances between units.
    sigma : float
        Neighbourhood width.
    metric : {"cosine", "euclidean"}
        Similarity by which the BMUs are found.

    Returns
    -------
    similarity : tensor of shape (n_rows,)
        Each row's :func:`unit_similarity` score at its BMU, before the update.

    Examples
    --------
    With a narrow neighbourhood each unit moves onto the one row it is the BMU of:

    >>> import numpy as np, torch
    >>> from sklearn_robust.som import grid_distance
    >>> units = np.arange(4)  # a 2 x 2 grid
    >>> grid_sq = torch.tensor(grid_distance(units[:, None], units, (2, 2), toroidal=False) ** 2,
    ...                        dtype=torch.float32)
    >>> weights = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    >>> rows = torch.tensor([[0.1, 0.0], [0.9, 1.0], [0.0, 0.8], [1.0, 0.1]])
    >>> from sklearn_robust.som._training import batch_epoch
    >>> similarity = batch_epoch(weights, rows, grid_sq, 0.1, "euclidean")
    >>> weights.double().round(decimals=3).tolist()
    [[0.1, 0.0], [0.0, 0.8], [1.0, 0.1], [0.9, 1.0]]
    """
    sums = torch.zeros_like(weights)
    counts = weights.new_zeros(len(weights))
    similarity, bmus = forward_in_chunks(
        lambda chunk: tuple(unit_similarity(chunk, weights, metric).max(dim=1)),
        rows,
        ROWS_PER_CHUNK,
    )
    sums.index_add_(0, bmus, rows)
    counts.index_add_(0, bmus, torch.ones_like(similarity))
    neighbourhood = _neighbourhood(grid_sq, sigma)  # symmetric
    pulled = neighbourhood @ sums
    mass = neighbourhood @ counts
    reached = mass > 1e-12
    weights[reached] = pulled[reached] / mass[reached].unsqueeze(1)
    return similarity


def _direct_epoch(weights, rows, grid_sq, sigmas, learning_rates, batch_size, metric):
    """:func:`minibatch_epoch` by :func:`som_minibatch_step`, for learning rates of 1 or more."""
    similarities = []
    for k, start in enumerate(range(0, len(rows), batch_size)):
        batch = rows[start : start + batch_size]
        _, similarity = _minibatch_step(
            weights, batch, grid_sq, float(sigmas[k]), float(learning_rates[k]), metric
        )
        similarities.append(similarity)
    return torch.cat(similarities)


def _fold_interval(max_learning_rate):
    """Updates between folds so that no scale falls below ``_MIN_SCALE``.

    An update multiplies a scale by ``1 - rate sum_b h_bv >= 1 - learning_rate``
    (each ``h_bv <= 1`` and ``rate = learning_rate / B``).
    """
    steps = math.log(_MIN_SCALE) / math.log1p(-max_learning_rate)
    return int(min(max(math.floor(steps), 1), _MAX_FOLD_INTERVAL))


def _batches_with_grams(rows, batch_size):
    """``(batch, batch @ batch.T)`` for consecutive batches of rows, the last one shorter.

    The Gram matrices of many batches come from one batched product, a block
    of at most ``_GRAM_BLOCK_FLOATS`` floats at a time.
    """
    n_full = len(rows) // batch_size
    per_block = max(1, _GRAM_BLOCK_FLOATS // batch_size**2)
    for first in range(0, n_full, per_block):
        count = min(per_block, n_full - first)
        start = first * batch_size
        block = rows[start : start + count * batch_size].view(count, batch_size, -1)
        grams = torch.bmm(block, block.transpose(1, 2))
        yield from zip(block.unbind(0), grams.unbind(0), strict=True)
    if len(rows) > n_full * batch_size:
        tail = rows[n_full * batch_size :]
        yield tail, tail @ tail.T


class _ScaledWeights:
    """The map's weights as ``W_v = s_v V_v``, so an update of eq. 1 need not rescale them.

    An update is ``W_v <- r_v W_v + rate sum_b h_bv x_b`` with
    ``r_v = 1 - rate sum_b h_bv``: the ``r_v W_v`` term is a pass over all the
    weights. Here it is ``s_v <- r_v s_v`` (``n_units`` numbers) and
    ``V_v <- V_v + rate sum_b g_bv x_b`` with ``g_bv = h_bv / s_v`` (one
    matmul). The cosine BMU search does not see the scale
    (``x.W_v / |W_v| = x.V_v / |V_v|``), and ``|V_v|^2`` is updated from
    products the step has already made:
    ``|V_v|^2 += rate sum_b g_bv (2 x_b.V_v + rate (X X^T g)_bv)``.
    Every ``fold_every`` updates the scales are multiplied back into ``V`` and
    the norms recomputed, which bounds both how small a scale gets and the
    rounding the running norms gather.

    ``V`` is stored transposed, ``(n_features, n_units)``: the BMU search
    ``X V^T`` is then a plain matrix product, the faster kind here.
    """

    def __init__(self, weights, grid_sq, metric, fold_every):
        self.vectors = weights.T.contiguous()
        self.scales = weights.new_ones(len(weights))
        self.sq_norms = torch.empty_like(self.scales)
        self.inv_norms = torch.empty_like(self.scales)
        self.ones = torch.ones_like(self.scales)
        self.neg_grid_sq = grid_sq.neg()
        self.metric = metric
        self.fold_every = fold_every
        self.updates = 0
        self.fold()

    def fold(self):
        """Multiply the scales into the vectors, and recompute their norms exactly."""
        self.vectors.mul_(self.scales)
        self.scales.fill_(1.0)
        torch.sum(self.vectors.square(), dim=0, out=self.sq_norms)
        self._refresh_inv_norms()

    def _refresh_inv_norms(self):
        if self.metric == "cosine":
            torch.rsqrt(self.sq_norms.clamp_min_(_NORM_EPS**2), out=self.inv_norms)

    def _scores(self, products):
        """:func:`unit_similarity` from the products ``x.V``."""
        if self.metric == "cosine":  # x.V / |V|
            return products * self.inv_norms
        # x.W - |W|^2 / 2 = s (x.V - s |V|^2 / 2)
        return torch.addcmul(products, self.scales, self.sq_norms, value=-0.5).mul_(self.scales)

    def step(self, batch, gram, exponent_scale, rate):
        """One update of eq. 1; returns the batch's BMU similarities (before it)."""
        products = torch.mm(batch, self.vectors)  # x_b . V_v
        similarity, bmus = self._scores(products).max(dim=1)
        influence = _influence(self.neg_grid_sq.index_select(0, bmus).mul_(exponent_scale))
        retained = influence.sum(0)
        self.scales.mul_(torch.add(self.ones, retained, alpha=-rate, out=retained))
        pull = influence.div_(self.scales)  # g = h / s, with s after this update
        self.vectors.addmm_(batch.T, pull, alpha=rate)
        growth = torch.addmm(products, gram, pull, beta=2.0, alpha=rate).mul_(pull)
        self.sq_norms.add_(growth.sum(0), alpha=rate)
        self.updates += 1
        if self.updates % self.fold_every == 0:
            self.fold()
        else:
            self._refresh_inv_norms()
        return similarity

    def weights(self):
        """``W``, ``(n_units, n_features)``."""
        return (self.vectors * self.scales).T
