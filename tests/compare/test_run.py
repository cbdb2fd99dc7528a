"""Unit tests of the comparison's new sections: DP-GMM rows and the generated readings."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from sklearn_robust.compare import ComparisonConfig, ComparisonResults
from sklearn_robust.compare import _measures as measures
from sklearn_robust.compare import _probes as compare_probes
from sklearn_robust.compare import _report as report
from sklearn_robust.compare import _run as compare
from sklearn_robust.compare._probes import SOMMeasures


def _blobs(n_per_class=40, n_features=6, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, n_features)) * 5
    y = np.repeat([0, 1, 2], n_per_class)
    return centres[y] + rng.normal(size=(len(y), n_features)), y


def _split():
    X_train, y_train = _blobs(seed=0)
    X_test, y_test = _blobs(n_per_class=10, seed=1)
    return compare._Split(X_train, X_test, y_train, y_test, X_test, y_test, None)


def _certified(radii):
    classes = np.repeat([0, 1, 2], 2)
    return pd.DataFrame({"model": "m", "class": classes, "radius": np.repeat(radii, 2)})


def _identity(X):
    return np.asarray(X, dtype=np.float32)


def test_densities_per_class_and_correlations():
    config = ComparisonConfig(quick=True)
    table, rows = compare_probes.measure_densities(
        "m", _identity, _split(), _certified([0.1, 0.5, 0.3]), config
    )
    assert list(table["class"]) == [0, 1, 2]
    np.testing.assert_allclose(table.radius, [0.1, 0.5, 0.3])
    assert np.all(np.isfinite(table[["log_density", "kl"]])) and (table.kl >= 0).all()
    values = dict((measure, value) for _, measure, value in rows)
    assert {
        measures.DPGMM_LOG_DENSITY_MEAN,
        measures.DPGMM_KL_MEAN,
        measures.DPGMM_N_CLUSTERS_MEAN,
    } <= set(values)
    for quantity in measures.DENSITY_QUANTITIES:
        assert -1 <= values[measures.dpgmm_radius_spearman(quantity)] <= 1


def test_undefined_correlations_are_left_out():
    config = ComparisonConfig(quick=True)
    _, rows = compare_probes.measure_densities(
        "m", _identity, _split(), _certified([0.0, 0.0, 0.0]), config
    )
    names = {measure for _, measure, _ in rows}
    assert measures.DPGMM_LOG_DENSITY_MEAN in names
    assert not any(measures.dpgmm_radius_spearman(q) in names for q in measures.DENSITY_QUANTITIES)


def test_one_thread_restores_the_thread_count():
    before = torch.get_num_threads()
    with compare._one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def _comparison(values, som_shifts=None, densities=None):
    """A ComparisonResults holding only what the readings read."""
    rows = [(m, measure, v) for m, measures in values.items() for measure, v in measures.items()]
    som = {model: SOMMeasures({0: 0.5, 1: 1.0}, som_shifts or {}) for model in values}
    return ComparisonResults(
        config=ComparisonConfig(),
        data_description="test",
        results=pd.DataFrame(rows, columns=["model", "measure", "value"]),
        curves=pd.DataFrame(),
        distances={},
        spectra={},
        landscapes={},
        certified=pd.DataFrame(),
        som=som,
        input_spread={0: 1.0, 1: 2.0},
        densities=densities,
    )


def _som_values(pgd_hidden, noise_hidden, spread_hidden):
    return {
        measures.som_bmu_shift("pgd", "hidden"): pgd_hidden,
        measures.som_bmu_shift("noise", "hidden"): noise_hidden,
        measures.som_bmu_shift("pgd", "input"): 2.0,
        measures.som_bmu_shift("noise", "input"): 1.0,
        measures.som_class_spread("hidden"): spread_hidden,
        measures.som_class_spread("input"): 1.5,
        measures.SOM_PGD_L2_NORM: 1.0,
    }


def test_som_reading_states_what_the_numbers_say():
    comparison = _comparison(
        {"backprop": _som_values(3.0, 1.0, 1.0), "l2": _som_values(1.0, 2.0, 2.0)}
    )
    reading = report._read_som(comparison)
    assert "the hidden layer of l2 keeps its top-10 BMUs closest" in reading
    assert "that of backprop moves them furthest (3.00)" in reading
    assert "for backprop but not for l2" in reading  # l2: noise moves them further
    assert "1 of 2 hidden layers gather the classes more tightly than the input map" in reading
    assert "widens this PGD/noise gap for 1 of 2 models (backprop)" in reading

    agreeing = _comparison({m: _som_values(3.0, 1.0, 1.0) for m in ("a", "b")})
    assert "for every model" in report._read_som(agreeing)


def _density_values(rho_log_density, rho_kl):
    values = {measures.DPGMM_LOG_DENSITY_MEAN: 0.0, measures.DPGMM_KL_MEAN: 1.0}
    if rho_log_density is not None:
        values[measures.dpgmm_radius_spearman("log_density")] = rho_log_density
        values[measures.dpgmm_radius_spearman("kl")] = rho_kl
    return values


@pytest.mark.parametrize(
    "rhos, expected",
    [
        ({"a": (0.9, 0.1), "b": (0.8, 0.2)}, "positive for every model, the opposite of the paper"),
        ({"a": (-0.9, -0.1), "b": (-0.8, -0.2)}, "negative for every model, as in the paper"),
        ({"a": (-0.9, 0.1), "b": (0.8, 0.2)}, "negative, as in the paper, for 1 of 2 models"),
        ({"a": (-0.9, 0.1), "b": (None, None)}, "Undefined for b"),
    ],
)
def test_dpgmm_reading_says_whether_the_paper_holds(rhos, expected):
    densities = pd.DataFrame({"model": np.repeat(list(rhos), 10), "class": list(range(10)) * 2})
    comparison = _comparison(
        {m: _density_values(*rho) for m, rho in rhos.items()}, densities=densities
    )
    reading = report._read_densities(comparison)
    assert expected in reading
    assert "|rho| > 0.63" in reading  # the 5% level for 10 classes


@pytest.fixture(scope="module")
def measured():
    """One model measured on the blobs, as a worker would measure it."""
    config = ComparisonConfig(quick=True, models=("l2",))
    split = _split()
    split.input_probe = compare_probes.som_probe(config).fit(split.X_train)
    split.input_spread = 1.0
    return compare._measure_model("l2", 1, 1, split, config, progress=lambda line: None)


def test_a_model_result_pickles_whole(measured):
    import pickle

    assert isinstance(measured, compare.ModelResult)
    copy = pickle.loads(pickle.dumps(measured))
    assert copy.name == "l2" and copy.rows == measured.rows
    assert copy.som.shifts.keys() == measured.som.shifts.keys()
    np.testing.assert_array_equal(copy.eigenvalues, measured.eigenvalues)
    np.testing.assert_array_equal(copy.jacobian_map.norms, measured.jacobian_map.norms)
    pd.testing.assert_frame_equal(copy.densities, measured.densities)


def test_results_gather_the_models_in_their_order(measured):
    other = dataclasses.replace(measured, name="other", rows=[("other", "accuracy", 0.5)])
    config = ComparisonConfig(quick=True, attacks=("noise", "fgsm", "pgd"))
    results = ComparisonResults.from_models(config, "blobs", [other, measured])
    assert list(dict.fromkeys(results.results.model)) == ["other", "l2"]
    assert set(results.distances) == {(m, a) for m in ("other", "l2") for a in config.attacks}
    assert results.som["l2"] is measured.som
    assert results.landscapes["l2"] == (measured.landscape, measured.jacobian_map)


def test_summary_is_measure_by_model_in_model_order():
    comparison = _comparison({"b": {"accuracy": 0.9, "hidden_alpha": 2.0}, "a": {"accuracy": 0.8}})
    table = comparison.summary()
    assert list(table.columns) == ["b", "a"] and list(table.index) == ["accuracy", "hidden_alpha"]
    assert table.loc["accuracy", "a"] == 0.8 and np.isnan(table.loc["hidden_alpha", "a"])
