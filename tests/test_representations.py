"""Tests for sklearn_robust.representations (VectorCodes, LayerActivations)."""

import pickle

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline

from sklearn_robust import LayerActivations, RobustNetClassifier, VectorCodes
from sklearn_robust.datasets import load_digits


@pytest.fixture(scope="module")
def digits():
    return load_digits(return_X_y=True)


@pytest.fixture(scope="module")
def fitted_classifier(digits):
    X, y = digits
    return RobustNetClassifier(max_epochs=2, device="cpu", random_state=0).fit(X, y)


def _reference_codes(maps):
    """Slow float64 loop over samples and channels: max, mean, std, com (stat-major)."""
    n_samples, n_channels = maps.shape[:2]
    codes = np.zeros((n_samples, 4, n_channels))
    for i in range(n_samples):
        for c in range(n_channels):
            values = maps[i, c].ravel().astype(np.float64)
            weights = np.maximum(values, 0)
            positions = np.arange(values.size) / (values.size - 1)
            com = weights @ positions / weights.sum() if weights.sum() > 0 else 0.5
            codes[i, :, c] = values.max(), values.mean(), values.std(), com
    return codes.reshape(n_samples, -1)


# ------------------------------------------------------------------ VectorCodes
def test_vector_codes_match_reference_loop():
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(6, 5, 4, 7)).astype(np.float32)
    maps[2, 3] = 0.0  # an all-zero channel: com is 0.5
    maps[4, 1] = -np.abs(maps[4, 1])  # no positive activation: com is 0.5
    codes = VectorCodes().fit_transform(maps)
    assert codes.dtype == np.float32 and codes.shape == (6, 20)
    assert_allclose(codes, _reference_codes(maps), rtol=1e-5, atol=1e-6)
    assert codes[2, 15 + 3] == 0.5 and codes[4, 15 + 1] == 0.5


def test_vector_codes_single_hot_pixel():
    maps = np.zeros((1, 1, 4, 5), dtype=np.float32)
    maps[0, 0, 2, 3] = 7.0  # flat index 13 of 0..19
    max_, mean, std, com = VectorCodes().fit_transform(maps)[0]
    assert max_ == 7.0
    assert_allclose(mean, 7.0 / 20)
    assert_allclose(std, np.std(maps))
    assert_allclose(com, 13 / 19)


def test_vector_codes_2d_input_with_map_shape_equals_4d():
    rng = np.random.default_rng(1)
    maps = rng.random((8, 3, 5, 5), dtype=np.float32)
    expected = VectorCodes().fit_transform(maps)
    for map_shape in [(3, 5, 5), (3, -1), (-1, 5, 5)]:
        codes = VectorCodes(map_shape=map_shape).fit_transform(maps.reshape(8, -1))
        assert_array_equal(codes, expected)


def test_vector_codes_stats_order_and_names():
    maps = np.random.default_rng(2).random((4, 2, 3, 3), dtype=np.float32)
    full = VectorCodes().fit_transform(maps)
    picked = VectorCodes(stats=("com", "max"))
    codes = picked.fit_transform(maps)
    assert_array_equal(codes, np.hstack([full[:, 6:8], full[:, 0:2]]))
    assert picked.get_feature_names_out().tolist() == ["com_c0", "com_c1", "max_c0", "max_c1"]


def test_vector_codes_other_spatial_size_in_transform():
    codes = VectorCodes().fit(np.zeros((2, 3, 4, 4))).transform(np.ones((2, 3, 6, 6)))
    assert codes.shape == (2, 12)


