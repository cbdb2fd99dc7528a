"""Tests for sklearn_robust.som (SOMProbe)."""

import itertools
import pickle

import numpy as np
import pytest
import torch
from minisom import MiniSom
from sklearn.exceptions import NotFittedError

from sklearn_robust import SOMProbe
from sklearn_robust.som import _som, decay_factor, grid_distance, som_minibatch_step
from sklearn_robust.som._training import _ScaledWeights

from ..conftest import cuda, interrupt_second_call


def _brute_torus(a, b, shape):
    """Distance to the nearest of the 9 tiled copies of unit b, from unit a."""
    n_rows, n_cols = shape
    (ra, ca), (rb, cb) = divmod(a, n_cols), divmod(b, n_cols)
    return min(
        np.hypot(ra - (rb + i * n_rows), ca - (cb + j * n_cols))
        for i, j in itertools.product((-1, 0, 1), repeat=2)
    )


def _clusters(n_per=60, n_clusters=4, n_features=16, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, n_features)) * 5.0
    X = np.concatenate([c + 0.1 * rng.normal(size=(n_per, n_features)) for c in centres])
    y = np.repeat(np.arange(n_clusters), n_per)
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def clusters():
    return _clusters()


@pytest.mark.parametrize("shape", [(5, 7), (6, 6), (1, 4), (3, 1)])
def test_torus_distance_matches_nine_tiles(shape):
    units = np.arange(shape[0] * shape[1])
    got = grid_distance(units[:, None], units[None, :], shape, toroidal=True)
    expected = np.array([[_brute_torus(a, b, shape) for b in units] for a in units])
    np.testing.assert_allclose(got, expected)
    planar = grid_distance(units[:, None], units[None, :], shape, toroidal=False)
    assert np.all(got <= planar + 1e-12)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_bmus_and_distances_match_brute_force(metric):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 6))
    som = SOMProbe(4, 5, metric=metric, n_epochs=1, random_state=0).fit(X)
    W = som.weights_.reshape(20, 6).astype(np.float64)
    if metric == "cosine":
        Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
        Wn = W / np.linalg.norm(W, axis=1, keepdims=True)
        expected = 1.0 - Xn @ Wn.T
    else:
        expected = np.linalg.norm(X[:, None, :] - W[None], axis=2)
    distances = som.transform(X)
    assert distances.shape == (50, 20) and distances.dtype == np.float32
    np.testing.assert_allclose(distances, expected, atol=1e-4)
    np.testing.assert_array_equal(som.predict(X), expected.argmin(axis=1))
    np.testing.assert_array_equal(som.top_bmus(X, k=3), np.argsort(expected, axis=1)[:, :3])
    assert som.score(X) == pytest.approx(-expected.min(axis=1).mean(), abs=1e-4)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_tiny_sigma_single_sample_is_online_kmeans_step(metric):
    """With sigma -> 0 only the BMU moves, by alpha (x - w)."""
    rng = np.random.default_rng(2)
    W0 = rng.normal(size=(3, 4, 5)).astype(np.float32)
    x = rng.normal(size=5).astype(np.float32)
    som = SOMProbe(
        3, 4, metric=metric, sigma=1e-6, learning_rate=0.3, n_epochs=1, batch_size=2, init=W0
    )
    som.fit(np.stack([x, x]))  # one batch of two equal samples: exactly one step
    assert som.n_steps_ == 1 and som.learning_rate_ == pytest.approx(0.3)
    flat = W0.reshape(12, 5)
    if metric == "cosine":
        bmu = np.argmax(flat @ x / np.linalg.norm(flat, axis=1))
    else:
        bmu = np.argmin(np.linalg.norm(flat - x, axis=1))
    expected = flat.copy()
    expected[bmu] += 0.3 * (x - flat[bmu])
    np.testing.assert_allclose(som.weights_.reshape(12, 5), expected, rtol=1e-5, atol=1e-6)


