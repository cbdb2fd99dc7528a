"""Saving estimators with skops (no pickle) and with pickle: the reloaded model is the same."""

import io
import json
import pickle
import zipfile

import numpy as np
import pytest
import torch

from sklearn_robust import (
    DPGMMClassDensity,
    KHEncoder,
    LayerActivations,
    PowerLawSpectrum,
    SOMProbe,
    VectorCodes,
)
from sklearn_robust._persistence import decode_module, encode_module
from sklearn_robust.nn import (
    MLP,
    L2Penalty,
    ResNet,
    RobustNetClassifier,
    SpectralPenalty,
    StackedLILClassifier,
    TorchClassifier,
)

sio = pytest.importorskip("skops.io")

# What a user trusts to load these models: this package's classes and the standard
# torch.nn layers their networks are made of (docs/index.md, "Saving and sharing a model").
TRUSTED_PREFIXES = ("sklearn_robust.", "torch.nn.modules.")

rng = np.random.default_rng(0)
X = rng.random((60, 6)).astype(np.float32)
y = (X[:, 0] + X[:, 1] > 1).astype(int)
IMAGES = rng.random((40, 3 * 8 * 8)).astype(np.float32)
IMAGE_LABELS = (IMAGES[:, 0] > 0.5).astype(int)
MAPS = rng.random((20, 3, 4, 4)).astype(np.float32)


def net(**params):
    defaults = {"max_epochs": 2, "random_state": 0, "device": "cpu"}
    if "module" not in params:
        defaults["module__hidden_sizes"] = (5,)
    return RobustNetClassifier(**{**defaults, **params})


def fitted_classifier():
    return net().fit(X, y)


# name: (build the fitted estimator, its input, the outputs compared after reloading)
CASES = {
    "KHEncoder": (
        lambda: KHEncoder(n_components=8, n_epochs=2, random_state=0, device="cpu").fit(X),
        X,
        ("transform",),
    ),
    "PowerLawSpectrum": (
        lambda: PowerLawSpectrum(n_min=1, n_max=5, device="cpu").fit(X),
        X,
        ("score", "eigenvalues_", "alpha_"),
    ),
    "VectorCodes": (lambda: VectorCodes().fit(MAPS), MAPS, ("transform",)),
    "SOMProbe": (
        lambda: SOMProbe(3, 3, n_epochs=2, random_state=0, device="cpu").fit(X),
        X,
        ("transform",),
    ),
    "DPGMMClassDensity": (
        lambda: DPGMMClassDensity(n_iter=8, burn_in=2, thin=2, random_state=0, device="cpu").fit(
            X, y
        ),
        X,
        ("predict_proba",),
    ),
    "LayerActivations": (
        lambda: LayerActivations(MLP(6, 2, (4,)), ["encoder.0", "head"], concatenate=True).fit(X),
        X,
        ("transform",),
    ),
    "LayerActivations of a classifier": (
        lambda: LayerActivations(fitted_classifier(), "encoder.1").fit(X),
        X,
        ("transform",),
    ),
    "RobustNetClassifier": (fitted_classifier, X, ("predict_proba", "transform")),
    "RobustNetClassifier with a penalty": (
        lambda: net(penalty=L2Penalty(1e-3)).fit(X, y),
        X,
        ("predict_proba", "transform"),
    ),
    "RobustNetClassifier with a spectral penalty": (
        lambda: net(penalty=SpectralPenalty(tau=3)).fit(X, y),
        X,
        ("predict_proba", "transform"),
    ),
    "RobustNetClassifier with a ResNet": (
        lambda: net(
            module=ResNet,
            max_epochs=1,
            module__input_shape=(3, 8, 8),
            module__blocks=(1, 1),
            module__widths=(4, 8),
        ).fit(IMAGES, IMAGE_LABELS),
        IMAGES,
        ("predict_proba", "transform"),
    ),
    "RobustNetClassifier with a module instance": (
        lambda: RobustNetClassifier(
            MLP(6, 2, (3,)), max_epochs=1, random_state=0, device="cpu"
        ).fit(X, y),
        X,
        ("predict_proba",),
    ),
    "StackedLILClassifier": (
        lambda: StackedLILClassifier((5,), max_epochs=3, random_state=0, device="cpu").fit(X, y),
        X,
        ("predict_proba", "transform"),
    ),
    "StackedLILClassifier with two levels": (
        lambda: StackedLILClassifier((5,), max_epochs=3, random_state=0, device="cpu").fit(
            X, np.stack([y, (X[:, 2] > 0.5).astype(int)], axis=1)
        ),
        X,
        ("predict", "transform"),
    ),
    "TorchClassifier": (
        lambda: TorchClassifier(MLP(6, 2, (4,)), classes=["a", "b"]).fit(X),
        X,
        ("predict_proba", "predict"),
    ),
    "TorchClassifier of a torch.nn.Sequential": (
        lambda: TorchClassifier(
            torch.nn.Sequential(
                torch.nn.Conv2d(3, 2, 3),
                torch.nn.ReLU(),
                torch.nn.Flatten(),
                torch.nn.Linear(72, 3),
            ),
            classes=[0, 1, 2],
            input_shape=(3, 8, 8),
        ).fit(IMAGES),
        IMAGES,
        ("predict_proba",),
    ),
}


