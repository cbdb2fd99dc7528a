"""Feldman and Zhang's memorisation scores, per training example and per class.

The memorisation of training example ``i`` by a learning algorithm ``A`` on a
training set ``S`` (Feldman and Zhang 2020, "What neural networks memorize and
why") is how much more often a model trained with ``i`` predicts its label than
a model trained without it::

    mem(A, S, i) = P[h(x_i) = y_i | h ~ A(S)] - P[h(x_i) = y_i | h ~ A(S \\ i)]

They estimate it from ``m`` models, each trained on a random subset of a fixed
fraction of ``S``: for each example, the accuracy of the models whose subset
held it minus the accuracy of those whose subset did not. Jamroz and Kurdziel
set the per-class mean against the class's DP-GMM density of the
representations: their high-density classes are the more memorised.
"""

from __future__ import annotations

import time
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.utils import check_consistent_length, check_random_state

from . import _measures as measures

__all__ = [
    "class_memorisation",
    "measure_memorisation",
    "memorisation_scores",
]

# The ``measure`` of the run's row: the mean score over the scored training examples.
# Feldman and Zhang train on random subsets of 70% of the training set.
SUBSET_FRACTION = 0.7
# Models trained per run. An example's score is a difference of two accuracies, each
# a mean over the models on one side of it (about 0.7 m and 0.3 m of them): its
# standard error falls as 1 / sqrt(models per side), so 8 models (about 2-3 without
# each example) give a coarse per-example score whose per-class mean over hundreds
# of examples is still steady; 4 when quick keep the cost at 4 trainings.
N_MODELS, N_MODELS_QUICK = 8, 4


def memorisation_scores(
    estimator,
    X,
    y,
    *,
    n_models=8,
    subset_fraction=0.7,
    random_state=None,
    progress=None,
    return_scored=False,
):
    """Estimate each training example's memorisation from models trained on subsets.

    ``n_models`` clones of ``estimator`` are each fitted on a random subset of
    ``round(subset_fraction * n_samples)`` examples (drawn without replacement,
    independently per model) and predict all of ``X``. An example's score is
    the mean correctness of the models whose subset held it minus that of the
    models whose subset did not (Feldman and Zhang 2020).

    Parameters
    ----------
    estimator : classifier
        Unfitted scikit-learn style classifier; it is cloned, never fitted.
    X : array-like of shape (n_samples, ...)
        The training examples.
    y : array-like of shape (n_samples,)
        Their labels.
    n_models : int, default=8
        Models trained, at least 2. The standard error of a score falls as
        ``1 / sqrt`` of the models on each side of the example.
    subset_fraction : float, default=0.7
        Share of the examples each model is trained on, in (0, 1).
    random_state : int, RandomState instance or None, default=None
        Seeds the subsets, and each clone's ``random_state`` (and every nested
        ``*__random_state``, e.g. in a pipeline) where it has one, so that the
        clones differ as independently trained models do.
    progress : callable or None, default=None
        Receives one line per model trained.
    return_scored : bool, default=False
        Also return which examples were scored.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        Estimates in [-1, 1]. NaN for an example that every model's subset
        held, or that none held: with few models or a ``subset_fraction``
        near 0 or 1 some examples have no models on one side to compare.
    scored : ndarray of bool, shape (n_samples,)
        Only with ``return_scored``: where ``scores`` is defined.

    Raises
    ------
    ValueError
        For ``n_models < 2``, ``subset_fraction`` outside (0, 1), or ``X`` and
        ``y`` of different lengths; before any model is trained.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_blobs
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_robust.compare._memorisation import memorisation_scores
    >>> X, y = make_blobs(n_samples=60, centers=3, random_state=0)
    >>> scores, scored = memorisation_scores(
    ...     LogisticRegression(), X, y, n_models=6, random_state=0, return_scored=True
    ... )
    >>> scores.shape, int(scored.sum())  # 4 examples were in every model's subset
    ((60,), 56)
    >>> bool(np.nanmean(scores) < 0.1)  # well-separated blobs: little to memorise
    True
    """
    _check_arguments(n_models, subset_fraction)
    check_consistent_length(X, y)
    y = np.asarray(y)
    rng = check_random_state(random_state)
    masks = _subset_masks(len(y), n_models, subset_fraction, rng)
    seeds = rng.randint(np.iinfo(np.int32).max, size=n_models)
    correct = np.empty_like(masks)
    for k, (mask, seed) in enumerate(zip(masks, seeds, strict=True)):
        if progress is not None:
            progress(f"memorisation: model {k + 1}/{n_models} on {int(mask.sum()):,} examples")
        model = _seeded_clone(estimator, int(seed)).fit(_take(X, mask), y[mask])
        correct[k] = np.asarray(model.predict(X)) == y
    scores, scored = scores_from_masks(masks, correct)
    return (scores, scored) if return_scored else scores


