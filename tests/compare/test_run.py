"""The run: its configuration, one model's result, and the results it gathers."""

import dataclasses
import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from sklearn_robust.compare import ComparisonConfig, ComparisonResults, ModelResult, _run
from sklearn_robust.compare import _measures as measures
from sklearn_robust.compare._claims import claims_table
from sklearn_robust.compare._settings import SETTINGS

from .conftest import make_comparison


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"dataset": "cifar"}, "dataset must be one of"),
        ({"attacks": ("cw",)}, "attacks must be among"),
        ({"attacks": ()}, "attacks must be among"),
        ({"models": ("resnet",)}, "unknown model"),
        ({"models": ()}, "unknown model"),
        ({"n_eval": 9}, "n_eval must be at least 10"),
        ({"dataset": "csv"}, "needs data_path"),
        ({"dataset": "cifar10"}, "needs data_path, its files"),
        ({"dataset": "cifar10", "data_path": "x.npz", "models": ("backprop",)}, "unknown model"),
        ({"device": "tpu"}, "device"),
        ({"random_state": -1}, "random_state must be an integer"),
        ({"random_state": 2**32}, "random_state must be an integer"),
        ({"random_state": 1.5}, "random_state must be an integer"),
    ],
)
def test_config_checks_itself(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ComparisonConfig(**kwargs)


def test_one_thread_restores_the_thread_count():
    before = torch.get_num_threads()
    with _run._one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_a_model_result_pickles_whole(measured):
    assert isinstance(measured, ModelResult)
    copy = pickle.loads(pickle.dumps(measured))
    assert copy.name == "l2" and copy.rows == measured.rows
    assert copy.som.shifts.keys() == measured.som.shifts.keys()
    np.testing.assert_array_equal(copy.spectrum.eigenvalues, measured.spectrum.eigenvalues)
    assert copy.spectrum.fit_range == measured.spectrum.fit_range
    np.testing.assert_array_equal(copy.jacobian_map.norms, measured.jacobian_map.norms)
    pd.testing.assert_frame_equal(copy.densities, measured.densities)
    pd.testing.assert_frame_equal(copy.curves, measured.curves)


def test_a_model_result_has_every_measure_of_its_attacks(measured):
    names = [measure for _, measure, _ in measured.rows]
    assert len(names) == len(set(names))
    assert set(names) <= set(measures.all_measures(measures.ATTACKS, SETTINGS.certified_radius))
    assert {measures.ACCURACY, measures.never_fooled("pgd")} <= set(names)
    assert set(measured.distances) == set(measures.ATTACKS)


def test_results_gather_the_models_in_their_order(measured):
    other = dataclasses.replace(measured, name="other", rows=[("other", "accuracy", 0.5)])
    config = ComparisonConfig(quick=True)
    results = ComparisonResults.from_models(config, "blobs", [other, measured], n_evaluated=30)
    assert results.model_names == ["other", "l2"]
    assert set(results.distances) == {(m, a) for m in ("other", "l2") for a in config.attacks}
    assert results.som["l2"] is measured.som
    assert results.landscapes["l2"] == (measured.landscape, measured.jacobian_map)
    assert results.timings == {"other": measured.seconds, "l2": measured.seconds}
    assert results.n_evaluated == 30


def test_summary_is_measure_by_model_in_model_order():
    comparison = make_comparison(
        {"b": {"accuracy": 0.9, "hidden_alpha": 2.0}, "a": {"accuracy": 0.8}}
    )
    table = comparison.summary()
    assert list(table.columns) == ["b", "a"] and list(table.index) == ["accuracy", "hidden_alpha"]
    assert table.loc["accuracy", "a"] == 0.8 and np.isnan(table.loc["hidden_alpha", "a"])


def test_an_infinite_median_is_kept_and_shown_censored_at_the_limit():
    distances = np.array([0.0, 0.5, np.inf, np.inf])  # 2 of 3 correct never fooled
    rows = dict((measure, v) for _, measure, v in _run._distance_rows("m", "pgd", distances))
    median = measures.median_critical_distance("pgd")
    assert rows[median] == np.inf  # results.csv says so, instead of leaving the row out

    values = {"m": {"accuracy": 0.91234, median: np.inf}, "n": {"accuracy": 0.8, median: 0.25}}
    comparison = make_comparison(values, max_eps={"pgd": 37.9123})
    assert comparison.summary().loc[median, "m"] == np.inf
    text = comparison.summary(as_text=True)
    assert text.loc[median].tolist() == ["> 37.9", "0.25"]
    assert text.loc["accuracy"].tolist() == ["0.9123", "0.8"]
    # Without a recorded limit (results made by hand) the number itself.
    assert make_comparison(values).summary(as_text=True).loc[median, "m"] == "inf"


# ------------------------------------------------------- CIFAR-10: the convolutional family
def tiny_cifar(path, n_train=60, n_test=30):
    """A CIFAR-like .npz whose class is the brightest colour channel (3 classes)."""
    rng = np.random.default_rng(0)
    n = n_train + n_test
    images = (rng.random((n, 32, 32, 3)) * 128).astype(np.uint8)
    labels = np.arange(n) % 3
    images[np.arange(n), :, :, labels] += 100
    np.savez(path, X_train=images[:n_train], y_train=labels[:n_train],
             X_test=images[n_train:], y_test=labels[n_train:])  # fmt: skip
    return str(path)


def test_cifar_gets_the_convolutional_family():
    from sklearn_robust.nn import ResNet

    family = _run.model_family(quick=True, dataset="cifar10")
    assert list(family)[:2] == ["resnet", "plain"]
    residual, plain = family["resnet"], family["plain"]
    assert residual.module is ResNet and residual.module__residual
    assert plain.module is ResNet and not plain.module__residual
    assert residual.get_params()["module__widths"] == plain.get_params()["module__widths"]
    config = ComparisonConfig(dataset="cifar10", data_path="x.npz", quick=True)
    assert config.model_names == _run.QUICK_CONVOLUTIONAL_MODELS
    assert config.eval_size == 50
    assert list(_run.model_family(quick=True)) == list(
        _run.model_family(quick=True, dataset="mnist")
    )


def test_a_cifar_run_measures_the_residual_and_the_plain_network(tmp_path):
    from sklearn_robust.compare import run_comparison, write_report
    from sklearn_robust.compare._claims import NOT_MEASURED, claims_table

    config = ComparisonConfig(
        dataset="cifar10", data_path=tiny_cifar(tmp_path / "tiny.npz"), quick=True,
        models=("resnet", "plain"), attacks=("fgsm",), n_eval=10,
    )  # fmt: skip
    results = run_comparison(config, progress=lambda line: None)
    summary = results.summary()
    assert list(summary.columns) == ["resnet", "plain"]
    assert "CIFAR-10 (60 training, 30 test images)" == results.data_description
    assert summary.loc[measures.ACCURACY].between(0, 1).all()
    assert np.isfinite(summary.loc[measures.HIDDEN_ALPHA]).all()
    # Both networks are probed stage by stage, and the per-layer claims are measured.
    assert sorted(results.layers) == ["plain", "resnet"]
    assert results.layers["resnet"].layers == ("layer1", "layer2", "layer3")
    stages = results.layers["resnet"].layers
    assert np.isfinite(summary.loc[measures.layer_class_spread(stages[-1])]).all()
    table = claims_table(results).set_index("paper")
    assert (table.loc["Lee and Vijayan"].verdict != NOT_MEASURED).all()
    assert (table.loc["isometric representations"].verdict == NOT_MEASURED).all()
    report = write_report(results, tmp_path / "report")
    page = (report / "index.html").read_text()
    assert "The papers' claims, tested" in page and "SOM probes per layer" in page
    assert {"som_probes_per_layer.png", "dp-gmm_per_layer.png"} <= {
        f.name for f in report.iterdir()
    }


# ------------------------------------------------------------------------------ seeds
@pytest.mark.parametrize("seeds", [0, -1, 2.5, True, _run.MAX_SEEDS + 1])
def test_config_rejects_a_bad_number_of_seeds(seeds):
    with pytest.raises(ValueError, match="seeds must be an integer"):
        ComparisonConfig(seeds=seeds)


def test_seed_values_count_up_from_the_random_state():
    assert ComparisonConfig().seed_values == (0,)
    assert ComparisonConfig(random_state=5, seeds=3).seed_values == (5, 6, 7)
    assert ComparisonConfig(seeds=_run.MAX_SEEDS).seed_values == tuple(range(_run.MAX_SEEDS))
    with pytest.raises(ValueError, match="random_state \\+ seeds"):
        ComparisonConfig(random_state=2**32 - 1, seeds=2)


def three_seeds():
    """One comparison trained with random states 3, 4 and 5 (two replicates)."""
    values = [
        {"a": {"accuracy": 0.9, "hidden_alpha": 1.0}, "b": {"accuracy": 0.5}},
        {"a": {"accuracy": 0.8, "hidden_alpha": 2.0}, "b": {"accuracy": 0.6}},
        {"a": {"accuracy": 0.4, "hidden_alpha": 6.0}, "b": {"accuracy": 0.7}},
    ]
    first, *others = [
        make_comparison(v, config=ComparisonConfig(random_state=seed))
        for seed, v in zip((3, 4, 5), values, strict=True)
    ]
    first.replicates = others
    return first


def test_summary_is_the_mean_over_seeds_and_spread_the_standard_deviation():
    comparison = three_seeds()
    summary, spread = comparison.summary(), comparison.spread()
    assert list(summary.columns) == ["a", "b"] and list(spread.columns) == ["a", "b"]
    assert list(spread.index) == list(summary.index) == ["accuracy", "hidden_alpha"]
    assert summary.loc["accuracy", "a"] == pytest.approx(0.7)
    assert summary.loc["hidden_alpha", "a"] == pytest.approx(3.0)
    assert summary.loc["accuracy", "b"] == pytest.approx(0.6)
    assert np.isnan(summary.loc["hidden_alpha", "b"])
    assert spread.loc["accuracy", "a"] == pytest.approx(np.std([0.9, 0.8, 0.4], ddof=1))
    assert spread.loc["hidden_alpha", "a"] == pytest.approx(np.std([1.0, 2.0, 6.0], ddof=1))
    assert spread.loc["accuracy", "b"] == pytest.approx(0.1)
    assert np.isnan(spread.loc["hidden_alpha", "b"])
    text = comparison.summary(as_text=True)
    assert text.loc["accuracy", "a"] == f"0.7 ± {np.std([0.9, 0.8, 0.4], ddof=1):.2g}"
    assert all("±" in cell for cell in text.loc["accuracy"])


def test_seed_results_have_every_seed_s_rows_and_its_random_state():
    comparison = three_seeds()
    rows = comparison.seed_results()
    assert list(rows.columns) == ["model", "measure", "value", "random_state"]
    assert rows.random_state.tolist() == [3] * 3 + [4] * 3 + [5] * 3
    pd.testing.assert_frame_equal(
        rows[rows.random_state == 3].drop(columns="random_state"), comparison.results
    )
    single = make_comparison({"a": {"accuracy": 0.9}})
    assert "±" not in single.summary(as_text=True).loc["accuracy", "a"]
    assert single.spread().isna().all().all()


def test_two_seeds_train_twice_on_one_split(tmp_path):
    import json

    from sklearn_robust.compare import run_comparison, write_report

    from .conftest import blobs

    X, y = blobs(n_per_class=50, seed=2)
    path = tmp_path / "blobs.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", fmt="%.6g")
    config = ComparisonConfig(
        dataset="csv", data_path=str(path), models=("l2",), quick=True, n_eval=20, seeds=2
    )
    results = run_comparison(config, progress=lambda line: None)
    (replicate,) = results.replicates
    assert results.config.random_state == 0 and replicate.config.random_state == 1
    assert replicate.replicates == []
    # Two trainings: the trained networks' numbers differ ...
    first = results.results.set_index("measure").value
    second = replicate.results.set_index("measure").value
    assert set(first.index) == set(second.index)
    trained = [measures.HIDDEN_ALPHA, measures.JACOBIAN_NORM_MEAN]
    assert (first[trained] != second[trained]).all()
    # ... on the same split: the evaluated examples, the data's spectrum, the input's map.
    assert results.n_evaluated == replicate.n_evaluated == 20
    assert replicate.data_spectrum is results.data_spectrum
    assert replicate.input_som is results.input_som
    som_input = measures.som_class_spread("input")
    assert first[som_input] == second[som_input]
    assert results.summary().loc[measures.ACCURACY, "l2"] == pytest.approx(
        (first[measures.ACCURACY] + second[measures.ACCURACY]) / 2
    )

    report = write_report(results, tmp_path / "report")
    rows = pd.read_csv(report / "results.csv")
    assert list(rows.columns) == ["model", "measure", "value", "random_state"]
    assert sorted(set(rows.random_state)) == [0, 1]
    written = json.loads((report / "results.json").read_text())
    assert written["seeds"] == [0, 1]
    assert len(written["claims"]) == len(claims_table(results))
    spread = {(row["model"], row["measure"]): row["std"] for row in written["spread_over_seeds"]}
    expected = np.std([first[measures.ACCURACY], second[measures.ACCURACY]], ddof=1)
    assert spread["l2", measures.ACCURACY] == pytest.approx(expected)


