"""Feldman and Zhang's memorisation scores and the report's memorisation section."""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.neighbors import KNeighborsClassifier

from sklearn_robust.compare import _report_memorisation as report
from sklearn_robust.compare._memorisation import (
    N_MODELS,
    N_MODELS_QUICK,
    class_memorisation,
    measure_memorisation,
    memorisation_scores,
    scores_from_masks,
)

from .conftest import make_comparison

FLIPPED = np.array([3, 50, 97, 140])  # the deliberately mislabelled examples


def clusters_with_flips(n_per_class=50, seed=0):
    """Three tight, far-apart clusters; the points of FLIPPED carry the next class's label."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1, 2], n_per_class)
    X = 10.0 * np.eye(3)[y] + 0.1 * rng.normal(size=(len(y), 3))
    y_noisy = y.copy()
    y_noisy[FLIPPED] = (y[FLIPPED] + 1) % 3
    return X, y_noisy


class Recorder(ClassifierMixin, BaseEstimator):
    """1-NN on all but the first column, which holds the example's index: every fit
    logs (its training indices, its predictions of the whole set, its random_state)."""

    log = []

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y):
        self.indices_ = X[:, 0].astype(int)
        self.knn_ = KNeighborsClassifier(1).fit(X[:, 1:], y)
        self.classes_ = self.knn_.classes_
        return self

    def predict(self, X):
        predicted = self.knn_.predict(X[:, 1:])
        Recorder.log.append((self.indices_, predicted, self.random_state))
        return predicted


class FitRaises(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        raise RuntimeError("fit was called")


def recorded_scores(n_models, random_state):
    """Scores of the Recorder on the flipped clusters, and what each model logged."""
    X, y = clusters_with_flips()
    Recorder.log = []
    indexed = np.column_stack([np.arange(len(y)), X])
    scores = memorisation_scores(
        Recorder(), indexed, y, n_models=n_models, random_state=random_state
    )
    return scores, list(Recorder.log), y


def test_mislabelled_points_are_memorised_and_clean_points_are_not():
    X, y = clusters_with_flips()
    scores, scored = memorisation_scores(
        KNeighborsClassifier(1), X, y, n_models=12, random_state=0, return_scored=True
    )
    flipped = np.isin(np.arange(len(y)), FLIPPED)
    # Held in: 1-NN returns the point's own (wrong) label; held out: its neighbours'.
    assert scored[flipped].sum() >= 3
    np.testing.assert_array_equal(scores[flipped & scored], 1.0)
    # A clean point is predicted right either way, unless its nearest neighbour is a flip.
    clean = scores[~flipped & scored]
    assert np.mean(clean == 0.0) > 0.9
    assert abs(clean.mean()) < 0.05
    np.testing.assert_array_equal(np.isnan(scores), ~scored)


def test_vectorised_scores_equal_a_loop_over_examples():
    scores, log, y = recorded_scores(n_models=6, random_state=1)
    masks = np.zeros((len(log), len(y)), dtype=bool)
    correct = np.zeros_like(masks)
    for k, (indices, predicted, _) in enumerate(log):
        masks[k, indices] = True
        correct[k] = predicted == y
    expected = np.full(len(y), np.nan)
    for i in range(len(y)):  # the definition, one example at a time
        held_in, held_out = correct[masks[:, i], i], correct[~masks[:, i], i]
        if len(held_in) and len(held_out):
            expected[i] = np.mean(held_in) - np.mean(held_out)
    np.testing.assert_array_equal(scores, expected)  # exactly, NaN where unscored
    assert np.all(masks.sum(axis=1) == round(0.7 * len(y)))


def test_scores_from_masks_equal_a_loop_on_random_matrices():
    rng = np.random.default_rng(0)
    masks, correct = rng.random((2, 5, 200)) < 0.6
    scores, scored = scores_from_masks(masks, correct)
    for i in range(200):
        held_in, held_out = correct[masks[:, i], i], correct[~masks[:, i], i]
        if len(held_in) and len(held_out):
            assert scores[i] == np.mean(held_in) - np.mean(held_out)
        else:
            assert np.isnan(scores[i]) and not scored[i]
    assert np.all((scores[scored] >= -1) & (scores[scored] <= 1))


def test_reproducible_by_random_state_and_clones_are_seeded_apart():
    first, log_first, _ = recorded_scores(n_models=4, random_state=7)
    again, log_again, _ = recorded_scores(n_models=4, random_state=7)
    _, log_other, _ = recorded_scores(n_models=4, random_state=8)
    np.testing.assert_array_equal(first, again)
    for (indices, _, seed), (indices_again, _, seed_again) in zip(
        log_first, log_again, strict=True
    ):
        np.testing.assert_array_equal(indices, indices_again)
        assert seed == seed_again
    seeds = [seed for _, _, seed in log_first]
    assert len(set(seeds)) == len(seeds)  # each clone its own random_state
    assert [seed for _, _, seed in log_other] != seeds
    assert not np.array_equal(log_first[0][0], log_other[0][0])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_models": 1},
        {"n_models": 0},
        {"n_models": 2.5},
        {"n_models": True},
        {"subset_fraction": 0.0},
        {"subset_fraction": 1.0},
        {"subset_fraction": 1.5},
        {"subset_fraction": "0.5"},
    ],
)
def test_bad_arguments_raise_before_any_fit(kwargs):
    X, y = clusters_with_flips()
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        memorisation_scores(FitRaises(), X, y, **kwargs)


def test_mismatched_lengths_raise_before_any_fit():
    X, y = clusters_with_flips()
    with pytest.raises(ValueError, match="inconsistent"):
        memorisation_scores(FitRaises(), X, y[:-1])


def test_never_held_out_examples_are_nan():
    X, y = clusters_with_flips()
    scores, scored = memorisation_scores(
        KNeighborsClassifier(1),
        X,
        y,
        n_models=2,
        subset_fraction=0.99,
        random_state=0,
        return_scored=True,
    )  # each model leaves out 1 or 2 of the 150 examples
    assert 1 <= scored.sum() <= 4
    np.testing.assert_array_equal(np.isnan(scores), ~scored)


def test_class_table_counts_scored_examples_and_means_them():
    scores = np.array([1.0, 0.0, np.nan, 0.5, np.nan, np.nan, -0.5])
    y = np.array(["b", "b", "b", "a", "a", "c", "a"])
    table = class_memorisation(scores, y)
    assert list(table.columns) == ["class", "memorisation", "n"]
    assert table["class"].tolist() == ["a", "b", "c"]
    assert table.n.tolist() == [2, 2, 0]
    np.testing.assert_array_equal(table.memorisation, [0.0, 0.5, np.nan])


def test_measure_memorisation_trains_the_configured_number_of_models():
    X, y = clusters_with_flips()
    split = SimpleNamespace(X_train=X, y_train=y)
    for quick, n_models in ((True, N_MODELS_QUICK), (False, N_MODELS)):
        lines = []
        config = SimpleNamespace(quick=quick, random_state=0)
        table, rows = measure_memorisation(
            "knn", KNeighborsClassifier(1), split, config, lines.append
        )
        assert sum("memorisation: model" in line for line in lines) == n_models
        assert list(table.columns) == ["model", "class", "memorisation", "n"]
        assert set(table.model) == {"knn"} and table["class"].tolist() == [0, 1, 2]
        assert rows[0][:2] == ("knn", "memorisation_mean") and np.isfinite(rows[0][2])


# ---------------------------------------------------------------------------- report
def _comparison_with_memorisation(seed=0, n_classes=10):
    rng = np.random.default_rng(seed)
    classes = np.arange(n_classes)
    densities = pd.DataFrame(
        {
            "model": "resnet",
            "class": classes,
            "log_density": rng.normal(size=n_classes),
            "kl": rng.random(n_classes),
            "n_clusters": 2,
            "radius": rng.random(n_classes),
        }
    )
    memorisation = pd.DataFrame(
        {
            "model": "resnet",
            "class": classes.astype(str),  # labels as text: still matched to the densities
            "memorisation": densities.log_density + 0.5 * rng.normal(size=n_classes),
            "n": 100,
        }
    )
    comparison = make_comparison(
        {"resnet": {"accuracy": 0.5}}, densities=densities, memorisation=memorisation
    )
    return comparison, densities, memorisation


def test_report_section_draws_and_reads_the_numbers():
    comparison, densities, memorisation = _comparison_with_memorisation()
    assert report.sections_for(comparison) == report.SECTIONS
    ((title, draw, read),) = report.sections_for(comparison)
    assert title == "Memorisation"
    fig = draw(comparison)
    axes = fig.get_axes()
    assert len(axes) == 2 and all(len(ax.texts) == 10 for ax in axes)  # a label per class
    reading = read(comparison)
    rho_density = spearmanr(densities.log_density, memorisation.memorisation).statistic
    rho_radius = spearmanr(memorisation.memorisation, densities.radius).statistic
    assert f"log density vs memorisation: rho {rho_density:+.2f} over 10 classes" in reading
    assert f"memorisation vs certified radius: rho {rho_radius:+.2f} over 10 classes" in reading
    assert f"rho {rho_density:+.2f}" in axes[0].get_title()


def test_report_section_is_absent_without_memorisation():
    comparison, _, _ = _comparison_with_memorisation()
    assert report.sections_for(dataclasses.replace(comparison, memorisation=None)) == ()


def test_reading_says_undefined_where_the_radius_is_constant():
    comparison, _, _ = _comparison_with_memorisation()
    comparison.densities["radius"] = 0.0
    reading = report.read(comparison)
    assert "memorisation vs certified radius: undefined" in reading
    assert "log density vs memorisation: rho" in reading