def _check_arguments(n_models, subset_fraction):
    """Refuse bad arguments before a model is trained: a training can take hours."""
    if isinstance(n_models, bool) or not isinstance(n_models, Integral) or n_models < 2:
        raise ValueError(
            f"n_models must be an integer of at least 2 (models with and without each "
            f"example); got {n_models!r}."
        )
    if (
        isinstance(subset_fraction, bool)
        or not isinstance(subset_fraction, Real)
        or not 0 < subset_fraction < 1
    ):
        raise ValueError(f"subset_fraction must be in (0, 1); got {subset_fraction!r}.")


def _subset_masks(n_samples, n_models, subset_fraction, rng):
    """``(n_models, n_samples)``: whether each model's subset holds each example.

    Every subset keeps at least one example and leaves out at least one, so
    that each model can be fitted and each compares something.
    """
    if n_samples < 2:
        raise ValueError(f"memorisation needs at least 2 examples; got {n_samples}.")
    size = min(max(round(subset_fraction * n_samples), 1), n_samples - 1)
    masks = np.zeros((n_models, n_samples), dtype=bool)
    for mask in masks:
        mask[rng.choice(n_samples, size=size, replace=False)] = True
    return masks


def _seeded_clone(estimator, seed):
    """A clone with every ``random_state`` parameter (nested ones too) set to ``seed``."""
    model = clone(estimator)
    names = [
        name
        for name in model.get_params(deep=True)
        if name == "random_state" or name.endswith("__random_state")
    ]
    return model.set_params(**dict.fromkeys(names, seed)) if names else model


def _take(X, mask):
    """The rows of ``X`` where ``mask`` holds: arrays, frames and lists alike."""
    if hasattr(X, "iloc"):
        return X.iloc[np.flatnonzero(mask)]
    if isinstance(X, list):
        return [row for row, keep in zip(X, mask, strict=True) if keep]
    return np.asarray(X)[mask]


def scores_from_masks(masks, correct):
    """Memorisation scores from which models held each example and which were right.

    Parameters
    ----------
    masks : ndarray of bool, shape (n_models, n_samples)
        Whether model ``k`` was trained on example ``i``.
    correct : ndarray of bool, shape (n_models, n_samples)
        Whether model ``k`` predicted example ``i``'s label.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        Accuracy of the models that held the example minus that of the others;
        NaN where either side has no model.
    scored : ndarray of bool, shape (n_samples,)
        Where ``scores`` is defined.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_robust.compare._memorisation import scores_from_masks
    >>> masks = np.array([[1, 1, 1], [0, 1, 0], [0, 1, 1]], dtype=bool)
    >>> correct = np.array([[1, 1, 1], [0, 1, 1], [1, 0, 1]], dtype=bool)
    >>> scores, scored = scores_from_masks(masks, correct)
    >>> scores.tolist()[0], scored.tolist()
    (0.5, [True, False, True])
    """
    masks, correct = np.asarray(masks, dtype=bool), np.asarray(correct, dtype=bool)
    n_in, n_out = masks.sum(axis=0), (~masks).sum(axis=0)
    scored = (n_in > 0) & (n_out > 0)
    hits_in = (correct & masks).sum(axis=0)
    hits_out = (correct & ~masks).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):  # 0 / 0 where a side is empty
        scores = hits_in / n_in - hits_out / n_out
    return np.where(scored, scores, np.nan), scored


