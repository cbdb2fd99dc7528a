"""Matplotlib plots of the package's results (needs the optional ``plot`` extra)."""

from __future__ import annotations

import numpy as np

__all__ = [
    "plot_accuracy_curve",
    "plot_critical_distances",
    "plot_decision_landscape",
    "plot_jacobian_norm_map",
]

_MIN_ALPHA = 0.15  # a point at chance confidence stays visible


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "matplotlib is needed for plots: pip install 'sklearn-robust[plot]'"
        ) from exc
    return plt


def _label_plane(ax):
    """The center marked and both directions named: shared by every plot of a plane."""
    ax.plot([0.0], [0.0], marker="+", markersize=12, markeredgewidth=2, color="black")
    ax.set_xlabel("direction 1")
    ax.set_ylabel("direction 2")
    return ax


def _imshow_plane(ax, plane, values, **kwargs):
    extent = plane.extent
    # origin="lower": row i of the map sits at offset offsets[i] along direction 2, upwards.
    return ax.imshow(
        values,
        origin="lower",
        extent=(-extent, extent, -extent, extent),
        interpolation="nearest",
        **kwargs,
    )


def plot_decision_landscape(landscape, ax=None):
    """Show a decision landscape: the class by colour, the confidence by opacity.

    Each class of the classifier keeps one colour (its position in ``classes``),
    so landscapes of one model are comparable; a point is opaque at confidence 1
    and fades towards white at chance level (1 / n_classes). The center of the
    plane is marked with a cross.

    Parameters
    ----------
    landscape : DecisionLandscape
        From :func:`~sklearn_robust.robustness.decision_landscape`.
    ax : matplotlib Axes or None, default=None
        None: a new figure.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_robust.plotting import plot_decision_landscape
    >>> from sklearn_robust.robustness import decision_landscape
    >>> X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]); y = ["a", "b", "c"]
    >>> model = LogisticRegression().fit(X, y)
    >>> ax = plot_decision_landscape(decision_landscape(model, X[0], resolution=5,
    ...                                                 random_state=0))
    >>> ax.images[0].get_array().shape
    (5, 5)
    """
    plt = _pyplot()
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    if ax is None:
        _, ax = plt.subplots()
    classes = np.asarray(landscape.classes)
    colors = _class_colors(len(classes))
    indices = np.searchsorted(classes, landscape.labels)
    _imshow_plane(
        ax,
        landscape,
        indices,
        cmap=ListedColormap(colors),
        vmin=-0.5,
        vmax=len(classes) - 0.5,
        alpha=_opacity(landscape.confidence, len(classes)),
    )
    present = np.unique(indices)
    handles = [Patch(color=colors[k], label=str(classes[k])) for k in present]
    ax.legend(handles=handles, title="class", loc="upper left", bbox_to_anchor=(1.02, 1.0))
    ax.set_title("decision landscape")
    return _label_plane(ax)


def plot_jacobian_norm_map(jmap, ax=None, log=False):
    """Show a Jacobian-norm map with a colorbar.

    Parameters
    ----------
    jmap : JacobianNormMap
        From :func:`~sklearn_robust.robustness.jacobian_norm_map`.
    ax : matplotlib Axes or None, default=None
        None: a new figure.
    log : bool, default=False
        A logarithmic colour scale, for norms that span decades.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn.neural_network import MLPClassifier
    >>> from sklearn_robust.plotting import plot_jacobian_norm_map
    >>> from sklearn_robust.robustness import jacobian_norm_map
    >>> X = np.random.default_rng(0).normal(size=(30, 3)); y = X[:, 0] > 0
    >>> model = MLPClassifier((8,), solver="lbfgs", random_state=0).fit(X, y)
    >>> ax = plot_jacobian_norm_map(jacobian_norm_map(model, X[0], resolution=4,
    ...                                               random_state=0), log=True)
    >>> ax.images[0].get_array().shape
    (4, 4)
    """
    plt = _pyplot()
    from matplotlib.colors import LogNorm

    if ax is None:
        _, ax = plt.subplots()
    norms = np.asarray(jmap.norms)
    norm = None
    if log:
        positive = norms[norms > 0]
        low = positive.min() if positive.size else 1.0
        norm = LogNorm(vmin=low, vmax=max(norms.max(), low))
    image = _imshow_plane(ax, jmap, norms, cmap="viridis", norm=norm)
    symbol = "h" if getattr(jmap, "output", "hidden") == "hidden" else "logits"
    ax.figure.colorbar(image, ax=ax, label=rf"$\|\partial {symbol} / \partial x\|_F$")
    ax.set_title("Jacobian norm")
    return _label_plane(ax)


