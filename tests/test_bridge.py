"""Tests for sklearn_robust.bridge (as_torch, the TorchModuleProvider protocol)."""

import itertools

import numpy as np
import pytest
import torch
from scipy import sparse
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris, make_blobs
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import VotingClassifier
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression, RidgeClassifier, SGDClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MaxAbsScaler,
    MinMaxScaler,
    Normalizer,
    OneHotEncoder,
    PolynomialFeatures,
    RobustScaler,
    StandardScaler,
)
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


# ------------------------------------- more scalers, column and union composites,
# soft voting, FrozenEstimator
def _with_zero_row(X):
    """X moved by noise (some rows beyond the fit's range), and one row of zeros."""
    X_new = X + np.random.default_rng(0).normal(0, 1.0, X.shape)
    X_new[3] = 0.0
    return X_new


def _columns_of(X):
    """The module's input: X's columns in the order of the fit (a DataFrame's values)."""
    return X.to_numpy() if hasattr(X, "to_numpy") else X


WIDER_TRANSFORMERS = [
    RobustScaler(),
    RobustScaler(with_centering=False),
    RobustScaler(with_scaling=False),
    RobustScaler(unit_variance=True, quantile_range=(10.0, 90.0)),
    MaxAbsScaler(),
    Normalizer("l2"),
    Normalizer("l1"),
    Normalizer("max"),
    FunctionTransformer(),
]


def _column_transformers():
    return {
        "ints_slice_mask_drop": ColumnTransformer(
            [
                ("robust", RobustScaler(), [0, 2]),
                ("pass", "passthrough", slice(1, 2)),
                ("pca", make_pipeline(StandardScaler(), PCA(1)), [True, False, True, True]),
                ("gone", "drop", [3]),
                ("empty", StandardScaler(), []),
            ],
            remainder="drop",
        ),
        "remainder_passthrough_weights": ColumnTransformer(
            [("max_abs", MaxAbsScaler(), [3, 1]), ("norm", Normalizer("l1"), [0, 1])],
            remainder="passthrough",
            transformer_weights={"max_abs": 2.0, "remainder": 0.5},
        ),
        "remainder_transformer": ColumnTransformer(
            [
                (
                    "frozen",
                    FrozenEstimator(StandardScaler().fit(np.ones((2, 2)) * [[1], [3]])),
                    [1, 2],
                )
            ],
            remainder=MinMaxScaler(),
        ),
        "negative_ints": ColumnTransformer([("last", StandardScaler(), [-1, -2])]),
    }


def _union():
    return FeatureUnion(
        [
            ("pca", PCA(2)),
            ("norm", make_pipeline(Normalizer("l2"), "passthrough")),
            ("pass", "passthrough"),
            ("gone", "drop"),
        ],
        transformer_weights={"pca": 3.0, "pass": -0.5},
    )


def _grad_of(model, X):
    """Gradient of a fixed random projection of the module's output, per input."""
    x = torch.tensor(X, dtype=torch.float32).requires_grad_()
    out = as_torch(model)(x)
    projection = torch.tensor(np.random.default_rng(1).normal(size=out.shape[1:]))
    (out * projection.to(out.dtype)).sum().backward()
    return x.grad.numpy()


def assert_gradients_flow(model, X):
    grad = _grad_of(model, X)
    assert np.isfinite(grad).all()
    assert (np.abs(grad).sum(axis=1) > 0).all()