def class_memorisation(scores, y):
    """Per class: the mean memorisation score and the number of scored examples.

    Parameters
    ----------
    scores : array-like of shape (n_samples,)
        From :func:`memorisation_scores`; NaN where not scored.
    y : array-like of shape (n_samples,)
        The examples' labels.

    Returns
    -------
    pandas.DataFrame
        Columns class (sorted), memorisation (mean over the class's scored
        examples; NaN if none was scored), n (its scored examples).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_robust.compare._memorisation import class_memorisation
    >>> class_memorisation(np.array([0.5, np.nan, 0.0, 1.0]), [1, 1, 0, 0])
       class  memorisation  n
    0      0           0.5  2
    1      1           0.5  1
    """
    scores = np.asarray(scores, dtype=float)
    check_consistent_length(scores, y)
    by_class = pd.Series(scores).groupby(np.asarray(y))
    # pandas' mean skips NaN (and gives NaN, without a warning, for a class with none).
    table = pd.DataFrame({"memorisation": by_class.mean(), "n": by_class.count()})
    return table.rename_axis("class").reset_index()


def measure_memorisation(name, estimator, split, config, progress):
    """Per-class memorisation of a model of the comparison, on its training set.

    ``N_MODELS`` clones (``N_MODELS_QUICK`` when ``config.quick``) of the
    unfitted ``estimator`` are trained on random 70% subsets of
    ``split.X_train`` (Feldman and Zhang), seeded by ``config.random_state``.

    Parameters
    ----------
    name : str
        The model's name in the comparison.
    estimator : classifier
        The model, unfitted (e.g. from :func:`~sklearn_robust.compare.model_family`).
    split : _Split
        The comparison's data; only ``X_train`` and ``y_train`` are read.
    config : ComparisonConfig
        Its ``quick`` and ``random_state``.
    progress : callable
        Receives one line per model trained.

    Returns
    -------
    table : pandas.DataFrame
        Columns model, class, memorisation, n: one row per class.
    rows : list of (str, str, float)
        ``(name, "memorisation_mean", mean score over the scored examples)``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from sklearn.datasets import make_blobs
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_robust.compare._memorisation import measure_memorisation
    >>> X, y = make_blobs(n_samples=60, centers=3, random_state=0)
    >>> split = SimpleNamespace(X_train=X, y_train=y)
    >>> config = SimpleNamespace(quick=True, random_state=0)
    >>> table, rows = measure_memorisation(
    ...     "logistic", LogisticRegression(), split, config, progress=lambda line: None
    ... )
    >>> list(table.columns), len(table), rows[0][1]
    (['model', 'class', 'memorisation', 'n'], 3, 'memorisation_mean')
    """
    n_models = N_MODELS_QUICK if config.quick else N_MODELS
    started = time.perf_counter()
    scores = memorisation_scores(
        estimator,
        split.X_train,
        split.y_train,
        n_models=n_models,
        subset_fraction=SUBSET_FRACTION,
        random_state=config.random_state,
        progress=lambda line: progress(f"{name}: {line}"),
    )
    progress(f"{name}: memorisation of {n_models} models in {time.perf_counter() - started:.0f} s")
    table = class_memorisation(scores, split.y_train)
    table.insert(0, "model", name)
    mean = float(np.nanmean(scores)) if np.isfinite(scores).any() else float("nan")
    return table, [(name, measures.MEMORISATION_MEAN, mean)]
