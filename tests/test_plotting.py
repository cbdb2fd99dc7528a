import sys

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier

from sklearn_robust import SOMProbe
from sklearn_robust.plotting import (
    plot_accuracy_curve,
    plot_bmu_shift,
    plot_class_spread,
    plot_critical_distances,
    plot_decision_landscape,
    plot_jacobian_norm_map,
    plot_som_density,
)
from sklearn_robust.robustness import decision_landscape, jacobian_norm_map

matplotlib.use("Agg")  # pyplot switches backends while no figure is open

RESOLUTION = 5


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.array(["a", "b", "c"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)]
    return X, y


@pytest.fixture(scope="module")
def landscape(data):
    X, y = data
    model = LogisticRegression().fit(X, y)
    return decision_landscape(model, X[0], extent=3.0, resolution=RESOLUTION, random_state=0)


@pytest.fixture(scope="module")
def jmap(data):
    X, y = data
    model = MLPClassifier((8,), activation="tanh", solver="lbfgs", random_state=0).fit(X, y)
    return jacobian_norm_map(model, X[0], resolution=RESOLUTION, random_state=0)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def center_is_marked(ax):
    return any(
        np.allclose(line.get_xdata(), [0.0]) and np.allclose(line.get_ydata(), [0.0])
        for line in ax.lines
    )


def test_decision_landscape_plot(landscape):
    ax = plot_decision_landscape(landscape)
    assert isinstance(ax, Axes)
    (image,) = ax.images
    assert image.get_array().shape == (RESOLUTION, RESOLUTION)
    extent = landscape.extent
    assert tuple(image.get_extent()) == pytest.approx((-extent, extent, -extent, extent))
    assert image.origin == "lower"  # row i (direction 2) grows upwards
    assert center_is_marked(ax)
    assert ax.get_xlabel() == "direction 1" and ax.get_ylabel() == "direction 2"
    present = sorted(map(str, np.unique(landscape.labels)))
    assert sorted(text.get_text() for text in ax.get_legend().get_texts()) == present
    alpha = np.asarray(image.get_alpha())
    assert alpha.shape == (RESOLUTION, RESOLUTION)
    # More confident points are more opaque.
    order = np.argsort(landscape.confidence.ravel())
    assert np.all(np.diff(alpha.ravel()[order]) >= -1e-12)


def test_each_class_keeps_its_colour_across_landscapes(data, landscape):
    X, y = data
    model = LogisticRegression().fit(X, y)
    # A small plane far inside one class region shows a single class.
    far = decision_landscape(model, np.array([5.0, 5.0, 0.0]), extent=0.1, resolution=3)
    assert len(np.unique(far.labels)) == 1
    full_ax = plot_decision_landscape(landscape)
    _, ax = plt.subplots()
    assert plot_decision_landscape(far, ax=ax) is ax
    label = far.labels[0, 0]

    def colour_of(axes, lscape):
        image = axes.images[0]
        index = list(lscape.classes).index(label)
        return image.cmap(image.norm(index))

    assert colour_of(full_ax, landscape) == colour_of(ax, far)


def test_decision_landscape_without_confidence_is_opaque(data):
    X, y = data
    model = KNeighborsClassifier().fit(X, y)
    landscape = decision_landscape(model, X[0], resolution=3, random_state=0)
    object.__setattr__(landscape, "confidence", np.full((3, 3), np.nan))
    ax = plot_decision_landscape(landscape)
    assert ax.images[0].get_alpha() is None
    assert ax.images[0].get_array().shape == (3, 3)


@pytest.mark.parametrize("log", [False, True])
def test_jacobian_norm_map_plot(jmap, log):
    ax = plot_jacobian_norm_map(jmap, log=log)
    assert isinstance(ax, Axes)
    (image,) = ax.images
    assert image.get_array().shape == (RESOLUTION, RESOLUTION)
    np.testing.assert_allclose(image.get_array(), jmap.norms)
    assert isinstance(image.norm, LogNorm) == log
    assert image.colorbar is not None
    assert center_is_marked(ax)


def test_plot_on_given_axes(jmap, landscape):
    _, (left, right) = plt.subplots(1, 2)
    assert plot_decision_landscape(landscape, ax=left) is left
    assert plot_jacobian_norm_map(jmap, ax=right) is right
    assert len(left.images) == len(right.images) == 1


