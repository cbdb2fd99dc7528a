"""The smoothed classifier: certified radii per example, and its scores per class."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from sklearn_robust.compare import ComparisonConfig
from sklearn_robust.compare._certification import (
    certified_accuracy,
    certify_examples,
    smoothing_by_class,
)
from sklearn_robust.compare._settings import SETTINGS

COLUMNS = ["model", "class", "radius", "certified", "abstained", "prediction"]


def random_certified(model, n=80, seed=0):
    """Rows as certify_examples writes them: predictions right, wrong or abstained (None)."""
    rng = np.random.default_rng(seed)
    truth = rng.choice([3, 5, 7, 9], size=n)
    predicted = np.array(
        [c if rng.random() < 0.5 else rng.choice([3, 5, 7, 9, None]) for c in truth],
        dtype=object,
    )
    right = predicted == truth
    return pd.DataFrame(
        {
            "model": model,
            "class": truth,
            "radius": np.where(right, rng.random(n), 0.0),
            "certified": right,
            "abstained": np.array([p is None for p in predicted]),
            "prediction": predicted,
        }
    )[COLUMNS]


def test_smoothing_by_class_matches_sklearn_and_the_means_by_hand():
    certified = pd.concat(
        [random_certified("a", seed=0), random_certified("b", seed=1)], ignore_index=True
    )
    table = smoothing_by_class(certified)
    assert list(table.columns) == ["model", "class", "f1", "radius", "non_abstained"]
    assert table.model.tolist()[0] == "a" and table.model.tolist()[-1] == "b"
    for model, rows in certified.groupby("model"):
        scores = table[table.model == model]
        classes = pd.unique(rows["class"])  # in the order of their first example
        assert scores["class"].tolist() == classes.tolist()
        # The oracle: an abstention is a prediction of a label outside the classes.
        predicted = np.array([-1 if p is None else p for p in rows.prediction], dtype=int)
        truth = rows["class"].to_numpy(dtype=int)
        expected = f1_score(truth, predicted, labels=classes, average=None)
        np.testing.assert_allclose(scores.f1, expected)
        for c, radius, kept in zip(classes, scores.radius, scores.non_abstained, strict=True):
            members = rows[rows["class"] == c]
            assert radius == pytest.approx(members.radius.sum() / len(members))
            assert kept == pytest.approx(np.mean([p is not None for p in members.prediction]))


def test_a_class_never_hit_has_f1_zero_and_abstentions_count_against_recall_only():
    certified = pd.DataFrame(
        [
            ("m", 0, 0.5, True, False, 0),
            ("m", 0, 0.0, False, True, None),
            ("m", 1, 0.0, False, False, 0),  # class 1 never hit
            ("m", 1, 0.0, False, True, None),
        ],
        columns=COLUMNS,
    )
    table = smoothing_by_class(certified).set_index("class")
    # Class 0: 1 hit, predicted twice, 2 members -> 2 / 4; class 1: no hit.
    assert table.f1.tolist() == [0.5, 0.0]
    assert table.radius.tolist() == [0.25, 0.0]
    assert table.non_abstained.tolist() == [0.5, 0.5]


@pytest.fixture(scope="module")
def blobs_model():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal((-2, 0), 0.5, (50, 2)), rng.normal((2, 0), 0.5, (50, 2))])
    y = np.repeat([0, 1], 50)
    return LogisticRegression().fit(X, y)


def evaluated(model):
    """Two right and far from the boundary, one on it, one far inside the other class."""
    (w0, w1), b = model.coef_[0], model.intercept_[0]
    on_boundary = -(b + w1) / w0  # x0 of the boundary where x1 = 1
    X = np.array([[-2.0, 0.0], [2.0, 0.0], [on_boundary, 1.0], [2.0, 1.0]])
    return X, np.array([0, 1, 0, 0])


@pytest.mark.parametrize("quick, n", [(True, 200), (False, 1000)])
def test_certify_examples_counts_a_radius_only_where_right(blobs_model, quick, n):
    config = ComparisonConfig(quick=quick)
    X, y = evaluated(blobs_model)
    rows = certify_examples("lr", blobs_model, X, y, config)
    assert list(rows.columns) == COLUMNS
    assert len(rows) == len(X) and set(rows.model) == {"lr"}
    assert rows["class"].tolist() == y.tolist()
    assert rows.prediction.tolist() == [0, 1, None, 1]
    assert rows.certified.tolist() == [True, True, False, False]
    assert rows.abstained.tolist() == [False, False, True, False]
    wrong_or_abstained = ~rows.certified.to_numpy()
    assert (rows.radius[wrong_or_abstained] == 0).all()  # the wrong one is confident too
    # All n votes for the class, 8 sigma from the boundary: the Clopper-Pearson bound
    # alpha^(1/n), alpha = 0.001.
    expected = SETTINGS.smoothing_sigma * norm.ppf(0.001 ** (1 / n))
    np.testing.assert_allclose(rows.radius[:2], expected, rtol=1e-6)


def test_certify_examples_is_seeded(blobs_model):
    config = ComparisonConfig(quick=True)
    X = np.array([[0.05, 0.0], [-0.1, 0.3], [0.1, -0.2]])  # near the boundary: noisy votes
    first = certify_examples("lr", blobs_model, X, [0, 0, 1], config)
    again = certify_examples("lr", blobs_model, X, [0, 0, 1], config)
    pd.testing.assert_frame_equal(first, again)


def test_certified_accuracy_counts_right_examples_at_the_radius_or_beyond():
    certified = pd.DataFrame(
        {"radius": [0.3, 0.25, 0.1, 0.0, 0.0], "certified": [True, True, True, True, False]}
    )
    assert SETTINGS.certified_radius == 0.25
    assert certified_accuracy(certified) == pytest.approx(2 / 5)
    assert certified_accuracy(certified, radius=0.1) == pytest.approx(3 / 5)
    assert certified_accuracy(certified, radius=0.0) == pytest.approx(4 / 5)
    assert certified_accuracy(certified, radius=1.0) == 0.0
