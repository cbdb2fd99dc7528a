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

from sklearn_robust.plotting import (
    plot_accuracy_curve,
    plot_critical_distances,
    plot_decision_landscape,
    plot_jacobian_norm_map,
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
    with pytest.raises(ImportError, match=r"pip install 'sklearn-robust\[plot\]'"):
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