def assert_transform_matches(fitted, X):
    np.testing.assert_allclose(
        logits_of(fitted, _columns_of(X)), fitted.transform(X), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("transformer", WIDER_TRANSFORMERS, ids=repr)
def test_wider_transformers_reproduce_transform(transformer, iris):
    X, y = iris
    fitted = transformer.fit(X)
    X_new = _with_zero_row(X)
    assert_transform_matches(fitted, X_new)
    if isinstance(transformer, Normalizer):  # rows of zero norm stay zero, gradients finite
        np.testing.assert_array_equal(logits_of(fitted, X_new)[3], 0.0)
    assert_gradients_flow(fitted, X_new)
    model = make_pipeline(transformer, StandardScaler(), LogisticRegression(max_iter=500))
    assert_scores_match(model.fit(X, y), X)


def test_normalizer_guards_small_norms_as_scikit_learn_does():
    X = np.array([[1e-7, 0.0], [0.0, 0.0], [3.0, 4.0], [-2e-6, 0.0]], dtype=np.float32)
    for norm in ("l1", "l2", "max"):
        fitted = Normalizer(norm).fit(X)
        np.testing.assert_allclose(logits_of(fitted, X), fitted.transform(X), rtol=1e-6)


def test_function_transformer_with_a_function_is_refused(iris):
    X, _ = iris
    with pytest.raises(TypeError, match=r"FunctionTransformer\(func=.*only the identity"):
        as_torch(FunctionTransformer(np.log1p).fit(X))


@pytest.mark.parametrize("name", sorted(_column_transformers()))
def test_column_transformers_reproduce_transform(name, iris):
    X, y = iris
    ct = _column_transformers()[name].fit(X)
    X_new = _with_zero_row(X)
    assert_transform_matches(ct, X_new)
    assert_gradients_flow(ct, X_new)
    model = make_pipeline(_column_transformers()[name], LogisticRegression(max_iter=1000))
    assert_scores_match(model.fit(X, y), X)


def test_column_transformer_selects_by_name_on_dataframes(iris):
    pd = pytest.importorskip("pandas")
    X, y = iris
    frame = pd.DataFrame(X, columns=["sl", "sw", "pl", "pw"])
    ct = ColumnTransformer(
        [
            ("lengths", RobustScaler(), ["pl", "sl"]),  # not in the frame's order
            ("widths", MaxAbsScaler(), ["sw"]),
            ("label_slice", StandardScaler(), slice("sw", "pl")),  # inclusive, as pandas
        ],
        remainder="passthrough",  # 'pw', kept by name
    )
    model = make_pipeline(ct, LogisticRegression(max_iter=1000)).fit(frame, y)
    assert_transform_matches(model[0], frame)
    module = as_torch(model)
    with torch.no_grad():
        logits = module(torch.tensor(X, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(logits, model.decision_function(frame), atol=1e-4)
    np.testing.assert_array_equal(module.classes_[logits.argmax(1)], model.predict(frame))
    pandas_out = clone(ct).set_output(transform="pandas").fit(frame)
    assert_transform_matches(pandas_out, frame)


def test_column_names_need_feature_names_in(iris):
    pd = pytest.importorskip("pandas")
    X, _ = iris
    ct = ColumnTransformer([("scale", StandardScaler(), ["a"])])
    ct.fit(pd.DataFrame(X, columns=list("abcd")))
    del ct.feature_names_in_  # as if fitted without names: nothing maps them to positions
    with pytest.raises(TypeError, match=r"selects columns by name \('a'\).*feature_names_in_"):
        as_torch(ct)


def test_sparse_column_transformer_output_is_refused(iris):
    X, y = iris
    X = np.where(np.random.default_rng(0).random(X.shape) < 0.3, X, 0.0)
    ct = ColumnTransformer([("scale", MaxAbsScaler(), [0, 1])], sparse_threshold=1.0)
    model = make_pipeline(ct, LogisticRegression()).fit(sparse.csr_matrix(X), y)
    assert model[0].sparse_output_
    with pytest.raises(TypeError, match=r"(?s)output is sparse.*sparse_threshold=0.*certify"):
        as_torch(model)


def test_feature_union_reproduces_transform(iris):
    X, y = iris
    union = _union().fit(X)
    X_new = _with_zero_row(X)
    assert_transform_matches(union, X_new)
    assert_gradients_flow(union, X_new)
    model = make_pipeline(_union(), StandardScaler(), LogisticRegression(max_iter=1000))
    assert_scores_match(model.fit(X, y), X)
    empty = FeatureUnion([("gone", "drop")]).fit(X)
    assert logits_of(empty, X).shape == (len(X), 0) == empty.transform(X).shape


def test_composites_name_their_unsupported_parts(iris):
    X, y = iris
    ct = ColumnTransformer(
        [("ok", StandardScaler(), [0]), ("bad", OneHotEncoder(sparse_output=False), [1])]
    )
    with pytest.raises(TypeError, match=r"step 'columntransformer\.bad' \(OneHotEncoder\)"):
        as_torch(make_pipeline(ct, LogisticRegression()).fit(X, y))
    union = FeatureUnion([("poly", make_pipeline(StandardScaler(), PolynomialFeatures()))])
    with pytest.raises(TypeError, match=r"'FeatureUnion\.poly\.polynomialfeatures'"):
        as_torch(union.fit(X))
    lda = make_pipeline(LinearDiscriminantAnalysis(n_components=2), LogisticRegression())
    with pytest.raises(TypeError, match="classifier used for its transform"):
        as_torch(lda.fit(X, y))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("kind", ["robust", "max_abs", "columns", "union", "voting"])
def test_adapters_share_nothing_with_the_estimator(kind, iris):
    X, y = iris
    model = {
        "robust": lambda: RobustScaler(),
        "max_abs": lambda: MaxAbsScaler(),
        "columns": lambda: _column_transformers()["remainder_passthrough_weights"],
        "union": _union,
        "voting": lambda: VotingClassifier(_members(), voting="soft"),
    }[kind]().fit(X, y)
    method = model.predict_proba if kind == "voting" else model.transform
    expected = method(X)
    module = as_torch(model)
    for tensor in itertools.chain(module.buffers(), module.parameters()):
        tensor.data.zero_()
    np.testing.assert_array_equal(method(X), expected)


def test_a_classifier_before_the_last_step_hands_on_its_transform(iris):
    X, y = iris
    net = RobustNetClassifier(max_epochs=2, device="cpu", random_state=0)
    model = make_pipeline(StandardScaler(), net, LogisticRegression(max_iter=1000)).fit(X, y)
    assert_scores_match(model, X)


def _members():
    """Soft-voting members of every kind of probabilities, and one dropped."""

    def scaled(classifier, scaler=StandardScaler):
        return make_pipeline(scaler(), classifier)

    return [
        ("lr", scaled(LogisticRegression(max_iter=500))),
        ("sgd_log", scaled(SGDClassifier(loss="log_loss", random_state=0))),
        ("huber", scaled(SGDClassifier(loss="modified_huber", random_state=0))),
        ("mlp", scaled(MLPClassifier((6,), max_iter=300, random_state=0), MaxAbsScaler)),
        ("gone", "drop"),
    ]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("weights", [None, [1.0, 2.0, 0.5, 1.0, 7.0]], ids=["uniform", "weighted"])
def test_soft_voting_reproduces_probabilities(n_classes, weights, iris):
    X, y = iris
    mask = y < n_classes
    X, y = X[mask], np.array(["setosa", "versicolor", "virginica"])[y[mask]]
    voting = VotingClassifier(_members(), voting="soft", weights=weights)
    for model in (voting, make_pipeline(RobustScaler(), voting)):
        model.fit(X, y)
        logits = torch.tensor(logits_of(model, X))
        np.testing.assert_allclose(
            torch.softmax(logits, 1).numpy(), model.predict_proba(X), atol=1e-5
        )
        module = as_torch(model)
        np.testing.assert_array_equal(module.classes_[logits.argmax(1)], model.predict(X))
        assert_gradients_flow(model, X)


def test_soft_voting_of_networks_and_frozen_members(iris):
    X, y = iris
    X = MinMaxScaler().fit_transform(X)
    net = RobustNetClassifier(max_epochs=3, device="cpu", random_state=0)
    frozen = FrozenEstimator(LogisticRegression(max_iter=500).fit(X, y))
    voting = VotingClassifier([("net", net), ("frozen", frozen)], voting="soft").fit(X, y)
    logits = torch.tensor(logits_of(voting, X))
    np.testing.assert_allclose(torch.softmax(logits, 1).numpy(), voting.predict_proba(X), atol=1e-5)
    np.testing.assert_array_equal(logits.argmax(1).numpy(), voting.predict(X))


def test_voting_refusals(iris):
    X, y = iris
    hard = VotingClassifier([("lr", LogisticRegression(max_iter=500)), ("svc", LinearSVC())])
    with pytest.raises(
        TypeError, match=r"voting='hard'\): a majority of votes is not differentiable"
    ):
        as_torch(hard.fit(X, y))
    with pytest.raises(TypeError, match=r"(?s)voting='hard'.*random_noise.*certify"):
        as_torch(make_pipeline(StandardScaler(), hard).fit(X, y))
    soft_svc = VotingClassifier([("lr", LogisticRegression(max_iter=500)), ("svc", LinearSVC())])
    soft_svc.set_params(voting="soft").fit(X, y)
    with pytest.raises(TypeError, match=r"member 'VotingClassifier\.svc' \(LinearSVC\)"):
        as_torch(soft_svc)
    soft = VotingClassifier([("lr", LogisticRegression(max_iter=500))], voting="soft").fit(X, y)
    with pytest.raises(TypeError, match="no 'hidden' output"):
        as_torch(soft, output="hidden")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_frozen_estimators_are_unwrapped(iris):
    X, y = iris
    scaler = StandardScaler().fit(X)
    mlp = MLPClassifier((5,), activation="tanh", max_iter=300, random_state=0)
    mlp.fit(scaler.transform(X), y)
    model = make_pipeline(FrozenEstimator(scaler), FrozenEstimator(mlp)).fit(X, y)
    for wrapped in (model, FrozenEstimator(model)):
        logits = torch.tensor(logits_of(wrapped, X))
        np.testing.assert_allclose(
            torch.softmax(logits, 1).numpy(), wrapped.predict_proba(X), atol=1e-5
        )
        np.testing.assert_array_equal(logits.argmax(1).numpy(), wrapped.predict(X))
    assert_scores_match(FrozenEstimator(make_pipeline(scaler, LogisticRegression()).fit(X, y)), X)
    expected = np.tanh(scaler.transform(X) @ mlp.coefs_[0] + mlp.intercepts_[0])
    for wrapped in (model, FrozenEstimator(model)):
        np.testing.assert_allclose(logits_of(wrapped, X, output="hidden"), expected, atol=1e-5)
    frozen_pipeline = FrozenEstimator(make_pipeline(PCA(2), StandardScaler()).fit(X))
    assert_transform_matches(frozen_pipeline, X)
    linear = make_pipeline(frozen_pipeline, LogisticRegression()).fit(X, y)
    np.testing.assert_allclose(
        logits_of(linear, X, output="hidden"), frozen_pipeline.transform(X), atol=1e-5
    )


def test_pgd_through_a_column_transformer_pipeline_and_soft_voting(iris):
    from sklearn_robust.robustness import pgd

    X, y = iris
    ct = _column_transformers()["ints_slice_mask_drop"]
    column_model = make_pipeline(ct, LogisticRegression(max_iter=1000)).fit(X, y)
    voting = VotingClassifier(_members(), voting="soft").fit(X, y)
    for model in (column_model, voting):
        clean = (model.predict(X) == y).mean()
        X_adv = pgd(model, X, y, eps=0.5, n_iter=10, random_state=0)
        assert X_adv.shape == X.shape and X_adv.dtype == np.float32
        assert np.abs(X_adv - X).max() <= 0.5 + 1e-5
        assert (model.predict(X_adv) == y).mean() < clean