def plot_accuracy_curve(curve, ax=None, by=None):
    """Accuracy against eps on a log axis, one line per group (the paper's figure 1, left).

    Parameters
    ----------
    curve : pandas.DataFrame
        From :func:`~sklearn_robust.robustness.accuracy_curve`, or several
        concatenated with a column that tells them apart (e.g. ``model``).
    ax : matplotlib Axes or None, default=None
    by : str or None, default=None
        The column naming the lines; None: ``"model"`` when present, else ``"attack"``.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from sklearn_robust.plotting import plot_accuracy_curve
    >>> curve = pd.DataFrame({"attack": "pgd", "eps": [0.01, 0.1, 1.0],
    ...                       "accuracy": [1.0, 0.6, 0.0], "n": 50})
    >>> len(plot_accuracy_curve(curve).lines)
    1
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots()
    by = by or ("model" if "model" in curve.columns else "attack")
    positive = curve[curve["eps"] > 0]  # eps = 0 has no place on a log axis
    for name, group in positive.groupby(by, sort=False):
        ax.plot(group["eps"], group["accuracy"], marker="o", markersize=3, label=str(name))
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(r"perturbation size $\epsilon$")
    ax.set_ylabel("accuracy")
    ax.legend(title=by)
    return ax


def plot_critical_distances(distances, ax=None):
    """Distributions of critical distances, one violin per model (the paper's figure 1, right).

    Zeros (misclassified examples) are left out; the share of examples the attack
    never fooled (``inf``) is written under each violin.

    Parameters
    ----------
    distances : dict of str to array-like
        Critical distances per model, from
        :func:`~sklearn_robust.robustness.critical_distance`.
    ax : matplotlib Axes or None, default=None

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_robust.plotting import plot_critical_distances
    >>> rng = np.random.default_rng(0)
    >>> ax = plot_critical_distances({"a": rng.random(50), "b": np.append(rng.random(50), np.inf)})
    >>> [label.get_text().split()[0] for label in ax.get_xticklabels()]
    ['a', 'b']
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots()
    names, finite, labels = list(distances), [], []
    for name in names:
        values = np.asarray(distances[name], dtype=np.float64)
        values = values[values > 0]
        never = np.isinf(values).mean() if values.size else 0.0
        finite.append(values[np.isfinite(values)])
        labels.append(name if never == 0 else f"{name}\n({never:.0%} never)")
    drawable = [i for i, values in enumerate(finite) if values.size > 1]
    if drawable:
        ax.violinplot(
            [finite[i] for i in drawable], positions=drawable, showmedians=True, widths=0.8
        )
    ax.set_xticks(range(len(names)), labels)
    ax.set_ylabel(r"critical distance $\|\Delta x\|_2$")
    return ax


def _class_colors(n_classes):
    """One colour per class: tab10 or tab20 while they suffice, then evenly spaced hues."""
    from matplotlib import colormaps

    if n_classes <= 10:
        return list(colormaps["tab10"].colors[:n_classes])
    if n_classes <= 20:
        return list(colormaps["tab20"].colors[:n_classes])
    return list(colormaps["hsv"](np.linspace(0.0, 1.0, n_classes, endpoint=False)))


def _opacity(confidence, n_classes):
    """Confidence from chance (1 / n_classes) to certainty, as opacity in [_MIN_ALPHA, 1]."""
    confidence = np.asarray(confidence, dtype=np.float64)
    if np.all(np.isnan(confidence)):
        return None
    chance = 1.0 / max(n_classes, 1)
    scaled = np.clip((confidence - chance) / (1.0 - chance), 0.0, 1.0)
    return np.where(np.isnan(scaled), 1.0, _MIN_ALPHA + (1.0 - _MIN_ALPHA) * scaled)
