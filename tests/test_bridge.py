"""Tests for sklearn_robust.bridge (as_torch, the TorchModuleProvider protocol)."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris, make_blobs
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression, RidgeClassifier, SGDClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import SVC, LinearSVC

from sklearn_robust import KHEncoder, RobustNetClassifier, StackedLILClassifier
from sklearn_robust.bridge import TORCH_OUTPUTS, TorchModuleProvider, as_torch


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X, y


def logits_of(model, X, **kwargs):
    with torch.no_grad():
        return as_torch(model, **kwargs)(torch.tensor(X, dtype=torch.float32)).numpy()


def assert_scores_match(model, X):
    module = as_torch(model)
    with torch.no_grad():
        scores = module.decision_scores(module(torch.tensor(X, dtype=torch.float32))).numpy()
    expected = model.decision_function(X)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(scores, expected, atol=2e-5 * scale + 1e-5)
    predicted = module.classes_[logits_of(model, X).argmax(1)]
    np.testing.assert_array_equal(predicted, model.predict(X))


LINEAR = [
    LogisticRegression(max_iter=500),
    LinearSVC(),
    SGDClassifier(loss="hinge", random_state=0),
    SGDClassifier(loss="log_loss", random_state=0),
    SGDClassifier(loss="modified_huber", random_state=0),
    RidgeClassifier(),
]
TRANSFORMERS = [
    StandardScaler(),
    StandardScaler(with_mean=False),
    StandardScaler(with_std=False),
    MinMaxScaler(),
    MinMaxScaler(feature_range=(-1, 2), clip=True),
    PCA(n_components=3),
    PCA(n_components=3, whiten=True),
]


@pytest.mark.parametrize("classifier", LINEAR, ids=repr)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_linear_classifiers_reproduce_decision_function(classifier, n_classes, iris):
    X, y = iris
    mask = y < n_classes
    model = make_pipeline(StandardScaler(), classifier).fit(X[mask], y[mask])
    assert_scores_match(model, X[mask])


@pytest.mark.parametrize("transformer", TRANSFORMERS, ids=repr)
def test_transformers_reproduce_transform(transformer, iris):
    X, _ = iris
    fitted = transformer.fit(X)
    X_new = X + np.random.default_rng(0).normal(0, 1.0, X.shape)  # some outside the fit range
    np.testing.assert_allclose(
        logits_of(fitted, X_new), fitted.transform(X_new), rtol=1e-5, atol=1e-4
    )


@pytest.mark.parametrize("transformer", TRANSFORMERS, ids=repr)
def test_pipelines_of_every_transformer(transformer, iris):
    X, y = iris
    model = make_pipeline(transformer, StandardScaler(), LogisticRegression(max_iter=500))
    assert_scores_match(model.fit(X, y), X)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_mlp_classifier_reproduces_probabilities(activation, n_classes, iris):
    X, y = iris
    mask = y < n_classes
    mlp = MLPClassifier((8, 5), activation=activation, max_iter=300, random_state=0)
    model = make_pipeline(StandardScaler(), mlp).fit(X[mask], y[mask])
    logits = torch.tensor(logits_of(model, X[mask]))
    np.testing.assert_allclose(
        torch.softmax(logits, 1).numpy(), model.predict_proba(X[mask]), atol=1e-5
    )
    np.testing.assert_array_equal(logits.argmax(1).numpy(), model.predict(X[mask]))


def test_hidden_output(iris):
    X, y = iris
    linear = make_pipeline(StandardScaler(), PCA(3), LogisticRegression()).fit(X, y)
    np.testing.assert_allclose(
        logits_of(linear, X, output="hidden"), linear[:-1].transform(X), rtol=1e-5, atol=1e-5
    )
    mlp = MLPClassifier((6,), activation="tanh", max_iter=2000, random_state=0).fit(X, y)
    expected = np.tanh(X @ mlp.coefs_[0] + mlp.intercepts_[0])
    np.testing.assert_allclose(logits_of(mlp, X, output="hidden"), expected, atol=1e-5)
    assert as_torch(linear, output="hidden").classes_ is None


def test_package_estimators(iris):
    X, y = iris
    X = MinMaxScaler().fit_transform(X)
    kh = make_pipeline(
        KHEncoder(n_components=20, k=2, n_epochs=3, random_state=0, device="cpu"),
        StandardScaler(),
        LogisticRegression(max_iter=1000),
    ).fit(X, y)
    assert_scores_match(kh, X)
    net = RobustNetClassifier(max_epochs=5, device="cpu", random_state=0).fit(X, y)
    assert_scores_match(net, X)
    np.testing.assert_allclose(logits_of(net, X, output="hidden"), net.transform(X), atol=1e-6)
    binary = RobustNetClassifier(max_epochs=5, device="cpu", random_state=0).fit(X, y == 1)
    assert_scores_match(binary, X)
    lil = StackedLILClassifier(max_epochs=5, random_state=0, device="cpu").fit(X, y)
    np.testing.assert_array_equal(lil.classes_[logits_of(lil, X).argmax(1)], lil.predict(X))
    np.testing.assert_allclose(logits_of(lil, X, output="hidden"), lil.transform(X), atol=1e-6)


def test_shares_weights_and_passes_gradients(iris):
    X, y = iris
    net = RobustNetClassifier(max_epochs=2, device="cpu", random_state=0).fit(X, y)
    module = as_torch(net)
    shared = {p.data_ptr() for p in net.module_.parameters()}
    assert shared <= {p.data_ptr() for p in module.parameters()}
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y == 0)
    x = torch.tensor(X[:5], dtype=torch.float32, requires_grad=True)
    module = as_torch(model)
    module.decision_scores(module(x)).sum().backward()
    classifier, scaler = model[-1], model[0]
    expected = classifier.coef_[0] / scaler.scale_
    np.testing.assert_allclose(x.grad.numpy(), np.tile(expected, (5, 1)), rtol=1e-5)


def test_passthrough_and_nested_pipelines(iris):
    X, y = iris
    inner = Pipeline([("scale", StandardScaler()), ("skip", "passthrough")])
    model = Pipeline([("inner", inner), ("none", None), ("clf", LogisticRegression())])
    assert_scores_match(model.fit(X, y), X)


@pytest.mark.parametrize(
    "model",
    [make_pipeline(StandardScaler(), SVC()), KNeighborsClassifier()],
    ids=["svc", "knn"],
)
def test_unsupported_steps_name_themselves_and_the_black_box_route(model, iris):
    X, y = iris
    model.fit(X, y)
    with pytest.raises(TypeError, match=r"(?s)cannot differentiate step.*random_noise.*certify"):
        as_torch(model)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_errors(iris):
    X, y = iris
    with pytest.raises(NotFittedError):
        as_torch(make_pipeline(StandardScaler(), LogisticRegression()))
    with pytest.raises(ValueError, match="output"):
        as_torch(LogisticRegression(max_iter=1000).fit(X, y), output="proba")
    multilabel = MLPClassifier((3,), max_iter=50, random_state=0)
    Y = np.stack([y == 0, y == 1], axis=1)
    multilabel.fit(X, Y)
    with pytest.raises(TypeError, match="multilabel"):
        as_torch(multilabel)
    blobs, labels = make_blobs(30, centers=3, random_state=0)
    lil = StackedLILClassifier(max_epochs=1, random_state=0, device="cpu")
    lil.fit(blobs, np.stack([labels > 0, labels], axis=1))
    with pytest.raises(TypeError, match="1-D labels"):
        as_torch(lil)
    # The cause is the levels of the labels, not a missing output.
    with pytest.raises(TypeError, match="1-D labels") as caught:
        as_torch(lil, output="hidden")
    assert "no 'hidden' output" not in str(caught.value)


def test_package_estimators_follow_the_protocol():
    for estimator in (KHEncoder(), RobustNetClassifier(), StackedLILClassifier()):
        assert isinstance(estimator, TorchModuleProvider)
        assert set(estimator.torch_outputs) <= set(TORCH_OUTPUTS)
        assert "decision" in estimator.torch_outputs
    assert KHEncoder.torch_outputs == ("decision",)
    assert not isinstance(LogisticRegression(), TorchModuleProvider)


@pytest.mark.parametrize("output", ["logits", "proba", None])
def test_providers_refuse_outputs_they_do_not_list(iris, output):
    X, y = iris
    net = RobustNetClassifier(max_epochs=1, device="cpu", random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=r"output must be one of \('decision', 'hidden'\)"):
        net.to_torch_module(output)
    encoder = KHEncoder(n_components=5, k=2, n_epochs=1, random_state=0, device="cpu").fit(X)
    with pytest.raises(ValueError, match="KHEncoder"):
        encoder.to_torch_module("hidden")


class _ScoresOnly(LogisticRegression):
    """A classifier that offers its decision scores to torch, and no hidden layer."""

    torch_outputs = ("decision",)

    def to_torch_module(self, output="decision"):
        weight = torch.tensor(self.coef_.T, dtype=torch.float32)
        bias = torch.tensor(self.intercept_, dtype=torch.float32)
        return _Linear(weight, bias)


class _Linear(torch.nn.Module):
    def __init__(self, weight, bias):
        super().__init__()
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)

    def forward(self, x):
        return x @ self.weight + self.bias


class _NoCapability(KNeighborsClassifier):
    """to_torch_module without torch_outputs: not the protocol."""

    def to_torch_module(self, output="decision"):
        raise AssertionError("as_torch must not call it")


def test_support_is_read_from_torch_outputs(iris):
    X, y = iris
    scores_only = _ScoresOnly(max_iter=1000).fit(X, y)
    assert isinstance(scores_only, TorchModuleProvider)
    assert_scores_match(make_pipeline(StandardScaler(), scores_only).fit(X, y), X)
    no_hidden = r"\(_ScoresOnly\) has no 'hidden' output.*\('decision',\)"
    with pytest.raises(TypeError, match=no_hidden):
        as_torch(make_pipeline(StandardScaler(), scores_only).fit(X, y), output="hidden")
    with pytest.raises(TypeError, match="cannot differentiate step"):
        as_torch(_NoCapability().fit(X, y))


# ------------------------------------------------------------------ skorch nets
def _skorch_net(criterion, softmax_in_module, n_classes=3, **kwargs):
    from skorch import NeuralNetClassifier

    layers = [torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, n_classes)]
    if softmax_in_module:
        layers.append(torch.nn.Softmax(dim=-1))
    return NeuralNetClassifier(
        torch.nn.Sequential(*layers), criterion=criterion, max_epochs=20, lr=0.1,
        train_split=None, verbose=0, **kwargs,
    )  # fmt: skip


SKORCH_NETS = {
    # skorch's default: the module outputs probabilities, trained with NLLLoss on their log
    "nll": lambda: _skorch_net(torch.nn.NLLLoss, softmax_in_module=True),
    "cross_entropy": lambda: _skorch_net(torch.nn.CrossEntropyLoss, softmax_in_module=False),
    "two_classes": lambda: _skorch_net(torch.nn.CrossEntropyLoss, False, n_classes=2),
}


@pytest.mark.parametrize("name", sorted(SKORCH_NETS))
@pytest.mark.parametrize("in_pipeline", [False, True])
def test_skorch_nets_reproduce_their_own_probabilities(name, in_pipeline, iris):
    X, y = iris
    X = X.astype(np.float32)
    if name == "two_classes":
        y = (y > 0).astype(np.int64)
    torch.manual_seed(0)
    net = SKORCH_NETS[name]()
    model = make_pipeline(StandardScaler(), net) if in_pipeline else net
    model.fit(X if in_pipeline else (X - X.mean(0)) / X.std(0), y)
    X_in = X if in_pipeline else (X - X.mean(0)) / X.std(0)
    logits = torch.tensor(logits_of(model, X_in))
    np.testing.assert_allclose(
        torch.softmax(logits, 1).numpy(), model.predict_proba(X_in), atol=2e-6
    )
    np.testing.assert_array_equal(logits.argmax(1).numpy(), model.predict(X_in))


def test_skorch_net_is_attacked_and_refuses_hidden(iris):
    from sklearn_robust.robustness import critical_distance

    X, y = iris
    X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
    torch.manual_seed(0)
    net = SKORCH_NETS["cross_entropy"]().fit(X, y)
    distances = critical_distance(net, X, y, attack="fgsm", norm="l2", max_eps=5.0)
    assert np.isfinite(distances).any()
    with pytest.raises(TypeError, match="no 'hidden' output"):
        as_torch(net, output="hidden")
    with pytest.raises(NotFittedError):
        as_torch(SKORCH_NETS["nll"]())
