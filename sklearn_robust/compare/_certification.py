"""The smoothed classifier of each model: certified radii, and its robustness per class.

Cohen et al.'s randomized smoothing certifies an L2 radius for each evaluated
example; Jamroz and Kurdziel compare classes by three scores of that smoothed
classifier: its F1 score, the mean certified radius and the fraction of inputs
on which it does not abstain.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..robustness import certify
from ._settings import SETTINGS

__all__ = ["certified_accuracy", "certify_examples", "smoothing_by_class"]


def certify_examples(name, model, X, y, config):
    """One row per example: class, certified radius (0 unless right), right, abstained.

    Parameters
    ----------
    name : str
        The model's name, for the ``model`` column.
    model : fitted classifier
        The base classifier of the smoothed one.
    X, y : array-like
        The evaluated examples and their labels.
    config : ComparisonConfig
        ``quick`` and ``convolutional`` (the noise draws per example, see
        :func:`_n_draws`), ``random_state``.

    Returns
    -------
    pandas.DataFrame
        Columns model, class, radius, certified (the smoothed classifier is
        right: its radius counts), abstained.
    """
    labels, radii = certify(
        model,
        X,
        SETTINGS.smoothing_sigma,
        n0=50,
        n=_n_draws(config),
        batch_size=_noisy_batch(np.shape(X)[1]),
        abstain=None,
        random_state=config.random_state,
    )
    abstained = np.array([label is None for label in labels])
    right = labels == np.asarray(y, dtype=object)
    return pd.DataFrame(
        {
            "model": name,
            "class": y,
            "radius": np.where(right, radii, 0.0),
            "certified": right,
            "abstained": abstained,
            "prediction": labels,
        }
    )


def _n_draws(config):
    """Noise draws per example: 1,000, 500 for the convolutional family (each draw is a
    forward pass through a CNN), 200 when quick."""
    if config.quick:
        return 200
    return 500 if config.convolutional else 1000


def _noisy_batch(n_features):
    """Noisy copies per forward pass: 10,000, fewer for wide inputs (2^20 values a pass).

    A convolutional network's activations for 10,000 CIFAR images do not fit in a
    CPU's caches; batches of a few hundred images are 3-4 times faster there.
    """
    return int(min(10_000, max(64, 2**20 // n_features)))


def certified_accuracy(certified, radius=SETTINGS.certified_radius):
    """Share of the examples certified right at ``radius`` or more."""
    far = certified["radius"] >= radius
    return float(np.mean(certified["certified"] & far))


def smoothing_by_class(certified):
    """Per model and class: the smoothed classifier's F1, mean radius, non-abstained fraction.

    An abstention is a prediction of no class: it lowers the class's recall and
    no class's precision. The mean radius counts 0 for examples the smoothed
    classifier gets wrong or abstains on.

    Parameters
    ----------
    certified : pandas.DataFrame
        From :func:`certify_examples` (one or more models).

    Returns
    -------
    pandas.DataFrame
        Columns model, class, f1, radius, non_abstained; one row per model and class.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_robust.compare._certification import smoothing_by_class
    >>> certified = pd.DataFrame({
    ...     "model": "m", "class": [0, 0, 1, 1], "prediction": [0, None, 0, 1],
    ...     "radius": [0.5, 0.0, 0.0, 0.3], "certified": [True, False, False, True],
    ...     "abstained": [False, True, False, False]})
    >>> smoothing_by_class(certified).round(3).to_dict("list")["f1"]
    [0.5, 0.667]
    """
    tables = []
    for model, rows in certified.groupby("model", sort=False):
        truth, predicted = rows["class"].to_numpy(), rows["prediction"].to_numpy()
        right = rows["certified"].to_numpy(bool)
        classes = pd.unique(truth)
        hits = np.array([np.sum(right & (truth == c)) for c in classes], dtype=float)
        claimed = np.array([np.sum(predicted == c) for c in classes], dtype=float)
        members = np.array([np.sum(truth == c) for c in classes], dtype=float)
        # F1 = 2 hits / (predicted as c + truly c); 0 where the class was never hit.
        f1 = np.divide(2 * hits, claimed + members, out=np.zeros_like(hits), where=hits > 0)
        grouped = rows.groupby("class", sort=False)
        tables.append(
            pd.DataFrame(
                {
                    "model": model,
                    "class": classes,
                    "f1": f1,
                    "radius": grouped.radius.mean().reindex(classes).to_numpy(),
                    "non_abstained": 1.0
                    - grouped.abstained.mean().reindex(classes).to_numpy(dtype=float),
                }
            )
        )
    return pd.concat(tables, ignore_index=True)