# ----------------------------------------------------------- the spectrum's representation
@pytest.fixture(scope="module")
def digits_subset():
    from sklearn_robust import datasets

    X, y = datasets.load_digits(return_X_y=True)
    return X[:300], y[:300]


@pytest.mark.filterwarnings("ignore:KHEncoder did not converge")
def test_a_kh_model_s_representation_is_its_encoder_s_output_in_float64(digits_subset):
    X, y = digits_subset
    model = _run.model_family(quick=True)["kh-hybrid"].fit(X, y)
    represent = _run._representation(model, _run._hidden_transform(model))
    representation = represent(X[:50])
    encoded = model.named_steps["kh"].transform(X[:50])
    assert representation.dtype == np.float64
    assert representation.shape == encoded.shape
    scale = np.abs(encoded).max()
    np.testing.assert_allclose(representation, encoded, rtol=1e-5, atol=1e-5 * scale)
    scaled = model[:2].transform(X[:50])  # what the read-out sees: not the representation
    assert not np.allclose(representation, scaled, rtol=1e-2)


def test_an_mlp_s_representation_is_its_float32_hidden_layer(digits_subset):
    # Computed in float32, its spectrum keeps float32's floor (1e-6 of the top), which a
    # cast to float64 would hide; the KH encoder's, computed in float64, goes to 1e-12.
    X, y = digits_subset
    model = _run.model_family(quick=True)["backprop"].fit(X, y)
    hidden = _run._hidden_transform(model)
    representation = _run._representation(model, hidden)(X[:50])
    assert representation.dtype == np.float32
    np.testing.assert_array_equal(representation, hidden(X[:50]))
    assert _run.fit_spectrum(representation).relative_floor_ == 1e-6
    kh = _run.model_family(quick=True)["kh-hybrid"].fit(X, y)
    encoded = _run._representation(kh, _run._hidden_transform(kh))(X)
    assert _run.fit_spectrum(encoded).relative_floor_ == 1e-12
