"""Matplotlib plots of the package's results (matplotlib is one of its dependencies)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from sklearn_robust._validation import label_indices

__all__ = [
    "plot_accuracy_curve",
    "plot_bmu_shift",
    "plot_class_spread",
    "plot_critical_distances",
    "plot_decision_landscape",
    "plot_jacobian_norm_map",
    "plot_som_density",
    "plot_som_umatrix",
]

_MIN_ALPHA = 0.15  # a point at chance confidence stays visible


def _pyplot():
    """``matplotlib.pyplot``, with the font lookup's fallback messages silenced.

    Mathtext labels make matplotlib look for fonts a minimal install lacks; it
    falls back to DejaVu Sans, and each lookup's message would fill the console
    wherever logging is configured.
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "matplotlib is needed for plots (a dependency of this package): pip install matplotlib"
        ) from exc
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
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
        The axes drawn on.

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
    # A label outside ``classes`` would otherwise take a neighbouring class's colour.
    indices = label_indices(classes, landscape.labels)
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
        The axes drawn on.

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
        Axes to draw on; None: a new figure's.
    by : str or None, default=None
        The column naming the lines; None: ``"model"`` when present, else ``"attack"``.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

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
    """Show critical distances, one violin per model (the paper's figure 1, right).

    Zeros (misclassified examples) are left out; the share of examples the attack
    never fooled (``inf``) is written under each violin.

    Parameters
    ----------
    distances : dict of str to array-like
        Critical distances per model, from
        :func:`~sklearn_robust.robustness.critical_distance`.
    ax : matplotlib Axes or None, default=None
        Axes to draw on; None: a new figure's.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

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


def plot_som_density(probe, X, y=None, ax=None):
    """Where the samples land on a self-organizing map: the fraction per unit as a heat map.

    Unit ``(row, col)`` is the pixel at ``x = col``, ``y = row`` (row 0 at the
    top, as the grid is indexed). With ``y``, each class's centre on the map
    (:meth:`~sklearn_robust.SOMProbe.class_spread`) is marked by its label; on
    a torus a centre past the last half unit is drawn at its wrapped position
    (e.g. column ``n_cols - 0.2`` at ``-0.2``), next to the units it lies between.

    Parameters
    ----------
    probe : SOMProbe
        A fitted map.
    X : array-like of shape (n_samples, n_features)
        The samples (in the map's input space, e.g. a layer's activations).
    y : array-like of shape (n_samples,) or None, default=None
        Class labels; None: no centres.
    ax : matplotlib Axes or None, default=None
        None: a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_robust import SOMProbe
    >>> from sklearn_robust.plotting import plot_som_density
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(size=(30, 4)), rng.normal(5.0, size=(30, 4))])
    >>> y = np.repeat(["a", "b"], 30)
    >>> probe = SOMProbe(6, 6, sigma=2.0, random_state=0).fit(X)
    >>> ax = plot_som_density(probe, X, y)
    >>> ax.images[0].get_array().shape, sorted(text.get_text() for text in ax.texts)
    ((6, 6), ['a', 'b'])
    """
    # Both computed before drawing: a bad X or y raises without leaving a half-drawn figure.
    density = probe.bmu_density(X)
    centres = None if y is None else probe.class_spread(X, y, return_centers=True)[1]
    plt = _pyplot()
    from matplotlib import patheffects

    if ax is None:
        _, ax = plt.subplots()
    image = ax.imshow(density, cmap="viridis", vmin=0.0, interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, label="fraction of samples")
    if centres is not None:
        shape = density.shape
        wrap = getattr(probe, "topology", "toroidal") == "toroidal"
        outline = [patheffects.withStroke(linewidth=2.5, foreground="black")]
        for label, (row, col) in centres.items():
            if wrap:  # [0, n) -> [-0.5, n - 0.5): inside the drawn map
                row = row - shape[0] if row >= shape[0] - 0.5 else row
                col = col - shape[1] if col >= shape[1] - 0.5 else col
            ax.text(
                col,
                row,
                str(label),
                ha="center",
                va="center",
                color="white",
                fontweight="bold",
                path_effects=outline,
            )
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    ax.set_title("BMU density" if y is None else "BMU density and class centres")
    return ax


def plot_som_umatrix(probe, ax=None):
    """The map's U-matrix: each unit's mean distance to its grid neighbours' weights.

    Dark valleys are regions of similar units; bright ridges separate regions
    that code different inputs (:meth:`SOMProbe.u_matrix`).

    Parameters
    ----------
    probe : SOMProbe
        A fitted map.
    ax : matplotlib Axes or None, default=None
        None: a new figure.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_robust import SOMProbe
    >>> from sklearn_robust.plotting import plot_som_umatrix
    >>> X = np.random.default_rng(0).normal(size=(100, 4))
    >>> ax = plot_som_umatrix(SOMProbe(5, 6, sigma=2.0, random_state=0).fit(X))
    >>> ax.images[0].get_array().shape
    (5, 6)
    """
    u_matrix = probe.u_matrix()
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots()
    image = ax.imshow(u_matrix, cmap="magma", vmin=0.0, interpolation="nearest")
    metric = getattr(probe, "metric", "cosine")
    ax.figure.colorbar(image, ax=ax, label=f"mean {metric} distance to neighbours")
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    ax.set_title("U-matrix")
    return ax


def plot_class_spread(spreads, ax=None):
    """``D_class`` per layer as box plots, one box per layer (Lee and Vijayan, figure 6A).

    Each box summarises the classes' ``D_class`` (mean grid distance from a
    class's BMUs to its centre) on one layer's map; the classes are also drawn
    as points. Smaller means each class is gathered more tightly on the map.

    Parameters
    ----------
    spreads : dict of str to dict
        Layer name -> (class label -> ``D_class``), as returned by
        :meth:`~sklearn_robust.SOMProbe.class_spread`; the boxes follow the
        dict's order. A 1-D array of values in place of a dict is accepted too.
    ax : matplotlib Axes or None, default=None
        None: a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

    Raises
    ------
    ValueError
        When ``spreads`` is empty, or a layer has no values or values that are
        not finite numbers.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> from sklearn_robust.plotting import plot_class_spread
    >>> spreads = {"hidden 1": {0: 2.5, 1: 3.0, 2: 2.0}, "hidden 2": {0: 1.0, 1: 1.5, 2: 0.5}}
    >>> ax = plot_class_spread(spreads)
    >>> len(ax.patches), [label.get_text() for label in ax.get_xticklabels()]
    (2, ['hidden 1', 'hidden 2'])
    """
    if not isinstance(spreads, Mapping) or not spreads:
        raise ValueError(
            "spreads must be a non-empty dict of layer name -> (class label -> D_class); "
            f"got {spreads!r}."
        )
    names, values = list(spreads), []
    for name in names:
        spread = spreads[name]
        raw = list(spread.values()) if isinstance(spread, Mapping) else spread
        try:
            array = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"spreads[{name!r}] must hold numbers; got {spread!r}.") from exc
        if array.ndim != 1 or array.size == 0 or not np.all(np.isfinite(array)):
            raise ValueError(
                f"spreads[{name!r}] must be a non-empty dict of class label -> finite "
                f"D_class (or a 1-D array of them); got {spread!r}."
            )
        values.append(array)
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots()
    positions = np.arange(1, len(names) + 1)
    ax.boxplot(
        values,
        positions=positions,
        widths=0.5,
        patch_artist=True,
        showfliers=False,
        boxprops={"facecolor": "lightsteelblue"},
        medianprops={"color": "black"},
    )
    for position, array in zip(positions, values, strict=True):
        # Spread the points evenly across the box's middle so ties stay visible.
        offsets = np.linspace(-0.12, 0.12, array.size) if array.size > 1 else np.zeros(1)
        ax.scatter(position + offsets, array, s=12, color="black", alpha=0.6, zorder=3)
    ax.set_xticks(positions, [str(name) for name in names])
    ax.set_ylabel(r"$D_\mathrm{class}$ (grid units)")
    ax.set_title("distance of BMUs to their class centre")
    return ax


def plot_bmu_shift(shifts, ax=None):
    """Mean shift of the i-th best BMU against i, one line per perturbation (figure 11).

    For each name, the mean over samples of ``shifts[:, i]`` (from
    :meth:`~sklearn_robust.SOMProbe.bmu_shift`) is drawn against the rank
    ``i + 1``, with a band of one standard error of that mean
    (``std / sqrt(n_samples)``, ``ddof=1``; none for a single sample).

    Parameters
    ----------
    shifts : dict of str to ndarray of shape (n_samples, k)
        Perturbation name (e.g. ``"PGD"``, ``"noise"``) -> grid distances
        between the clean and perturbed inputs' ranked BMUs. The ``k`` may
        differ between names.
    ax : matplotlib Axes or None, default=None
        None: a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

    Raises
    ------
    ValueError
        When ``shifts`` is empty or an array is not 2-D with at least one row
        and one column.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_robust.plotting import plot_bmu_shift
    >>> ax = plot_bmu_shift({"PGD": np.array([[2.0, 3.0], [4.0, 5.0]]),
    ...                      "noise": np.array([[0.0, 1.0], [0.0, 1.0]])})
    >>> [line.get_label() for line in ax.lines], ax.lines[0].get_ydata().tolist()
    (['PGD', 'noise'], [3.0, 4.0])
    """
    if not isinstance(shifts, Mapping) or not shifts:
        raise ValueError(
            "shifts must be a non-empty dict of name -> (n_samples, k) array from "
            f"SOMProbe.bmu_shift; got {shifts!r}."
        )
    arrays = {}
    for name, shift in shifts.items():
        array = np.asarray(shift, dtype=np.float64)
        if array.ndim != 2 or 0 in array.shape:
            raise ValueError(
                f"shifts[{name!r}] must be a 2-D array of shape (n_samples, k) with "
                f"n_samples >= 1 and k >= 1; got shape {array.shape}."
            )
        arrays[name] = array
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots()
    longest = 1
    for name, array in arrays.items():
        n_samples, k = array.shape
        ranks = np.arange(1, k + 1)
        mean = array.mean(axis=0)
        stderr = array.std(axis=0, ddof=1) / np.sqrt(n_samples) if n_samples > 1 else np.zeros(k)
        (line,) = ax.plot(ranks, mean, marker="o", markersize=4, label=str(name))
        ax.fill_between(ranks, mean - stderr, mean + stderr, color=line.get_color(), alpha=0.25)
        longest = max(longest, k)
    ax.set_xticks(np.arange(1, longest + 1))
    ax.set_xlabel("BMU rank")
    ax.set_ylabel("shift on the map (grid units)")
    ax.set_title("BMU shift under perturbation")
    ax.legend()
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