def outputs(estimator, data, names):
    """The named outputs: methods called on ``data`` (score on it and y), attributes read."""
    result = {}
    for name in names:
        if name == "score":
            result[name] = estimator.score(data)
        elif name.endswith("_"):
            result[name] = getattr(estimator, name)
        else:
            result[name] = getattr(estimator, name)(data)
    return result


def assert_same_outputs(expected, reloaded, data, names):
    got = outputs(reloaded, data, names)
    for name, value in outputs(expected, data, names).items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)


def skops_round_trip(estimator):
    data = sio.dumps(estimator)
    untrusted = sio.get_untrusted_types(data=data)
    assert untrusted, "the estimator's own class must be trusted explicitly"
    assert all(name.startswith(TRUSTED_PREFIXES) for name in untrusted), untrusted
    return sio.loads(data, trusted=untrusted)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("case", list(CASES))
def test_skops_and_pickle_round_trips_give_identical_outputs(case):
    build, data, names = CASES[case]
    estimator = build()
    reloaded = skops_round_trip(estimator)
    assert type(reloaded) is type(estimator)
    assert_same_outputs(estimator, reloaded, data, names)
    assert_same_outputs(estimator, pickle.loads(pickle.dumps(estimator)), data, names)
    assert_same_outputs(estimator, skops_round_trip(reloaded), data, names)  # and again


def test_skops_keeps_the_fitted_penalty_state():
    clf = net(penalty=SpectralPenalty(tau=3)).fit(X, y)
    reloaded = skops_round_trip(clf)
    assert isinstance(reloaded.penalty_.eigenvectors_, torch.Tensor)
    torch.testing.assert_close(reloaded.penalty_.eigenvectors_, clf.penalty_.eigenvectors_)
    assert reloaded.net_.penalty is reloaded.penalty_
    assert reloaded.history_ is reloaded.net_.history
    assert len(reloaded.history_) == clf.n_iter_ == 2
    assert reloaded.history_[-1, "train_loss"] == clf.history_[-1, "train_loss"]


def test_skops_leaves_the_estimator_intact():
    clf = fitted_classifier()
    expected = clf.predict_proba(X)
    net_, module_ = clf.net_, clf.module_
    sio.dumps(clf)
    assert clf.net_ is net_ and clf.module_ is module_ is net_.module_
    np.testing.assert_array_equal(clf.predict_proba(X), expected)


@pytest.mark.parametrize("save", ["skops", "pickle"])
def test_partial_fit_continues_after_a_round_trip(save):
    clf = net(max_epochs=1).partial_fit(X, y, classes=[0, 1])
    if save == "skops":
        reloaded = skops_round_trip(clf)
    else:
        reloaded = pickle.loads(pickle.dumps(clf))
    reloaded.partial_fit(X, y)
    reference = net(max_epochs=2).fit(X, y)
    np.testing.assert_array_equal(reloaded.predict_proba(X), reference.predict_proba(X))
    assert reloaded.n_iter_ == 2


