"""The per-layer probes of networks with stages, and their report sections."""

import dataclasses

import numpy as np
import pytest
from matplotlib.figure import Figure
from sklearn.linear_model import LogisticRegression

from sklearn_robust import LayerActivations, SOMProbe
from sklearn_robust.compare import ComparisonConfig, _layers, _report_layers, _run
from sklearn_robust.compare import _measures as measures
from sklearn_robust.compare._layers import LAYER_PROTOCOL, measure_layers, staged_layers
from sklearn_robust.compare._settings import SETTINGS
from sklearn_robust.nn import ResNet, RobustNetClassifier

from .conftest import make_comparison

SHAPE = (3, 8, 8)
STAGES = ["layer1", "layer2"]


def _images(n_per_class, seed):
    """Three classes of 3x8x8 images: a class colour pattern under heavy pixel noise."""
    patterns = np.random.default_rng(99).random((3, int(np.prod(SHAPE))))
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1, 2], n_per_class)
    X = 0.35 * patterns[y] + 0.65 * rng.random((len(y), patterns.shape[1]))
    return X.astype(np.float32), y


def _network(residual=True, epochs=5):
    return RobustNetClassifier(
        ResNet,
        module__input_shape=SHAPE,
        module__blocks=(1, 1),
        module__widths=(4, 8),
        module__residual=residual,
        lr=1e-2,
        batch_size=16,
        max_epochs=epochs,
        device="cpu",
        random_state=0,
    )


@pytest.fixture(scope="module")
def split():
    X_train, y_train = _images(40, seed=0)
    X_test, y_test = _images(10, seed=1)
    return _run._Split(X_train, X_test, y_train, y_test, X_test, y_test, (0.0, 1.0))


@pytest.fixture(scope="module")
def networks(split):
    return {
        "resnet": _network().fit(split.X_train, split.y_train),
        "plain": _network(residual=False).fit(split.X_train, split.y_train),
    }


@pytest.fixture(scope="module")
def probed(networks, split):
    """Each network's probes and rows, with the progress lines."""
    config = ComparisonConfig(quick=True)
    lines = []
    return {
        name: measure_layers(name, model, split, config, progress=lines.append)
        for name, model in networks.items()
    }, lines


def test_the_protocol_is_lee_and_vijayans():
    protocol = LAYER_PROTOCOL
    assert (protocol.som_size, protocol.som_sigma, protocol.som_learning_rate) == (20, 10.0, 0.1)
    assert (protocol.som_epochs, protocol.som_batch_size, protocol.top_k) == (5, 10, 10)
    assert (protocol.som_metric, protocol.som_topology) == ("cosine", "toroidal")
    assert protocol.pgd_eps == protocol.noise_high == 4 / 255
    assert protocol.pgd_iterations == 50 and protocol.pgd_random_start
    assert protocol.pgd_step_size == pytest.approx(4 / 255 * 2 / 100)
    # The maps are SOMProbe's defaults, which are the paper's.
    som = _layers.layer_som(ComparisonConfig(random_state=3))
    defaults = SOMProbe().get_params()
    for key in ("n_rows", "n_cols", "metric", "topology", "sigma", "learning_rate", "decay"):
        assert som.get_params()[key] == defaults[key]
    assert (som.n_epochs, som.batch_size, som.random_state) == (5, 10, 3)


def test_staged_layers_are_the_networks_stages_only(networks, split):
    assert staged_layers(networks["resnet"]) == STAGES
    assert staged_layers(networks["plain"]) == STAGES
    mlp = RobustNetClassifier(module__hidden_sizes=(5,), max_epochs=1, device="cpu")
    assert staged_layers(mlp.fit(split.X_train, split.y_train)) == []  # encoder.1, not a stage
    assert staged_layers(LogisticRegression()) == []
    assert staged_layers(_network()) == []  # unfitted


def test_measure_layers_probes_every_stage(probed, split):
    (probes, _), lines = probed[0]["resnet"], probed[1]
    assert probes.layers == tuple(STAGES)
    assert "[resnet] layer2: SOM, D_class, BMU shift" in lines
    assert "[resnet] L-inf PGD and uniform noise on 30 examples" in lines
    n_eval, k = len(split.X_eval), LAYER_PROTOCOL.top_k
    for stage in STAGES:
        som = probes.soms[stage]
        assert (som.n_rows, som.n_cols, som.n_iter_) == (20, 20, 5)
        assert len(probes.som_loss[stage]) == 5 and np.all(np.isfinite(probes.som_loss[stage]))
        assert set(probes.spread[stage]) == {0, 1, 2}
        for perturbation in ("pgd", "noise"):
            shift = probes.shifts[perturbation, stage]
            assert shift.shape == (n_eval, k) and (shift >= 0).all()
    assert set(probes.accuracy) == {"clean", "pgd", "noise"}
    table = probes.densities
    assert list(table.columns) == ["model", "layer", "class", "log_density", "kl", "n_clusters"]
    assert len(table) == len(STAGES) * 3
    assert set(zip(table.layer, table["class"], strict=True)) == {
        (stage, c) for stage in STAGES for c in range(3)
    }
    assert np.isfinite(table[["log_density", "kl"]]).all().all() and (table.n_clusters >= 1).all()


def test_every_row_is_a_known_measure(probed):
    every = set(measures.all_measures(measures.ATTACKS, SETTINGS.certified_radius, STAGES))
    for probes, rows in probed[0].values():
        names = [measure for _, measure, _ in rows]
        assert len(names) == len(set(names)) and set(names) <= every
        assert measures.layer_bmu_shift("pgd", "layer2") in names
        values = dict((measure, value) for _, measure, value in rows)
        assert values[measures.LAYER_PGD_ACCURACY] == probes.accuracy["pgd"]
        spread = np.mean(list(probes.spread["layer1"].values()))
        assert values[measures.layer_class_spread("layer1")] == pytest.approx(spread)
    assert not set(measures.all_measures(measures.ATTACKS, 0.25)) & {
        measures.LAYER_PGD_ACCURACY,
        measures.LAYER_NOISE_ACCURACY,
    }