def test_minibatch_step_is_mean_of_neighbourhood_steps():
    rng = np.random.default_rng(3)
    shape = (4, 4)
    W = rng.normal(size=(16, 3))
    batch = rng.normal(size=(5, 3))
    bmus = np.argmin(((batch[:, None] - W[None]) ** 2).sum(-1), axis=1)
    units = np.arange(16)
    expected = W.copy()
    for v in units:
        steps = [
            np.exp(-(grid_distance(b, v, shape) ** 2) / (2 * 1.5**2 + 1e-8)) * 0.2 * (x - W[v])
            for x, b in zip(batch, bmus, strict=True)
        ]
        expected[v] += np.mean(steps, axis=0)
    got = torch.tensor(W, dtype=torch.float32)
    grid_sq = torch.tensor(grid_distance(units[:, None], units[None], shape) ** 2).float()
    som_minibatch_step(got, torch.tensor(batch).float(), grid_sq, 1.5, 0.2, "euclidean")
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("algorithm", ["minibatch", "batch"])
def test_first_loss_is_the_initial_maps_error(clusters, metric, algorithm):
    """With one batch per epoch every BMU is found before any update: the first loss
    is the initial weights' mean distance, computed here by brute force."""
    X, _ = clusters
    init = np.random.default_rng(1).normal(size=(4, 4, X.shape[1])).astype(np.float32)
    som = SOMProbe(
        4, 4, metric=metric, init=init, n_epochs=1, batch_size=len(X), algorithm=algorithm
    ).fit(X)
    units = init.reshape(16, -1).astype(np.float64)
    if metric == "cosine":
        cos = (X @ units.T) / np.outer(np.linalg.norm(X, axis=1), np.linalg.norm(units, axis=1))
        expected = (1 - cos).min(axis=1).mean()
    else:
        expected = np.sqrt(((X[:, None] - units[None]) ** 2).sum(-1)).min(axis=1).mean()
    assert som.loss_history_[0] == pytest.approx(expected, rel=1e-4)


def test_decay_schedules():
    assert decay_factor(0, 100, "exp") == 1.0
    assert decay_factor(100, 100, "exp") == pytest.approx(np.exp(-5))
    assert decay_factor(50, 100, "linear") == pytest.approx(1 - 0.99 * 0.5)
    assert decay_factor(500, 100, "linear") == pytest.approx(0.01)


@pytest.mark.parametrize("algorithm", ["minibatch", "batch"])
def test_clusters_map_to_compact_distinct_regions(clusters, algorithm):
    X, y = clusters
    som = SOMProbe(
        8, 8, sigma=3.0, learning_rate=0.5, n_epochs=4, algorithm=algorithm, random_state=0
    ).fit(X)
    history = som.loss_history_
    assert len(history) == 4 and history[-1] < history[0]
    # the final error is measured after the last update, the loss during the epoch
    assert som.quantization_error_ <= 1.25 * history[-1]
    spread = som.class_spread(X, y)
    assert set(spread) == {0, 1, 2, 3}
    assert max(spread.values()) < 1.5  # units on a 8 x 8 torus, max distance ~5.7
    bmus = som.predict(X)
    dominant = {np.bincount(bmus[y == c]).argmax() for c in range(4)}
    assert len(dominant) == 4
    density = som.bmu_density(X)
    assert density.shape == (8, 8) and density.sum() == pytest.approx(1.0)
    assert 0.0 <= som.topographic_error_ <= 1.0


def test_class_spread_unfolds_the_torus():
    """BMUs straddling the corner of the map: the centre is the corner, not the middle."""
    som = SOMProbe(10, 10, n_epochs=1, random_state=0).fit(np.random.default_rng(0).random((5, 3)))
    corners = np.array([0, 9, 90, 99, 0])  # (0,0) (0,9) (9,0) (9,9) (0,0)
    som.predict = lambda X: corners  # the analysis only needs the BMUs
    spread, centres = som.class_spread(np.zeros((5, 3)), np.zeros(5), return_centers=True)
    unfolded = np.array([[0, 0], [0, -1], [-1, 0], [-1, -1], [0, 0]], dtype=float)
    centre = unfolded.mean(axis=0)
    expected = np.mean([np.hypot(*(p - centre)) for p in unfolded])
    assert spread[0] == pytest.approx(expected)
    np.testing.assert_allclose(centres[0], np.mod(centre, 10))


def _brute_top_units(x, weights, k):
    """The k units with the smallest cosine distance to x, best first, in double precision."""
    cosine = weights @ x / (np.linalg.norm(weights, axis=1) * np.linalg.norm(x))
    return np.argsort(1.0 - cosine, kind="stable")[:k]