@pytest.mark.parametrize(
    "estimator, X, match",
    [
        (VectorCodes(), np.zeros((3, 8)), "map_shape"),
        (VectorCodes(map_shape=(3, 3)), np.zeros((3, 8)), "map_shape"),
        (VectorCodes(map_shape=(8,)), np.zeros((3, 8)), "spatial"),
        (VectorCodes(stats=("max", "median")), np.zeros((3, 2, 2, 2)), "median"),
        (VectorCodes(stats=()), np.zeros((3, 2, 2, 2)), "at least one"),
        (VectorCodes(map_shape=(1, 8)), np.zeros((3, 2, 2, 2)), "disagrees"),
        (VectorCodes(), np.full((3, 2, 2, 2), np.nan), "NaN"),
        (VectorCodes(), np.zeros((3, 0, 4)), "no channels"),
        (VectorCodes(), np.zeros((3, 0, 2, 2)), "no channels"),
    ],
)
def test_vector_codes_bad_input(estimator, X, match):
    with pytest.raises(ValueError, match=match):
        estimator.fit(X)


def test_vector_codes_wrong_channels_and_unfitted():
    with pytest.raises(NotFittedError):
        VectorCodes().transform(np.zeros((2, 3, 4, 4)))
    codes = VectorCodes().fit(np.zeros((2, 3, 4, 4)))
    with pytest.raises(ValueError, match="3"):
        codes.transform(np.zeros((2, 4, 4, 4)))


# ------------------------------------------------------------- LayerActivations
def _mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 4), torch.nn.Tanh()
    )


def _cnn(channels=4):
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, channels, kernel_size=3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(channels * 64, 10),
    )


def test_hooks_equal_manual_forward():
    net = _mlp()
    X = np.random.default_rng(0).normal(size=(20, 6)).astype(np.float32)
    out = LayerActivations(net, ["0", "1", "3"]).fit(X).transform(X)
    with torch.no_grad():
        h0 = net[0](torch.from_numpy(X))
        h1 = net[1](h0)
        h3 = net[3](net[2](h1))
    for name, expected in [("0", h0), ("1", h1), ("3", h3)]:
        assert out[name].dtype == np.float32
        assert_allclose(out[name], expected.numpy(), rtol=1e-6, atol=1e-7)
    stacked = LayerActivations(net, ["1", "3"], concatenate=True).fit(X)
    assert_array_equal(stacked.transform(X), np.hstack([out["1"], out["3"]]))
    assert stacked.get_feature_names_out()[[0, 5]].tolist() == ["1_0", "3_0"]


def test_single_name_gives_array_and_list_gives_dict():
    X = np.zeros((3, 6), dtype=np.float32)
    assert isinstance(LayerActivations(_mlp(), "1").fit_transform(X), np.ndarray)
    assert set(LayerActivations(_mlp(), ["1"]).fit_transform(X)) == {"1"}


def test_batch_size_independence():
    net = _cnn()
    images = np.random.default_rng(1).random((30, 1, 8, 8), dtype=np.float32)
    small = LayerActivations(net, ["1", "3"], batch_size=7).fit(images).transform(images)
    large = LayerActivations(net, ["1", "3"], batch_size=1000).fit(images).transform(images)
    assert_array_equal(small["1"], large["1"])
    # A float32 matmul may round differently for other batch shapes (one ulp).
    assert_allclose(small["3"], large["3"], rtol=1e-6, atol=1e-6)


class _Provider:
    """A TorchModuleProvider that is no torch module and has no module_."""

    torch_outputs = ("decision",)

    def __init__(self):
        self.module = _mlp()

    def to_torch_module(self, output="decision"):
        assert output == "decision"
        return self.module


class _ToTorchModuleOnly:
    """to_torch_module without the torch_outputs capability: not the protocol."""

    def to_torch_module(self, output="decision"):
        return _mlp()


def test_a_torch_module_provider_stands_for_its_module():
    X = np.random.default_rng(1).normal(size=(5, 6)).astype(np.float32)
    provider = _Provider()
    expected = LayerActivations(provider.module, "1").fit_transform(X)
    assert_array_equal(LayerActivations(provider, "1").fit_transform(X), expected)
    with pytest.raises(TypeError, match="TorchModuleProvider"):
        LayerActivations(_ToTorchModuleOnly(), "1").fit(X)