def test_stage_names_are_checked():
    assert measures.layer_som_loss("layer12") == "layer_som_loss_layer12"
    for bad in ("hidden", "layer0", "layer", "layer2b", 2):
        with pytest.raises(ValueError, match="stage name"):
            measures.layer_class_spread(bad)
    with pytest.raises(ValueError, match="perturbation must be one of"):
        measures.layer_bmu_shift("fgsm", "layer1")


def test_perturbations_stay_within_their_bounds(networks, split):
    model = networks["resnet"]
    perturbed = _layers._perturbations(model, split, ComparisonConfig(quick=True))
    X = split.X_eval
    bound = LAYER_PROTOCOL.pgd_eps + 1e-6  # float32 rounding
    adversarial = perturbed["pgd"]
    assert np.abs(adversarial - X).max() <= bound
    assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0
    assert np.abs(adversarial - X).max() > LAYER_PROTOCOL.pgd_eps / 2  # it did move
    step = perturbed["noise"] - X
    assert step.min() >= -1e-7 and step.max() <= LAYER_PROTOCOL.noise_high + 1e-6
    assert perturbed["noise"].max() <= 1.0
    free = X < 1.0 - LAYER_PROTOCOL.noise_high  # not clipped: uniform on [0, 4/255]
    assert step[free].mean() == pytest.approx(LAYER_PROTOCOL.noise_high / 2, rel=0.05)
    assert np.corrcoef(step[:, 0], step[:, 1])[0, 1] == pytest.approx(0, abs=0.5)


def test_spreads_of_correct_and_wrong_predictions_by_hand(probed, networks, split):
    probes, _ = probed[0]["resnet"]
    model, stage = networks["resnet"], "layer2"
    correct = model.predict(split.X_test) == split.y_test
    assert 0 < correct.mean() < 1, "the oracle needs both outcomes"
    reader = LayerActivations(model, stage, pooling="vector_code").fit(split.X_train)
    train, test = reader.transform(split.X_train), reader.transform(split.X_test)
    som = probes.soms[stage]
    assert som.class_spread(train, split.y_train) == probes.spread[stage]
    centers = som.class_centers(train, split.y_train)
    top = som.top_bmus(test, LAYER_PROTOCOL.top_k)
    by_outcome = {True: {}, False: {}}
    for units, label, right in zip(top, split.y_test, correct, strict=True):
        row, col = centers[label]
        distances = []
        for unit in units:
            d_row, d_col = abs(unit // 20 - row), abs(unit % 20 - col)
            d_row, d_col = min(d_row, 20 - d_row), min(d_col, 20 - d_col)
            distances.append(np.hypot(d_row, d_col))
        by_outcome[bool(right)].setdefault(label, []).append(np.mean(distances))
    expected = {
        outcome: np.mean([np.mean(values) for values in per_class.values()])
        for outcome, per_class in by_outcome.items()
    }
    assert probes.spread_correct[stage] == pytest.approx(expected[True])
    assert probes.spread_wrong[stage] == pytest.approx(expected[False])


def test_an_undefined_spread_is_left_out_of_the_rows(probed):
    probes, _ = probed[0]["resnet"]
    none_wrong = dataclasses.replace(probes, spread_wrong={s: np.nan for s in STAGES})
    names = {measure for _, measure, _ in _layers._rows("m", none_wrong)}
    assert measures.layer_class_spread_correct("layer1") in names
    assert not names & {measures.layer_class_spread_wrong(s) for s in STAGES}


def _comparison(probed, **layers):
    layers = layers or {name: probes for name, (probes, _) in probed[0].items()}
    return make_comparison({name: {measures.ACCURACY: 0.5} for name in layers}, layers=layers)


def test_sections_only_with_per_layer_probes(probed):
    assert _report_layers.sections_for(make_comparison({"m": {measures.ACCURACY: 0.5}})) == ()
    assert _report_layers.sections_for(_comparison(probed)) == _report_layers.SECTIONS


def test_figures_draw_and_readings_quote_the_numbers(probed):
    comparison = _comparison(probed)
    for _title, draw, read in _report_layers.SECTIONS:
        fig = draw(comparison)
        assert isinstance(fig, Figure) and len(fig.axes) >= 3
        assert read(comparison)
    som_reading = _report_layers._read_som(comparison)
    resnet = comparison.layers["resnet"]
    assert f"{resnet.accuracy['pgd']:.2f} under PGD" in som_reading
    spreads = [np.mean(list(resnet.spread[s].values())) for s in STAGES]
    assert f"{spreads[0]:.2f}, {spreads[1]:.2f} (layer1-layer2)" in som_reading
    density_reading = _report_layers._read_densities(comparison)
    table = resnet.densities
    kl = table.groupby("layer").kl.mean()
    assert f"{kl['layer1']:.2f}, {kl['layer2']:.2f} (layer1-layer2)" in density_reading


def test_the_outcome_reading_follows_the_numbers(probed):
    probes, _ = probed[0]["resnet"]
    further = dataclasses.replace(
        probes,
        spread_correct={"layer1": 1.0, "layer2": 2.0},
        spread_wrong={"layer1": 3.0, "layer2": 1.5},
    )
    reading = _report_layers._read_som(_comparison(probed, resnet=further))
    assert "further from their class's centre than the correctly classified ones' on 1 of 2" in (
        reading
    )
    assert "(1.50 vs 2.00 at layer2)" in reading