def test_bmu_shift_matches_a_loop_over_examples(clusters):
    X, _ = clusters
    shape, k = (6, 6), 5
    som = SOMProbe(*shape, sigma=2.0, n_epochs=2, random_state=0).fit(X)
    weights = som.weights_.reshape(-1, X.shape[1]).astype(np.float64)
    X_perturbed = X + np.random.default_rng(1).normal(size=X.shape).astype(np.float32)
    # From the definition: the i-th best unit of the clean and of the perturbed
    # example, their distance on the torus, one example and one rank at a time.
    expected = np.empty((len(X), k))
    for j, (clean, perturbed) in enumerate(zip(X, X_perturbed, strict=True)):
        units_clean = _brute_top_units(clean.astype(np.float64), weights, k)
        units_perturbed = _brute_top_units(perturbed.astype(np.float64), weights, k)
        for i in range(k):
            expected[j, i] = _brute_torus(units_clean[i], units_perturbed[i], shape)
    shifted = som.bmu_shift(X, X_perturbed, k=k)
    np.testing.assert_allclose(shifted, expected, rtol=0, atol=1e-12)
    assert 0 < np.mean(shifted > 0) < 1  # some examples move, some do not
    same = som.bmu_shift(X, X, k=k)
    assert same.shape == (len(X), k) and np.all(same == 0)


@pytest.mark.parametrize("topology", ["planar", "toroidal"])
def test_quantization_error_matches_minisom(clusters, topology):
    """MiniSom's quantization error of the map's own weights: the mean Euclidean BMU distance."""
    X, _ = clusters
    som = SOMProbe(
        6, 7, metric="euclidean", topology=topology, sigma=2.0, n_epochs=1, random_state=0
    )
    som.fit(X)
    reference = MiniSom(6, 7, X.shape[1])
    reference._weights = som.weights_.astype(np.float64)  # MiniSom's codebook; no setter
    expected = reference.quantization_error(X.astype(np.float64))
    # float32 distances against MiniSom's float64 ones: they differ by ~5e-8 relative
    assert som.quantization_error_ == pytest.approx(expected, rel=1e-6)


def test_topographic_error_matches_minisom(clusters):
    """MiniSom's topographic error of the map's own weights, on a planar map.

    MiniSom's rectangular grid does not wrap: a best and second-best unit on
    opposite edges count as an error there, and as neighbours on SOMProbe's torus.
    So the two definitions agree on a planar map only.
    """
    X, _ = clusters
    som = SOMProbe(
        6, 7, metric="euclidean", topology="planar", sigma=2.0, n_epochs=1, random_state=0
    )
    som.fit(X)
    reference = MiniSom(6, 7, X.shape[1], topology="rectangular")
    reference._weights = som.weights_.astype(np.float64)  # MiniSom's codebook; no setter
    expected = reference.topographic_error(X.astype(np.float64))
    assert 0 < expected < 1  # the test separates neighbours from non-neighbours
    assert som.topographic_error_ == pytest.approx(expected, abs=1e-12)


def test_topographic_error_counts_edge_neighbours_on_torus():
    som = SOMProbe(5, 5, n_epochs=1, random_state=0).fit(np.random.default_rng(0).random((5, 3)))
    first, second = np.array([0, 0, 0, 0]), np.array([4, 20, 24, 2])
    assert som._topographic_error(first, second) == pytest.approx(0.25)
    som.topology = "planar"
    assert som._topographic_error(first, second) == pytest.approx(1.0)


@pytest.mark.parametrize("algorithm", ["minibatch", "batch"])
def test_reproducible_and_pickle(clusters, algorithm):
    X, _ = clusters
    params = dict(n_rows=5, n_cols=5, sigma=2.0, n_epochs=2, algorithm=algorithm, random_state=7)
    a, b = SOMProbe(**params).fit(X), SOMProbe(**params).fit(X)
    np.testing.assert_array_equal(a.weights_, b.weights_)
    clone = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(clone.predict(X), a.predict(X))


def test_partial_fit_continues(clusters):
    X, _ = clusters
    som = SOMProbe(5, 5, sigma=2.0, n_epochs=3, random_state=0)
    som.partial_fit(X)
    before = som.weights_.copy()
    som.partial_fit(X)
    assert som.n_iter_ == 2 and len(som.loss_history_) == 2
    assert som.n_steps_ == 2 * int(np.ceil(len(X) / 10))
    assert not np.array_equal(before, som.weights_)
    assert som.loss_history_[1] <= som.loss_history_[0] + 1e-6
    # partial_fit after fit continues the schedule rather than restarting
    full = SOMProbe(5, 5, sigma=2.0, n_epochs=3, random_state=0).fit(X)
    full.partial_fit(X)
    assert full.n_iter_ == 4