@pytest.mark.parametrize("missing", ["matplotlib", "matplotlib.pyplot"])
def test_missing_matplotlib_says_how_to_install_it(monkeypatch, landscape, jmap, missing):
    monkeypatch.setitem(sys.modules, missing, None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        plot_decision_landscape(landscape)
    with pytest.raises(ImportError, match="matplotlib is needed"):
        plot_jacobian_norm_map(jmap)


def test_accuracy_curves_one_line_per_model_on_a_log_axis():
    curves = pd.concat(
        [
            pd.DataFrame(
                {"attack": "pgd", "eps": [0.0, 0.1, 1.0], "accuracy": acc, "n": 10, "model": m}
            )
            for m, acc in {"bp": [1.0, 0.5, 0.0], "kh": [1.0, 0.9, 0.2]}.items()
        ]
    )
    ax = plot_accuracy_curve(curves)
    assert [line.get_label() for line in ax.lines] == ["bp", "kh"]
    assert ax.get_xscale() == "log"
    np.testing.assert_array_equal(ax.lines[1].get_xdata(), [0.1, 1.0])  # eps 0 left out
    plt.close("all")


def test_critical_distances_leave_out_zeros_and_count_the_never_fooled():
    distances = {
        "bp": np.array([0.0, 0.5, 1.0, 1.5]),
        "kh": np.array([0.0, 2.0, 3.0, np.inf]),
        "none": np.array([np.inf, np.inf]),
    }
    ax = plot_critical_distances(distances)
    labels = [label.get_text() for label in ax.get_xticklabels()]
    assert labels == ["bp", "kh\n(33% never)", "none\n(100% never)"]
    assert len(ax.collections) >= 2  # two violins (bodies), the empty model has none
    plt.close("all")


# ---------------------------------------------------------------- SOM plots
SOM_SHAPE = (5, 4)


@pytest.fixture(scope="module")
def probe(data):
    X, _ = data
    return SOMProbe(*SOM_SHAPE, sigma=2.0, n_epochs=3, device="cpu", random_state=0).fit(X)


def test_som_density_image_is_the_bmu_density(probe, data):
    X, _ = data
    ax = plot_som_density(probe, X)
    assert isinstance(ax, Axes)
    (image,) = ax.images
    assert image.get_array().shape == SOM_SHAPE
    np.testing.assert_array_equal(image.get_array(), probe.bmu_density(X))
    assert image.colorbar is not None
    assert len(ax.texts) == 0  # no labels, no centres
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("column", "row")


def test_som_density_marks_each_class_centre_with_its_label(probe, data):
    X, y = data
    _, ax = plt.subplots()
    assert plot_som_density(probe, X, y, ax=ax) is ax
    _, centres = probe.class_spread(X, y, return_centers=True)
    marks = {text.get_text(): text.get_position() for text in ax.texts}
    assert sorted(marks) == sorted(map(str, np.unique(y)))
    n_rows, n_cols = SOM_SHAPE
    for label, (row, col) in centres.items():
        x, y_pos = marks[str(label)]
        # Drawn at (col, row), possibly one map width to the left / up on the torus.
        assert (x - col) % n_cols == pytest.approx(0.0, abs=1e-9)
        assert (y_pos - row) % n_rows == pytest.approx(0.0, abs=1e-9)
        assert -0.5 <= x < n_cols - 0.5 and -0.5 <= y_pos < n_rows - 0.5


class _FixedProbe:
    """Duck-typed probe with a class centre across the torus's last half unit."""

    n_rows, n_cols, topology = 10, 10, "toroidal"

    def __init__(self, centres):
        self.centres = centres

    def bmu_density(self, X):
        density = np.zeros((self.n_rows, self.n_cols))
        density[0, 0] = 1.0
        return density

    def class_spread(self, X, y, return_centers=False):
        return {label: 1.0 for label in self.centres}, self.centres


def test_som_density_wraps_centres_past_the_edge_of_the_torus():
    ax = plot_som_density(_FixedProbe({7: (9.8, 4.0), 8: (0.3, 9.2)}), np.zeros((2, 1)), [7, 8])
    marks = {text.get_text(): text.get_position() for text in ax.texts}
    assert marks["7"] == pytest.approx((4.0, -0.2))  # row 9.8 sits between rows 9 and 0
    assert marks["8"] == pytest.approx((9.2, 0.3))  # inside the last unit: not moved


def test_som_density_bad_labels_raise_before_drawing(probe, data):
    X, y = data
    with pytest.raises(ValueError, match="y must have shape"):
        plot_som_density(probe, X, y[:-1])
    assert plt.get_fignums() == []


SPREADS = {
    "hidden 1": {0: 3.0, 1: 2.0, 2: 4.0, 3: 2.5, 4: 3.5},
    "hidden 2": {0: 1.0, 1: 0.5, 2: 2.0, 3: 1.5, 4: 0.8},
    "hidden 3": np.array([0.2, 0.4, 0.3]),
}


def test_class_spread_one_box_per_layer_in_dict_order():
    ax = plot_class_spread(SPREADS)
    assert isinstance(ax, Axes)
    assert len(ax.patches) == len(SPREADS)  # the boxes (patch_artist)
    assert [label.get_text() for label in ax.get_xticklabels()] == list(SPREADS)
    for box, values in zip(ax.patches, SPREADS.values(), strict=True):
        values = np.asarray(list(values.values()) if isinstance(values, dict) else values)
        heights = box.get_path().vertices[:, 1]
        assert heights.min() == pytest.approx(np.percentile(values, 25))
        assert heights.max() == pytest.approx(np.percentile(values, 75))
    # Every class is drawn as a point over its layer's box.
    points = [collection.get_offsets() for collection in ax.collections]
    assert [len(p) for p in points] == [5, 5, 3]
    np.testing.assert_allclose(points[1][:, 1], list(SPREADS["hidden 2"].values()))
    np.testing.assert_allclose(points[1][:, 0], 2.0, atol=0.13)


def test_class_spread_of_fitted_probes_on_given_axes(probe, data):
    X, y = data
    _, ax = plt.subplots()
    spreads = {"som": probe.class_spread(X, y), "again": probe.class_spread(X[::2], y[::2])}
    assert plot_class_spread(spreads, ax=ax) is ax
    assert len(ax.patches) == 2


@pytest.mark.parametrize(
    "spreads, message",
    [
        ({}, "spreads must be a non-empty dict"),
        ([1.0, 2.0], "spreads must be a non-empty dict"),
        ({"a": {}}, r"spreads\['a'\] must be a non-empty dict"),
        ({"a": {0: 1.0}, "b": np.ones((2, 2))}, r"spreads\['b'\] must be a non-empty dict"),
        ({"a": {0: np.nan}}, "finite"),
        ({"a": {0: "far"}}, r"spreads\['a'\] must hold numbers"),
    ],
)
def test_class_spread_bad_input_raises(spreads, message):
    with pytest.raises(ValueError, match=message):
        plot_class_spread(spreads)
    assert plt.get_fignums() == []


def test_bmu_shift_plots_the_mean_shift_per_rank_with_a_standard_error_band():
    rng = np.random.default_rng(0)
    shifts = {"PGD": rng.uniform(2, 5, size=(40, 10)), "noise": rng.uniform(0, 2, size=(40, 10))}
    ax = plot_bmu_shift(shifts)
    assert isinstance(ax, Axes)
    assert [line.get_label() for line in ax.lines] == ["PGD", "noise"]
    assert len(ax.collections) == 2  # one band per line
    for line, band, shift in zip(ax.lines, ax.collections, shifts.values(), strict=True):
        ranks = np.arange(1, 11)
        np.testing.assert_array_equal(line.get_xdata(), ranks)
        mean = shift.mean(axis=0)
        np.testing.assert_allclose(line.get_ydata(), mean)
        stderr = shift.std(axis=0, ddof=1) / np.sqrt(len(shift))
        vertices = band.get_paths()[0].vertices
        for rank, low, high in zip(ranks, mean - stderr, mean + stderr, strict=True):
            at_rank = vertices[np.isclose(vertices[:, 0], rank), 1]
            assert at_rank.min() == pytest.approx(low) and at_rank.max() == pytest.approx(high)
    assert ax.get_xlabel() == "BMU rank"
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["PGD", "noise"]


def test_bmu_shift_of_a_fitted_probe_on_given_axes(probe, data):
    X, _ = data
    noisy = X + np.random.default_rng(1).normal(scale=0.5, size=X.shape)
    shift = probe.bmu_shift(X, noisy, k=4)
    _, ax = plt.subplots()
    assert plot_bmu_shift({"noise": shift, "one sample": shift[:1]}, ax=ax) is ax
    np.testing.assert_allclose(ax.lines[0].get_ydata(), shift.mean(axis=0))
    np.testing.assert_allclose(ax.lines[1].get_ydata(), shift[0])  # a single row: no band
    assert np.all(np.isfinite(ax.collections[1].get_paths()[0].vertices))


@pytest.mark.parametrize(
    "shifts, message",
    [
        ({}, "shifts must be a non-empty dict"),
        (np.ones((3, 2)), "shifts must be a non-empty dict"),
        ({"PGD": np.ones(10)}, r"shifts\['PGD'\] must be a 2-D array .* got shape \(10,\)"),
        ({"PGD": np.ones((2, 3, 4))}, r"must be a 2-D array .* got shape \(2, 3, 4\)"),
        ({"PGD": np.ones((0, 10))}, r"n_samples >= 1 and k >= 1; got shape \(0, 10\)"),
    ],
)
def test_bmu_shift_bad_input_raises(shifts, message):
    with pytest.raises(ValueError, match=message):
        plot_bmu_shift(shifts)
    assert plt.get_fignums() == []


def test_som_plots_say_how_to_install_matplotlib(monkeypatch, probe, data):
    X, y = data
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="matplotlib is needed"):
        plot_som_density(probe, X, y)
    with pytest.raises(ImportError, match="matplotlib is needed"):
        plot_class_spread(SPREADS)
    with pytest.raises(ImportError, match="matplotlib is needed"):
        plot_bmu_shift({"noise": np.ones((2, 3))})


def test_plot_som_umatrix_draws_the_u_matrix():
    from sklearn_robust import SOMProbe
    from sklearn_robust.plotting import plot_som_umatrix

    X = np.random.default_rng(0).normal(size=(60, 3))
    probe = SOMProbe(4, 6, sigma=2.0, n_epochs=2, random_state=0).fit(X)
    ax = plot_som_umatrix(probe)
    np.testing.assert_allclose(ax.images[0].get_array(), probe.u_matrix())
    assert ax.get_title() == "U-matrix"
