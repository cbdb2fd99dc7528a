"""Tests for sklearn_robust.som._training: an epoch of eq. 1 against its plain statement."""

import numpy as np
import pytest
import torch

from sklearn_robust.som import _training, decay_factor
from sklearn_robust.som._som import _squared_grid_distances
from sklearn_robust.som._training import (
    _batches_with_grams,
    _fold_interval,
    batch_epoch,
    minibatch_epoch,
    som_minibatch_step,
)

SHAPE = (3, 4)


def _loop(weights, rows, sigmas, learning_rates, batch_size, metric):
    """The reference: som_minibatch_step on each batch in turn."""
    grid_sq = _squared_grid_distances(SHAPE, True, "cpu")
    similarities = []
    for k, start in enumerate(range(0, len(rows), batch_size)):
        batch = rows[start : start + batch_size]
        _, similarity = som_minibatch_step(
            weights, batch, grid_sq, sigmas[k], learning_rates[k], metric
        )
        similarities.append(similarity)
    return torch.cat(similarities)


def _problem(n_rows, n_features=6, seed=0):
    rng = np.random.default_rng(seed)
    rows = torch.tensor(rng.normal(size=(n_rows, n_features)), dtype=torch.float32)
    weights = torch.tensor(rng.normal(size=(12, n_features)), dtype=torch.float32)
    return rows, weights


def _schedule(n_rows, batch_size, sigma, learning_rate):
    n_batches = -(-n_rows // batch_size)
    factors = decay_factor(np.arange(n_batches), n_batches, "exp")
    return sigma * factors, learning_rate * factors


def _compare(rows, weights, batch_size, metric, sigma=2.0, learning_rate=0.3, decay=True):
    sigmas, learning_rates = _schedule(len(rows), batch_size, sigma, learning_rate)
    if not decay:
        sigmas, learning_rates = np.full_like(sigmas, sigma), np.full_like(sigmas, learning_rate)
    expected_weights = weights.clone()
    expected = _loop(expected_weights, rows, sigmas, learning_rates, batch_size, metric)
    got_weights = weights.clone()
    grid_sq = _squared_grid_distances(SHAPE, True, "cpu")
    got = minibatch_epoch(got_weights, rows, grid_sq, sigmas, learning_rates, batch_size, metric)
    torch.testing.assert_close(got_weights, expected_weights, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_epoch_equals_one_step_per_batch(metric):
    """1003 rows in batches of 10: 100 full batches and a tail of 3; learning rate
    0.3 folds the scales every 38 updates."""
    assert _fold_interval(0.3) == 38
    rows, weights = _problem(1003)
    _compare(rows, weights, 10, metric)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_epoch_with_gram_blocks(metric, monkeypatch):
    """Gram matrices computed a few batches at a time give the same epoch."""
    monkeypatch.setattr(_training, "_GRAM_BLOCK_FLOATS", 3 * 7**2)
    rows, weights = _problem(100, seed=1)
    _compare(rows, weights, 7, metric)


@pytest.mark.parametrize("learning_rate", [0.9, 1.0, 1.5])
def test_repeated_rows_shrink_scales_fast(learning_rate):
    """Identical rows share one BMU, whose scale falls by 1 - learning_rate per
    update (to 1e-40 over 40 updates at 0.9, unless folded every 6), and from 1
    on (a scale can reach 0 or below) the plain steps are run."""
    rows = torch.ones(400, 6)
    _, weights = _problem(1, seed=2)
    _compare(rows, weights, 10, "cosine", sigma=0.1, learning_rate=learning_rate, decay=False)


def test_zero_unit_under_cosine():
    """A unit of zeros scores 0 (its norm is floored), as in the plain step."""
    rows, weights = _problem(300, seed=3)
    weights[5] = 0.0
    _compare(rows, weights, 10, "cosine")


def test_fold_interval_bounds_the_scales():
    for rate in (1e-4, 0.1, 0.3, 0.5, 0.9, 0.999):
        every = _fold_interval(rate)
        assert 1 <= every <= _training._MAX_FOLD_INTERVAL
        assert (1.0 - rate) ** every >= _training._MIN_SCALE * (1 - 1e-9)


@pytest.mark.parametrize("n_rows, batch_size", [(20, 5), (23, 5), (4, 10), (9, 1)])
def test_batches_with_grams_cover_rows(n_rows, batch_size, monkeypatch):
    monkeypatch.setattr(_training, "_GRAM_BLOCK_FLOATS", 2 * batch_size**2)
    rows = torch.arange(n_rows * 3, dtype=torch.float32).reshape(n_rows, 3)
    pairs = list(_batches_with_grams(rows, batch_size))
    assert len(pairs) == -(-n_rows // batch_size)
    torch.testing.assert_close(torch.cat([batch for batch, _ in pairs]), rows)
    for batch, gram in pairs:
        torch.testing.assert_close(gram, batch @ batch.T)


def test_decay_factor_on_arrays_matches_scalars():
    steps = np.arange(0, 120, 7)
    for decay in ("exp", "linear"):
        vector = decay_factor(steps, 100, decay)
        assert vector.shape == steps.shape
        np.testing.assert_allclose(vector, [decay_factor(int(s), 100, decay) for s in steps])


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_batch_epoch_in_chunks(monkeypatch, metric):
    """The batch map searches BMUs chunk by chunk: chunks of 7 rows give one chunk's weights."""
    rng = np.random.default_rng(5)
    rows = torch.tensor(rng.normal(size=(23, 5)), dtype=torch.float32)
    start = torch.tensor(rng.normal(size=(12, 5)), dtype=torch.float32)
    grid_sq = _squared_grid_distances(SHAPE, True, "cpu")
    whole = start.clone()
    similarity = batch_epoch(whole, rows, grid_sq, 1.5, metric)
    monkeypatch.setattr(_training, "ROWS_PER_CHUNK", 7)
    chunked = start.clone()
    # float32 matmul kernels round differently by batch shape: equal to rounding
    chunked_similarity = batch_epoch(chunked, rows, grid_sq, 1.5, metric)
    torch.testing.assert_close(chunked_similarity, similarity, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-6)
    assert similarity.shape == (23,) and not torch.equal(whole, start)