@pytest.mark.parametrize("topology", ["toroidal", "planar"])
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_batch_epoch_is_kohonens_batch_map(clusters, metric, topology):
    """One epoch of the batch map, directly: W_v = sum_i h(c_i, v) x_i / sum_i h(c_i, v)."""
    X, _ = clusters
    shape, sigma = (5, 6), 2.5
    init = np.random.default_rng(3).normal(size=(*shape, X.shape[1])).astype(np.float32)
    som = SOMProbe(
        *shape,
        metric=metric,
        topology=topology,
        sigma=sigma,
        n_epochs=1,
        init=init,
        algorithm="batch",
    ).fit(X)
    units = init.reshape(30, -1).astype(np.float64)
    if metric == "cosine":
        bmus = (X @ units.T / np.linalg.norm(units, axis=1)).argmax(axis=1)
    else:
        bmus = ((X[:, None] - units[None]) ** 2).sum(-1).argmin(axis=1)
    distance = grid_distance(bmus[:, None], np.arange(30)[None], shape, topology == "toroidal")
    h = np.exp(-(distance**2) / (2 * sigma**2 + 1e-8))
    expected = (h.T @ X) / h.sum(axis=0)[:, None]
    np.testing.assert_allclose(som.weights_.reshape(30, -1), expected, rtol=1e-4, atol=1e-4)


def test_neighbourhood_has_no_subnormal_influences():
    """Far units get the floor exp(-50), never a subnormal float (which slows x86 arithmetic)."""
    from sklearn_robust.som._som import _squared_grid_distances
    from sklearn_robust.som._training import _neighbourhood

    grid_sq = _squared_grid_distances((20, 20), True, "cpu")
    for sigma in (10.0, 1.0, 0.3, 0.05):
        influence = _neighbourhood(grid_sq, sigma)
        assert influence.min() == pytest.approx(np.exp(-50.0), rel=1e-5) or sigma == 10.0
        assert influence.min() >= np.exp(-50.0) * 0.99
        assert torch.all(influence.diagonal() == 1.0)
        expected = torch.exp(-grid_sq.double() / (2 * sigma**2 + 1e-8))
        kept = expected >= np.exp(-49.9)  # float32 rounding at the threshold itself
        torch.testing.assert_close(influence.double()[kept], expected[kept], rtol=1e-5, atol=0)


def test_batch_algorithm_on_planar_and_linear_decay(clusters):
    X, _ = clusters
    som = SOMProbe(
        5, 5, sigma=3.0, n_epochs=3, algorithm="batch", topology="planar", decay="linear"
    ).fit(X)
    assert som.loss_history_[-1] < som.loss_history_[0]
    assert som.sigma_ == pytest.approx(1.0)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_rows": 0}, "n_rows"),
        ({"n_cols": 0}, "n_cols"),
        ({"metric": "manhattan"}, "metric"),
        ({"topology": "sphere"}, "topology"),
        ({"init": np.zeros((2, 2, 3))}, "init has shape"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        SOMProbe(**params).fit(np.random.default_rng(0).random((10, 4)))


def test_bad_input():
    X = np.random.default_rng(0).random((10, 4))
    with pytest.raises(NotFittedError):
        SOMProbe().predict(X)
    with pytest.raises(ValueError, match="NaN"):
        SOMProbe().fit(np.where(X > 0.9, np.nan, X))
    with pytest.raises(ValueError, match="minimum of 2"):
        SOMProbe().fit(X[:1])
    som = SOMProbe(3, 3, n_epochs=1, random_state=0).fit(X)
    with pytest.raises(ValueError, match="features"):
        som.predict(X[:, :3])
    with pytest.raises(ValueError, match=r"'k' parameter of SOMProbe.top_bmus .* \[1, 9\]"):
        som.top_bmus(X, k=10)
    with pytest.raises(ValueError, match=r"'k' parameter of SOMProbe.bmu_shift .* Got 0"):
        som.bmu_shift(X, X, k=0)
    with pytest.raises(ValueError, match="same number"):
        som.bmu_shift(X, X[:5], k=2)
    with pytest.raises(ValueError, match="y must have shape"):
        som.class_spread(X, np.zeros(3))
    with pytest.raises(ValueError, match=r"'return_centers' parameter of SOMProbe\.class_spread"):
        som.class_spread(X, np.zeros(10), return_centers="yes")


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: grid_distance(0, 1, 5), "'shape' parameter of grid_distance"),
        (lambda: grid_distance(0.5, 1, (2, 2)), "'units_a' parameter of grid_distance"),
        (lambda: grid_distance(0, 1, (2, 2), toroidal="yes"), "'toroidal' parameter"),
        (lambda: decay_factor(1, 10, "cosine"), "'decay' parameter of decay_factor"),
        (lambda: decay_factor(1, -1, "exp"), "'total' parameter of decay_factor"),
    ],
)
def test_bad_arguments_of_public_functions(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"sigma": -1.0}, "'sigma' parameter of som_minibatch_step"),
        ({"learning_rate": 0.0}, "'learning_rate' parameter of som_minibatch_step"),
        ({"metric": "manhattan"}, "'metric' parameter of som_minibatch_step"),
        ({"batch": np.zeros((2, 3))}, "'batch' parameter of som_minibatch_step"),
    ],
)
def test_bad_arguments_of_minibatch_step(changes, match):
    units = np.arange(4)
    grid_sq = torch.tensor(grid_distance(units[:, None], units[None], (2, 2)) ** 2).float()
    arguments = dict(
        weights=torch.zeros(4, 3),
        batch=torch.ones(2, 3),
        grid_sq=grid_sq,
        sigma=1.0,
        learning_rate=0.1,
        metric="euclidean",
    )
    with pytest.raises(ValueError, match=match):
        som_minibatch_step(**{**arguments, **changes})