def test_eval_mode_used_and_restored():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 50), torch.nn.Dropout(0.5), torch.nn.ReLU())
    net.train()
    net[0].eval()  # mixed modes are restored module by module
    X = np.random.default_rng(2).normal(size=(10, 6)).astype(np.float32)
    transformer = LayerActivations(net, "2").fit(X)
    first, second = transformer.transform(X), transformer.transform(X)
    assert_array_equal(first, second)
    assert net.training and net[1].training and net[2].training and not net[0].training
    with torch.no_grad():
        assert_allclose(first, torch.relu(net[0](torch.from_numpy(X))).numpy(), rtol=1e-6)


def test_pooling_shapes_and_values():
    net = _cnn(channels=3)
    images = np.random.default_rng(3).random((5, 1, 8, 8), dtype=np.float32)
    with torch.no_grad():
        maps = net[1](net[0](torch.from_numpy(images))).numpy()
    flat = LayerActivations(net, "1").fit_transform(images)
    assert_array_equal(flat, maps.reshape(5, -1))
    assert_array_equal(LayerActivations(net, "1", pooling="flatten").fit_transform(images), flat)
    gap = LayerActivations(net, "1", pooling="gap").fit_transform(images)
    assert_allclose(gap, maps.mean(axis=(2, 3)), rtol=1e-5)
    codes = LayerActivations(net, "1", pooling="vector_code").fit(images)
    assert codes.output_shapes_ == {"1": (3, 8, 8)}
    assert_allclose(codes.transform(images), _reference_codes(maps), rtol=1e-5, atol=1e-6)
    assert codes.get_feature_names_out()[[0, 11]].tolist() == ["1_max_c0", "1_com_c2"]