def test_warm_start_continues_after_a_skops_round_trip():
    clf = net(max_epochs=1, warm_start=True).fit(X, y)
    reloaded = skops_round_trip(clf).fit(X, y)
    reference = net(max_epochs=2).fit(X, y)
    np.testing.assert_array_equal(reloaded.predict_proba(X), reference.predict_proba(X))


class OwnModule(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(6, 2)

    def forward(self, x):
        return self.linear(x)


@pytest.mark.parametrize(
    "build",
    [
        lambda: TorchClassifier(OwnModule(), classes=[0, 1]).fit(X),
        lambda: LayerActivations(OwnModule(), "linear").fit(X),
        lambda: RobustNetClassifier(OwnModule, max_epochs=1, device="cpu", random_state=0).fit(
            X, y
        ),
    ],
    ids=["TorchClassifier", "LayerActivations", "RobustNetClassifier"],
)
def test_a_module_of_another_class_is_refused_by_skops_and_pickles(build):
    estimator = build()
    with pytest.raises(TypeError, match=r"test_persistence\.OwnModule.*pickle.*torch\.save"):
        sio.dumps(estimator)
    reloaded = pickle.loads(pickle.dumps(estimator))
    method = "transform" if isinstance(estimator, LayerActivations) else "predict_proba"
    np.testing.assert_array_equal(getattr(reloaded, method)(X), getattr(estimator, method)(X))


def test_a_module_with_hooks_is_refused():
    module = MLP(6, 2, (4,))
    module.encoder.register_forward_hook(lambda *args: None)
    with pytest.raises(TypeError, match=r"submodule 'encoder'.*hooks registered"):
        sio.dumps(TorchClassifier(module, classes=[0, 1]))


def test_shared_modules_and_tied_weights_stay_shared():
    linear = torch.nn.Linear(3, 3)
    model = torch.nn.Sequential(linear, torch.nn.Tanh(), linear)
    model.register_buffer("steps", torch.tensor(3), persistent=False)
    rebuilt = decode_module(encode_module(model))
    assert rebuilt[0] is rebuilt[2]
    assert rebuilt.steps.dtype == torch.int64 and "steps" not in rebuilt.state_dict()
    inputs = torch.randn(4, 3)
    torch.testing.assert_close(rebuilt(inputs), model(inputs), rtol=0, atol=0)


def crafted(data, old, new):
    """The skops file ``data`` with the type ``old`` (module, class) replaced by ``new``."""
    source = zipfile.ZipFile(io.BytesIO(data))
    target = io.BytesIO()
    replaced = []

    def swap(node):
        if isinstance(node, dict):
            if (node.get("__module__"), node.get("__class__")) == old:
                node["__module__"], node["__class__"] = new
                replaced.append(node)
            for value in node.values():
                swap(value)
        elif isinstance(node, list):
            for value in node:
                swap(value)

    with zipfile.ZipFile(target, "w") as out:
        for name in source.namelist():
            content = source.read(name)
            if name == "schema.json":
                schema = json.loads(content)
                swap(schema)
                content = json.dumps(schema).encode()
            out.writestr(name, content)
    assert replaced
    return target.getvalue()


def test_an_unknown_type_in_a_crafted_file_is_refused():
    clf = fitted_classifier()
    data = sio.dumps(clf)
    trusted = sio.get_untrusted_types(data=data)
    evil = crafted(data, ("torch.nn.modules.linear", "Linear"), ("os", "system"))
    assert "os.system" in sio.get_untrusted_types(data=evil)
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException, match=r"os\.system"):
        sio.loads(evil)
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException, match=r"os\.system"):
        sio.loads(evil, trusted=trusted)  # the list the genuine file needs is not enough
    # Even trusted by mistake, only module classes of sklearn_robust and torch.nn are built.
    with pytest.raises(TypeError, match="not rebuilt"):
        sio.loads(evil, trusted=[*trusted, "os.system"])