def test_unit_cosine_distances_match_scikit_learn(clusters):
    from sklearn.metrics.pairwise import cosine_distances

    X, _ = clusters
    som = SOMProbe(4, 5, n_epochs=1, random_state=0).fit(X)
    got = som.unit_cosine_distances()
    expected = cosine_distances(som.weights_.reshape(20, -1).astype(np.float64))
    assert got.shape == (20, 20) and got.dtype == np.float64
    np.testing.assert_allclose(got, expected, atol=1e-10)
    np.testing.assert_array_equal(np.diag(got), 0.0)
    # Weights far under scikit-learn's zero-norm threshold (about 2e-15) keep their cosines.
    som.weights_ = som.weights_ * np.float32(2.0**-60)
    np.testing.assert_array_equal(som.unit_cosine_distances(), got)


def test_centres_centre_units_and_their_distances(clusters):
    from sklearn.metrics.pairwise import cosine_distances

    X, y = clusters
    som = SOMProbe(8, 8, sigma=3.0, learning_rate=0.5, n_epochs=4, random_state=0).fit(X)
    centres = som.class_centers(X, y)
    assert centres == som.class_spread(X, y, return_centers=True)[1]
    units = som.center_units(X, y)
    for label, (row, col) in centres.items():
        assert 0 <= row < 8 and 0 <= col < 8
        unit_row, unit_col = divmod(units[label], 8)
        # the centre unit is the rounded centre, the shortest way round
        assert grid_distance(units[label], unit_row * 8 + unit_col, (8, 8)) == 0
        gap = [min(abs(a - b), 8 - abs(a - b)) for a, b in ((row, unit_row), (col, unit_col))]
        assert max(gap) <= 0.5
    table = som.center_cosine_distances(X, y)
    assert list(table.index) == list(table.columns) == [0, 1, 2, 3]
    weights = som.weights_.reshape(64, -1)[[units[c] for c in range(4)]]
    np.testing.assert_allclose(table.to_numpy(), cosine_distances(weights), atol=1e-10)
    # four well-separated clusters: four distinct centre directions
    off_diagonal = table.to_numpy()[~np.eye(4, dtype=bool)]
    assert off_diagonal.min() > 0.1


def test_centre_unit_wraps_around_the_torus():
    som = SOMProbe(10, 10, n_epochs=1, random_state=0).fit(np.random.default_rng(0).random((5, 3)))
    som.class_centers = lambda X, y: {0: (9.7, 0.2), 1: (4.4, 9.6)}
    assert som.center_units(None, None) == {0: 0, 1: 4 * 10 + 0}
    som.topology = "planar"
    som.class_centers = lambda X, y: {0: (4.4, 8.6)}
    assert som.center_units(None, None) == {0: 49}