class _Tokens(torch.nn.Module):
    """A toy encoder returning (n_samples, n_tokens, width) tokens."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Linear(2, 3)

    def forward(self, x):  # x: (n, n_tokens * 2)
        return self.embed(x.reshape(x.shape[0], -1, 2))


def test_cls_pooling_takes_token_zero():
    X = np.random.default_rng(4).normal(size=(7, 8)).astype(np.float32)
    net = _Tokens()
    cls = LayerActivations(net, "embed", pooling="cls").fit_transform(X)
    with torch.no_grad():
        expected = net(torch.from_numpy(X))[:, 0, :].numpy()
    assert cls.shape == (7, 3)
    assert_allclose(cls, expected, rtol=1e-6)


def test_robust_net_classifier_layers_match_its_transform(digits, fitted_classifier):
    X, y = digits
    transformer = LayerActivations(fitted_classifier, "encoder.1").fit(X)
    hidden = transformer.transform(X)
    assert hidden.shape == (len(X), 100)
    assert_allclose(hidden, fitted_classifier.transform(X, layer="encoder.1"), rtol=1e-5)
    assert_allclose(hidden, fitted_classifier.transform(X), rtol=1e-5)
    restored = pickle.loads(pickle.dumps(transformer))
    assert_allclose(restored.transform(X[:50]), hidden[:50], rtol=1e-6)
    model = make_pipeline(transformer, LogisticRegression(max_iter=200)).fit(X, y)
    assert model.score(X, y) > 0.5


def test_probe_of_a_trained_network_survives_clone_and_cross_validation(digits, fitted_classifier):
    """The probe from docs/representations.md: clone must not un-fit the network it reads."""
    X, y = digits
    probe = make_pipeline(
        LayerActivations(fitted_classifier, "encoder.1").set_output(transform="default"),
        LogisticRegression(max_iter=200),
    )
    cloned = clone(probe)
    assert cloned[0].module is fitted_classifier and not hasattr(cloned[0], "layers_")
    assert cloned[0]._sklearn_output_config == probe[0]._sklearn_output_config
    scores = cross_val_score(probe, X, y, cv=3)
    assert scores.min() > 0.5
    search = GridSearchCV(probe, {"layeractivations__layers": ["encoder.0", "encoder.1"]}, cv=2)
    best = pickle.loads(pickle.dumps(search.fit(X, y).best_estimator_))
    assert best.score(X, y) > 0.5


def test_cnn_on_digit_images_gives_vector_codes(digits):
    X, _ = digits
    images = X[:200].reshape(-1, 1, 8, 8)
    codes = LayerActivations(_cnn(channels=5), "1", pooling="vector_code").fit_transform(images)
    assert codes.shape == (200, 20) and codes.dtype == np.float32
    assert np.all((codes[:, 15:] >= 0) & (codes[:, 15:] <= 1))


def test_skorch_net_is_unwrapped(fitted_classifier):
    assert LayerActivations(fitted_classifier.net_, "head").fit(np.zeros((2, 64))).transform(
        np.zeros((2, 64))
    ).shape == (2, 10)


# ------------------------------------------------------------------- bad input
def test_unknown_layer_lists_valid_names():
    with pytest.raises(ValueError, match=r"No submodule named 'nope'.*\['0', '1', '2', '3'\]"):
        LayerActivations(_mlp(), "nope").fit(np.zeros((2, 6)))


@pytest.mark.parametrize(
    "pooling, match",
    [("gap", "pooling='gap'"), ("vector_code", "feature maps"), ("cls", "token 0")],
)
def test_pooling_that_does_not_fit_the_layer(pooling, match):
    with pytest.raises(ValueError, match=match):
        LayerActivations(_mlp(), "1", pooling=pooling).fit(np.zeros((2, 6)))


def test_bad_parameters_and_input():
    X = np.zeros((4, 6), dtype=np.float32)
    with pytest.raises(ValueError, match="pooling"):
        LayerActivations(_mlp(), "1", pooling="median").fit(X)
    with pytest.raises(ValueError, match="NaN"):
        LayerActivations(_mlp(), "1").fit(np.full((4, 6), np.nan))
    transformer = LayerActivations(_mlp(), "1").fit(X)
    bad = X.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        transformer.transform(bad)
    with pytest.raises(ValueError, match="features"):
        transformer.transform(np.zeros((4, 5)))
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        LayerActivations("not a network", "1").fit(X)
    images = LayerActivations(_cnn(), "1").fit(np.zeros((2, 1, 8, 8)))
    with pytest.raises(ValueError, match="shape"):
        images.transform(np.zeros((2, 1, 7, 7)))


@pytest.mark.parametrize(
    "network, X, match",
    [
        (_mlp, np.zeros((3, 4)), r"samples of shape \(4,\).*layer '0'.*takes 6 features"),
        (_mlp, np.zeros((3, 2, 3)), r"samples of shape \(2, 3\).*takes 6 features"),
        (_cnn, np.zeros((3, 64)), r"samples of shape \(64,\).*\(n_samples, 1, \*spatial\)"),
        (_cnn, np.zeros((3, 2, 8, 8)), r"shape \(2, 8, 8\).*\(n_samples, 1, \*spatial\)"),
    ],
)
def test_input_the_module_cannot_take_fails_clearly_at_fit(network, X, match):
    # torch alone would say "mat1 and mat2 shapes cannot be multiplied".
    with pytest.raises(ValueError, match=match):
        LayerActivations(network(), "1").fit(X)


def test_transform_before_fit():
    with pytest.raises(NotFittedError):
        LayerActivations(_mlp(), "1").transform(np.zeros((2, 6)))
    with pytest.raises(NotFittedError):
        LayerActivations(RobustNetClassifier(), "encoder.1").fit(np.zeros((2, 64)))


def test_values_beyond_float32_are_refused_in_fit_and_transform():
    # Cast to float32 they would be inf, and the codes or activations NaN.
    maps = np.zeros((2, 3, 4, 4))
    huge = maps.copy()
    huge[1, 2, 0, 0] = 1e39
    with pytest.raises(ValueError, match="beyond float32's range"):
        VectorCodes().fit(huge)
    with pytest.raises(ValueError, match="beyond float32's range"):
        VectorCodes().fit(maps).transform(huge)
    rows = np.zeros((4, 6))
    huge = rows.copy()
    huge[2, 3] = -1e39
    with pytest.raises(ValueError, match="beyond float32's range"):
        LayerActivations(_mlp(), "1").fit(huge)
    with pytest.raises(ValueError, match="beyond float32's range"):
        LayerActivations(_mlp(), "1").fit(rows).transform(huge)
