"""Small data and hand-made results for the comparison's unit tests."""

import numpy as np
import pandas as pd
import pytest

from sklearn_robust.compare import ComparisonConfig, ComparisonResults, _run, run_comparison
from sklearn_robust.compare import _measures as measures
from sklearn_robust.compare._probes import SOMMeasures


def blobs(n_per_class=40, n_features=6, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, n_features)) * 5
    y = np.repeat([0, 1, 2], n_per_class)
    return centres[y] + rng.normal(size=(len(y), n_features)), y


def blobs_split():
    """Three Gaussian blobs in 6 dimensions: 120 training and 30 test (= evaluated) rows."""
    X_train, y_train = blobs(seed=0)
    X_test, y_test = blobs(n_per_class=10, seed=1)
    return _run._Split(X_train, X_test, y_train, y_test, X_test, y_test, None)


def identity(X):
    return np.asarray(X, dtype=np.float32)


def make_comparison(values, som_shifts=None, densities=None, **fields):
    """A ComparisonResults holding only what the readings read: ``{model: {measure: value}}``."""
    rows = [
        (m, measure, v) for m, by_measure in values.items() for measure, v in by_measure.items()
    ]
    som = {model: SOMMeasures({0: 0.5, 1: 1.0}, som_shifts or {}) for model in values}
    fields = {
        "config": ComparisonConfig(),
        "data_description": "test",
        "curves": pd.DataFrame(),
        "distances": {},
        "spectra": {},
        "landscapes": {},
        "certified": pd.DataFrame(),
        "som": som,
        "input_spread": {0: 1.0, 1: 2.0},
        "densities": densities,
        **fields,
    }
    results = pd.DataFrame(rows, columns=["model", "measure", "value"])
    return ComparisonResults(results=results, **fields)


def som_values(pgd_hidden, noise_hidden, spread_hidden):
    """One model's SOM rows, the input map's the same for every model."""
    return {
        measures.som_bmu_shift("pgd", "hidden"): pgd_hidden,
        measures.som_bmu_shift("noise", "hidden"): noise_hidden,
        measures.som_bmu_shift("pgd", "input"): 2.0,
        measures.som_bmu_shift("noise", "input"): 1.0,
        measures.som_class_spread("hidden"): spread_hidden,
        measures.som_class_spread("input"): 1.5,
        measures.SOM_PGD_L2_NORM: 1.0,
    }


@pytest.fixture(scope="package")
def measured():
    """One model (l2) measured on the blobs, as a worker measures it."""
    config = ComparisonConfig(quick=True, models=("l2",))
    split = blobs_split()
    _run._fit_input_map(split, config, progress=lambda line: None)
    return _run._measure_model("l2", 1, 1, split, config, progress=lambda line: None)


@pytest.fixture(scope="package")
def comparison(tmp_path_factory):
    """A whole run, small: two models on the blobs, read from a CSV file."""
    X, y = blobs(n_per_class=50, seed=2)
    path = tmp_path_factory.mktemp("data") / "blobs.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", fmt="%.6g")
    config = ComparisonConfig(
        dataset="csv", data_path=str(path), models=("l2", "kh-hybrid"), quick=True, n_eval=20
    )
    return run_comparison(config, progress=lambda line: None)