def test_transform_coordinates(clusters):
    X, _ = clusters
    som = SOMProbe(6, 7, n_epochs=1, output="coordinates", random_state=0).fit(X)
    coordinates = som.transform(X)
    rows, cols = np.divmod(som.predict(X), 7)
    assert coordinates.dtype == np.float32 and coordinates.shape == (len(X), 2)
    np.testing.assert_array_equal(coordinates, np.stack([rows, cols], axis=1))
    assert list(som.get_feature_names_out()) == ["bmu_row", "bmu_col"]
    assert len(SOMProbe(6, 7, n_epochs=1).fit(X).get_feature_names_out()) == 42


@cuda
@pytest.mark.parametrize("algorithm", ["minibatch", "batch"])
def test_cpu_and_cuda_agree(clusters, algorithm):
    """Same rule, same shuffles: the maps agree to float32 rounding (well-separated data,
    so no BMU is near a tie)."""
    X, y = clusters
    params = dict(n_rows=6, n_cols=6, sigma=2.0, n_epochs=2, algorithm=algorithm, random_state=0)
    cpu = SOMProbe(**params, device="cpu").fit(X)
    gpu = SOMProbe(**params, device="cuda").fit(X)
    np.testing.assert_allclose(gpu.weights_, cpu.weights_, rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(gpu.predict(X), cpu.predict(X))
    assert gpu.class_spread(X, y) == pytest.approx(cpu.class_spread(X, y))


@pytest.mark.parametrize("topology", ["toroidal", "planar"])
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_u_matrix_matches_a_loop_over_neighbours(clusters, topology, metric):
    X, _ = clusters
    som = SOMProbe(4, 5, metric=metric, topology=topology, n_epochs=1, random_state=0).fit(X)
    W = som.weights_.astype(np.float64)

    def distance(a, b):
        if metric == "euclidean":
            return np.linalg.norm(a - b)
        return 1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b))

    expected = np.zeros((4, 5))
    for r, c in itertools.product(range(4), range(5)):
        neighbours = [(r + dr, c + dc) for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1))]
        if topology == "toroidal":
            neighbours = [(i % 4, j % 5) for i, j in neighbours]
        else:
            neighbours = [(i, j) for i, j in neighbours if 0 <= i < 4 and 0 <= j < 5]
        expected[r, c] = np.mean([distance(W[r, c], W[i, j]) for i, j in neighbours])
    np.testing.assert_allclose(som.u_matrix(), expected, rtol=1e-9, atol=1e-12)


def test_u_matrix_of_a_single_row_map_uses_the_row_only():
    som = SOMProbe(1, 4, metric="euclidean", topology="planar", n_epochs=1).fit(np.eye(4))
    som.weights_ = np.arange(4, dtype=np.float32).reshape(1, 4, 1)
    np.testing.assert_allclose(som.u_matrix(), [[1.0, 1.0, 1.0, 1.0]])


@pytest.mark.parametrize("algorithm", ["minibatch", "batch"])
def test_cosine_map_is_scale_free(clusters, algorithm):
    """Values near 1e30 are representable in float32 but their squares are not: the map is
    trained and queried on data scaled by a power of two, so scale does not matter."""
    X, _ = clusters
    params = dict(n_rows=5, n_cols=5, sigma=2.0, n_epochs=2, algorithm=algorithm, random_state=0)
    small = SOMProbe(**params).fit(X)
    large = SOMProbe(**params).fit(X * 1e30)
    assert np.all(np.isfinite(large.weights_))
    np.testing.assert_allclose(large.weights_ / 1e30, small.weights_, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(large.predict(X * 1e30), small.predict(X))
    assert large.quantization_error_ == pytest.approx(small.quantization_error_, rel=1e-5)
    assert large.loss_history_ == pytest.approx(small.loss_history_, rel=1e-5)
    assert large.topographic_error_ == small.topographic_error_
    # a map fitted on X, queried far away in scale
    np.testing.assert_array_equal(small.predict(X * 1e30), small.predict(X))
    np.testing.assert_array_equal(small.predict(X * 1e-30), small.predict(X))
    np.testing.assert_allclose(small.transform(X * 1e30), small.transform(X), atol=1e-6)
    np.testing.assert_array_equal(small.top_bmus(X * 1e30, 3), small.top_bmus(X, 3))


@pytest.mark.parametrize("algorithm", ["minibatch", "batch"])
def test_euclidean_map_scales_with_the_data(clusters, algorithm):
    """A Euclidean map of X * c is the map of X times c: weights, distances and errors."""
    X, _ = clusters
    params = dict(
        n_rows=5,
        n_cols=5,
        sigma=2.0,
        n_epochs=2,
        algorithm=algorithm,
        metric="euclidean",
        random_state=0,
    )
    small = SOMProbe(**params).fit(X)
    large = SOMProbe(**params).fit(X * 1e30)
    assert np.all(np.isfinite(large.weights_))
    np.testing.assert_allclose(large.weights_ / 1e30, small.weights_, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(large.predict(X * 1e30), small.predict(X))
    assert large.quantization_error_ / 1e30 == pytest.approx(small.quantization_error_, rel=1e-5)
    assert np.array(large.loss_history_) / 1e30 == pytest.approx(small.loss_history_, rel=1e-5)
    np.testing.assert_allclose(large.transform(X * 1e30) / 1e30, small.transform(X), rtol=1e-5)
    assert large.score(X * 1e30) / 1e30 == pytest.approx(small.score(X), rel=1e-5)


# Called more than once per epoch by each algorithm's training (for the batch map
# with one chunk: once for the epoch's loss, once more for the final errors).
_TRAINING_STEPS = {
    "minibatch": (_ScaledWeights, "step"),
    "batch": (_som, "distance_from_similarity"),
}


@pytest.mark.parametrize("algorithm", ["minibatch", "batch"])
def test_interrupted_fit_leaves_no_fitted_map(clusters, monkeypatch, algorithm):
    X, _ = clusters
    for method in ("fit", "partial_fit"):
        som = SOMProbe(5, 5, sigma=2.0, n_epochs=2, algorithm=algorithm, random_state=0)
        with monkeypatch.context() as patch:
            calls = interrupt_second_call(patch, *_TRAINING_STEPS[algorithm])
            with pytest.raises(KeyboardInterrupt):
                getattr(som, method)(X)
        assert len(calls) == 2
        with pytest.raises(NotFittedError):
            som.predict(X)
        assert not hasattr(som, "weights_") and not hasattr(som, "n_features_in_")


@pytest.mark.parametrize("algorithm", ["minibatch", "batch"])
def test_interrupted_partial_fit_or_refit_keeps_the_previous_map(clusters, monkeypatch, algorithm):
    X, _ = clusters
    params = dict(n_rows=5, n_cols=5, sigma=2.0, n_epochs=3, algorithm=algorithm, random_state=0)
    som = SOMProbe(**params).fit(X)
    before = pickle.dumps(som)
    for call in (lambda: som.partial_fit(X), lambda: som.fit(X[:, :5] * 2.0)):
        with monkeypatch.context() as patch:
            interrupt_second_call(patch, *_TRAINING_STEPS[algorithm])
            with pytest.raises(KeyboardInterrupt):
                call()
        assert pickle.dumps(som) == before
    # the shuffle stream was put back too: the next epoch is the uninterrupted one
    expected = SOMProbe(**params).fit(X).partial_fit(X)
    np.testing.assert_array_equal(som.partial_fit(X).weights_, expected.weights_)
    assert som.loss_history_ == expected.loss_history_


def test_values_beyond_float32_are_refused(clusters):
    """float64 input above float32's largest value would become inf in the map's float32."""
    X, _ = clusters
    huge = X.astype(np.float64) * 1e39 / np.abs(X).max()
    message = r"X holds values .* beyond float32's range"
    with pytest.raises(ValueError, match=message):
        SOMProbe(5, 5, n_epochs=1).fit(huge)
    with pytest.raises(ValueError, match=message):
        SOMProbe(5, 5, n_epochs=1).partial_fit(huge)
    with pytest.raises(ValueError, match=r"initial weights .* float32"):
        SOMProbe(5, 5, n_epochs=1, init=np.full((5, 5, X.shape[1]), 1e39)).fit(X)
    for metric in ("cosine", "euclidean"):
        som = SOMProbe(5, 5, metric=metric, n_epochs=1, random_state=0).fit(X)
        with pytest.raises(ValueError, match=message):
            som.partial_fit(huge)
        for method in ("transform", "predict", "score", "top_bmus", "bmu_density"):
            with pytest.raises(ValueError, match=message):
                getattr(som, method)(huge)
        with pytest.raises(ValueError, match=message):
            som.class_spread(huge, np.zeros(len(huge)))
        with pytest.raises(ValueError, match=message):
            som.bmu_shift(X, huge)
