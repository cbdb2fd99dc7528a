"""Tests for sklearn_robust.nn.classifier (RobustNetClassifier)."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.ensemble import AdaBoostClassifier
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.estimator_checks import (
    check_get_feature_names_out_error,
    check_global_output_transform_pandas,
    check_set_output_transform,
    check_set_output_transform_pandas,
)
from skorch.callbacks import Callback

from sklearn_robust import KHEncoder
from sklearn_robust.datasets import load_digits
from sklearn_robust.nn import L2Penalty, LinearHead, RobustNetClassifier, SpectralPenalty

from ..conftest import cuda


@pytest.fixture(scope="module")
def digits_split():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)


def quick(**params):
    """A small, fast classifier on the CPU."""
    defaults = {"max_epochs": 15, "random_state": 0, "device": "cpu", "lr": 3e-3}
    return RobustNetClassifier(**{**defaults, **params})


def test_learns_digits(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    clf = RobustNetClassifier(random_state=0, device="cpu").fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= 0.95
    assert clf.n_iter_ == 50 and len(clf.history_) == 50
    assert clf.history_[-1, "train_loss"] < clf.history_[0, "train_loss"]


def test_same_seed_same_model(digits_split):
    X_train, X_test, y_train, _ = digits_split
    first = quick().fit(X_train, y_train).decision_function(X_test)
    again = quick().fit(X_train, y_train).decision_function(X_test)
    other = quick(random_state=1).fit(X_train, y_train).decision_function(X_test)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_fit_leaves_global_torch_rng_alone(digits_split):
    X_train, _, y_train, _ = digits_split
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    quick(max_epochs=1).fit(X_train, y_train)
    torch.testing.assert_close(torch.rand(3), expected)


def test_outputs_agree_with_each_other(digits_split):
    X_train, X_test, y_train, _ = digits_split
    clf = quick().fit(X_train, y_train)
    logits = clf.decision_function(X_test)
    proba = clf.predict_proba(X_test)
    assert logits.shape == proba.shape == (len(X_test), 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(np.log(proba), clf.predict_log_proba(X_test), atol=1e-4)
    np.testing.assert_array_equal(clf.predict(X_test), clf.classes_[logits.argmax(axis=1)])


def test_binary_decision_function_is_the_margin():
    X, y = make_blobs(200, centers=[[-2, -2], [2, 2]], random_state=0)
    labels = np.where(y == 1, "spam", "ham")  # string targets are fine
    clf = quick().fit(X, labels)
    margin = clf.decision_function(X)
    assert margin.shape == (200,)
    np.testing.assert_array_equal(clf.predict(X), np.where(margin > 0, "spam", "ham"))
    assert list(clf.classes_) == ["ham", "spam"]
    assert clf.score(X, labels) > 0.95


@pytest.mark.parametrize(
    "X, y, error, message",
    [
        (np.ones((4, 2)), np.zeros(4), ValueError, "1 class"),
        (np.array([[np.nan, 1.0], [0.0, 1.0]]), [0, 1], ValueError, "NaN"),
        (np.ones((4, 2)), [0, 1, 0], ValueError, "inconsistent numbers of samples"),
        (np.ones((4, 2)), [0.5, 1.5, 2.5, 3.5], ValueError, "Unknown label type"),
        (np.ones(4), [0, 1, 0, 1], ValueError, "2D array"),
    ],
)
def test_bad_input_gets_scikit_learn_errors(X, y, error, message):
    with pytest.raises(error, match=message):
        quick().fit(X, y)


def test_unfitted_and_feature_mismatch(digits_split):
    X_train, X_test, y_train, _ = digits_split
    with pytest.raises(NotFittedError):
        quick().predict(X_test)
    clf = quick(max_epochs=1).fit(X_train, y_train)
    with pytest.raises(ValueError, match="64 features"):
        clf.predict(X_test[:, :10])


@pytest.mark.parametrize(
    "params, message",
    [
        ({"lr": 0}, "'lr' parameter"),
        ({"max_epochs": 0}, "'max_epochs' parameter"),
        ({"penalty": "l2"}, "'penalty' parameter"),
        ({"hidden_sizes": (5,)}, "unexpected parameter"),
        ({"module__hidden_sizes": (0,)}, "positive widths"),
        ({"module__activation": "sigmoid"}, "activation must be one of"),
        ({"device": "tpu"}, "device"),
    ],
)
def test_bad_parameters_raise_before_training(params, message, digits_split, monkeypatch):
    X_train, _, y_train, _ = digits_split

    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr("sklearn_robust.nn.classifier.PenalizedNet.fit", no_training)
    with pytest.raises(ValueError, match=message):
        quick(**params).fit(X_train, y_train)


def test_module_params_route_like_skorch(digits_split):
    X_train, _, y_train, _ = digits_split
    clf = quick(module__hidden_sizes=(32, 16), module__activation="tanh", max_epochs=1)
    assert clf.get_params()["module__hidden_sizes"] == (32, 16)
    clf.set_params(module__hidden_sizes=(8,), penalty=L2Penalty(), penalty__strength=0.5)
    assert clf.module__hidden_sizes == (8,) and clf.penalty.strength == 0.5
    clf.fit(X_train, y_train)
    assert clf.transform(X_train[:3]).shape == (3, 8)
    assert isinstance(clf.module_.encoder[1], torch.nn.Tanh)
    assert repr(clf.penalty_) == "L2Penalty(strength=0.5)"


def test_grid_search_reaches_module_and_penalty_params(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    pipe = Pipeline(
        [("scale", StandardScaler()), ("clf", quick(penalty=L2Penalty(), max_epochs=5))]
    )
    grid = {"clf__penalty__strength": [0.0, 1e-2], "clf__module__hidden_sizes": [(16,), (32,)]}
    search = GridSearchCV(pipe, grid, cv=2, n_jobs=2).fit(X_train, y_train)
    assert len(search.cv_results_["params"]) == 4
    best = search.best_estimator_.named_steps["clf"]
    assert best.module__hidden_sizes in [(16,), (32,)]
    assert search.score(X_test, y_test) > 0.8


class LogitsOnlyNet(torch.nn.Module):
    def __init__(self, n_features, n_classes, width=20):
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(n_features, width), torch.nn.ReLU(), torch.nn.Linear(width, n_classes)
        )

    def forward(self, x):
        return self.layers(x)


def test_custom_module_class_and_instance(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    by_class = quick(module=LogitsOnlyNet, module__width=32).fit(X_train, y_train)
    assert by_class.score(X_test, y_test) > 0.9
    # The hidden output is reachable by the name of its layer even without (logits, hidden).
    assert by_class.transform(X_test[:4], layer="layers.1").shape == (4, 32)

    instance = LogitsOnlyNet(64, 10)
    before = [p.detach().clone() for p in instance.parameters()]
    fitted = quick(module=instance).fit(X_train, y_train)
    assert fitted.score(X_test, y_test) > 0.9
    for old, new in zip(before, instance.parameters(), strict=True):
        torch.testing.assert_close(old, new)  # the parameter itself is never trained


def test_module_problems_are_clear(digits_split):
    X_train, _, y_train, _ = digits_split
    with pytest.raises(ValueError, match="module is an instance"):
        quick(module=LogitsOnlyNet(64, 10), module__width=3).fit(X_train, y_train)
    with pytest.raises(ValueError, match=r"logits of shape \(n_samples, 10\)"):
        quick(module=LogitsOnlyNet(64, 3)).fit(X_train, y_train)
    with pytest.raises(ValueError, match="returns only logits"):
        quick(module=LogitsOnlyNet, penalty=L2Penalty()).fit(X_train, y_train)


def test_transform_layers(digits_split):
    X_train, X_test, y_train, _ = digits_split
    clf = quick(module__hidden_sizes=(40, 24), max_epochs=2).fit(X_train, y_train)
    last = clf.transform(X_test)
    assert last.shape == (len(X_test), 24) and last.dtype == np.float32
    np.testing.assert_array_equal(clf.transform(X_test, layer=-1), last)
    np.testing.assert_array_equal(clf.transform(X_test, layer="encoder.3"), last)
    assert clf.transform(X_test, layer=0).shape == (len(X_test), 40)
    assert (clf.transform(X_test, layer=0) >= 0).all()  # after the ReLU
    with pytest.raises(ValueError, match="out of range"):
        clf.transform(X_test, layer=2)
    with pytest.raises(ValueError, match="No submodule named"):
        clf.transform(X_test, layer="decoder")


def test_torch_module_reproduces_decision_function(digits_split):
    X_train, X_test, y_train, _ = digits_split
    clf = quick(max_epochs=2).fit(X_train, y_train)
    module = clf.to_torch_module()
    x = torch.tensor(X_test[:8], requires_grad=True)
    logits = module(x)
    np.testing.assert_allclose(
        logits.detach().numpy(), clf.decision_function(X_test[:8]), atol=1e-5
    )
    logits[:, 0].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_pickle_round_trip(digits_split):
    X_train, X_test, y_train, _ = digits_split
    clf = quick(max_epochs=2, penalty=L2Penalty()).fit(X_train, y_train)
    reloaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(reloaded.predict_proba(X_test), clf.predict_proba(X_test))
    np.testing.assert_array_equal(reloaded.transform(X_test), clf.transform(X_test))


def test_penalty_is_cloned_recorded_and_changes_training(digits_split):
    X_train, _, y_train, _ = digits_split
    penalty = L2Penalty(strength=1e-2)
    clf = quick(penalty=penalty, max_epochs=3).fit(X_train, y_train)
    assert clf.penalty is penalty and clf.penalty_ is not penalty
    values = clf.history_[:, "batches", :, "penalty"]
    assert all(v > 0 for epoch in values for v in epoch)
    plain = quick(max_epochs=3).fit(X_train, y_train)
    weights = clf.module_.encoder[0].weight.detach().norm()
    assert weights < plain.module_.encoder[0].weight.detach().norm()  # decay shrinks them


def test_early_stopping_holds_out_and_stops(digits_split):
    X_train, _, y_train, _ = digits_split
    clf = quick(early_stopping=True, max_epochs=300, lr=1e-2, n_iter_no_change=3)
    clf.fit(X_train, y_train)
    assert clf.n_iter_ < 300
    assert "valid_loss" in clf.history_[-1]


@pytest.mark.parametrize(
    "n_per_class, fraction, message",
    [
        ((4, 4, 4), 0.1, r"2 for validation.*3 classes, and 2 validation samples"),
        ((10, 10), 0.95, r"19 for validation and 1 for training.*1 training samples"),
        ((10, 1), 0.5, r"classes \[1\] have a single sample"),
    ],
)
def test_early_stopping_split_that_cannot_be_made_fails_before_training(
    n_per_class, fraction, message, monkeypatch
):
    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr("sklearn_robust.nn.classifier.PenalizedNet.fit", no_training)
    y = np.repeat(np.arange(len(n_per_class)), n_per_class)
    X = np.random.default_rng(0).normal(size=(y.size, 3))
    clf = quick(early_stopping=True, validation_fraction=fraction)
    with pytest.raises(ValueError, match=rf"early_stopping.*validation_fraction={fraction}"):
        clf.fit(X, y)
    with pytest.raises(ValueError, match=message):
        clf.fit(X, y)


def test_user_callbacks_and_verbose(digits_split, capsys):
    X_train, _, y_train, _ = digits_split

    class CountEpochs(Callback):
        def initialize(self):
            self.epochs = 0
            return self

        def on_epoch_end(self, net, **kwargs):
            self.epochs += 1

    counter = CountEpochs().initialize()
    clf = quick(max_epochs=3, callbacks=[counter], verbose=1).fit(X_train, y_train)
    assert dict(clf.net_.callbacks_)["user_0"].epochs == 3
    assert counter.epochs == 0  # the parameter is copied, never mutated
    assert "train_loss" in capsys.readouterr().out


def test_kh_hybrid_pipeline(digits_split):
    """The paper's hybrid: a local encoder and a backprop-trained linear decoder."""
    X_train, X_test, y_train, y_test = digits_split
    hybrid = Pipeline(
        [
            ("kh", KHEncoder(n_components=200, power=4.5, n_epochs=20, random_state=0)),
            ("scale", StandardScaler()),
            ("clf", quick(module=LinearHead, max_epochs=30)),
        ]
    )
    assert hybrid.fit(X_train, y_train).score(X_test, y_test) > 0.9
    encoded = hybrid[:-1].transform(X_test[:5])
    np.testing.assert_array_equal(hybrid[-1].transform(encoded), encoded)  # the decoder's input


@cuda
def test_cuda_training_reloads_on_cpu(digits_split):
    X_train, X_test, y_train, _ = digits_split
    gpu = quick(device="cuda", max_epochs=3).fit(X_train, y_train)
    cpu = quick(device="cpu", max_epochs=3).fit(X_train, y_train)
    np.testing.assert_allclose(gpu.predict_proba(X_test), cpu.predict_proba(X_test), atol=1e-3)
    reloaded = pickle.loads(pickle.dumps(gpu))
    np.testing.assert_allclose(reloaded.predict_proba(X_test), gpu.predict_proba(X_test))


def test_l2_penalty_without_encoding_weights_is_a_clear_error(digits_split):
    X_train, _, y_train, _ = digits_split
    with pytest.raises(ValueError, match="no encoding weights in LinearHead"):
        quick(module=LinearHead, penalty=L2Penalty(), max_epochs=1).fit(X_train, y_train)


def test_pickling_leaves_the_model_intact_and_keeps_penalty_state(digits_split):
    from sklearn_robust.nn import SpectralPenalty

    X_train, X_test, y_train, _ = digits_split
    clf = quick(max_epochs=2, penalty=SpectralPenalty(tau=5)).fit(X_train, y_train)
    expected = clf.predict_proba(X_test)
    reloaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(clf.predict_proba(X_test), expected)  # still usable
    np.testing.assert_array_equal(reloaded.predict_proba(X_test), expected)
    assert reloaded.module_ is reloaded.net_.module_  # one network, mapped by skorch
    assert reloaded.penalty_.eigenvectors_.device.type == "cpu"
    assert reloaded.net_.inputs_ is None  # no training batch travels with the model


def test_values_beyond_float32_are_refused_in_fit_and_predict(digits_split):
    # Cast to float32 they would be inf: NaN probabilities and class-0 predictions.
    X_train, X_test, y_train, _ = digits_split
    huge = X_train[:50].astype(np.float64)
    huge[3, 5] = 1e39
    with pytest.raises(ValueError, match="beyond float32's range"):
        quick(max_epochs=1).fit(huge, y_train[:50])
    clf = quick(max_epochs=1).fit(X_train, y_train)
    huge = X_test[:5].astype(np.float64)
    huge[0, 0] = -1e39
    for method in ("predict", "predict_proba", "predict_log_proba", "decision_function"):
        with pytest.raises(ValueError, match="beyond float32's range"):
            getattr(clf, method)(huge)
    with pytest.raises(ValueError, match="beyond float32's range"):
        clf.transform(huge)
    with pytest.raises(ValueError, match="beyond float32's range"):
        clf.transform(huge, layer=0)
    with pytest.raises(ValueError, match="beyond float32's range"):
        clf.score(huge, np.zeros(5))


def test_feature_names_and_pandas_output(digits_split):
    X_train, X_test, y_train, _ = digits_split
    clf = quick(module__hidden_sizes=(40, 24), max_epochs=2).fit(X_train, y_train)
    expected = clf.transform(X_test)
    names = clf.get_feature_names_out()
    assert len(names) == expected.shape[1] == 24
    assert list(names[:2]) == ["robustnetclassifier0", "robustnetclassifier1"]

    frame = clf.set_output(transform="pandas").transform(X_test)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == list(names)
    np.testing.assert_array_equal(frame.to_numpy(), expected)
    # Another layer's width does not fit the names: a clear error, not a pandas one.
    with pytest.raises(ValueError, match="set_output"):
        clf.transform(X_test, layer=0)
    np.testing.assert_array_equal(clf.transform(X_test, layer=-1), frame)
    clf.set_output(transform="default")
    assert clf.transform(X_test, layer=0).shape == (len(X_test), 40)


def test_pandas_output_in_a_pipeline(digits_split):
    X_train, X_test, y_train, _ = digits_split
    as_arrays = make_pipeline(
        RobustNetClassifier(max_epochs=2, device="cpu", random_state=0), StandardScaler()
    ).fit(X_train, y_train)
    as_frames = make_pipeline(
        RobustNetClassifier(max_epochs=2, device="cpu", random_state=0), StandardScaler()
    ).set_output(transform="pandas")
    frame = as_frames.fit(X_train, y_train).transform(X_test)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == [f"robustnetclassifier{i}" for i in range(frame.shape[1])]
    assert list(as_frames.get_feature_names_out()) == list(frame.columns)
    np.testing.assert_allclose(frame.to_numpy(), as_arrays.transform(X_test), rtol=1e-6)

    # Scaled DataFrame in, DataFrame out: the classifier reads the scaler's columns.
    scaled_first = make_pipeline(
        StandardScaler(), RobustNetClassifier(max_epochs=2, device="cpu", random_state=0)
    ).set_output(transform="pandas")
    hidden = scaled_first.fit(X_train, y_train).transform(X_test)
    assert isinstance(hidden, pd.DataFrame)
    assert hidden.shape[1] == len(scaled_first.get_feature_names_out())


def test_feature_names_need_a_fit_and_a_hidden_output(digits_split):
    X_train, _, y_train, _ = digits_split
    with pytest.raises(NotFittedError):
        quick().get_feature_names_out()
    logits_only = quick(module=LogitsOnlyNet, max_epochs=1).fit(X_train, y_train)
    with pytest.raises(ValueError, match="returns only logits"):
        logits_only.get_feature_names_out()


@pytest.mark.parametrize(
    "check",
    [
        check_set_output_transform,
        check_set_output_transform_pandas,
        check_global_output_transform_pandas,
        check_get_feature_names_out_error,
    ],
)
def test_scikit_learn_set_output_checks(check):
    """scikit-learn's set_output checks, which parametrize_with_checks does not run."""
    estimator = RobustNetClassifier(max_epochs=2, random_state=0, device="cpu")
    check(type(estimator).__name__, estimator)


# ---------------------------------------------- weights, warm starts, partial_fit


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(60, n_features=4, centers=3, cluster_std=2.0, random_state=0)
    return X, y


def full_batch(**params):
    """Every epoch one batch of all the rows: weighting and repeating are the same loss."""
    return quick(batch_size=1000, module__hidden_sizes=(16,), **params)


def test_integer_weights_equal_repeated_rows_with_full_batches(blobs):
    X, y = blobs
    weights = np.random.default_rng(0).integers(0, 4, size=len(y))
    weighted = full_batch(max_epochs=1).fit(X, y, sample_weight=weights)
    repeated = full_batch(max_epochs=1).fit(np.repeat(X, weights, 0), np.repeat(y, weights))
    # The loss of the first step: the weighted mean is the mean over the repeated rows.
    first = weighted.history_[0, "train_loss"]
    assert first == pytest.approx(repeated.history_[0, "train_loss"], rel=1e-6)
    plain = full_batch(max_epochs=1).fit(X, y).history_[0, "train_loss"]
    assert first != pytest.approx(plain, rel=1e-3)  # the weights do count
    # ... and so the model after many steps (same seed, same initialisation).
    weighted = full_batch(max_epochs=30).fit(X, y, sample_weight=weights)
    repeated = full_batch(max_epochs=30).fit(np.repeat(X, weights, 0), np.repeat(y, weights))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), atol=1e-5)


def test_unit_weights_are_no_weights(blobs):
    X, y = blobs
    ones = quick(max_epochs=3, batch_size=16).fit(X, y, sample_weight=np.ones(len(y)))
    none = quick(max_epochs=3, batch_size=16).fit(X, y)
    np.testing.assert_array_equal(ones.predict_proba(X), none.predict_proba(X))


def test_weights_in_minibatches_approximate_repetition(digits_split):
    """With shuffled minibatches repetition holds in expectation: the models agree closely."""
    X_train, X_test, y_train, _ = digits_split
    weights = np.where(y_train < 5, 3, 1)
    weighted = quick(max_epochs=10).fit(X_train, y_train, sample_weight=weights)
    repeated = quick(max_epochs=10).fit(np.repeat(X_train, weights, 0), np.repeat(y_train, weights))
    agreement = np.mean(weighted.predict(X_test) == repeated.predict(X_test))
    assert agreement > 0.9


def test_class_weight_is_sample_weight_by_class(blobs):
    X, y = blobs
    y = y[:45]  # unbalanced: 3 classes of unequal size
    X = X[:45]
    balanced = quick(max_epochs=3, class_weight="balanced").fit(X, y)
    by_hand = quick(max_epochs=3).fit(X, y, sample_weight=compute_sample_weight("balanced", y))
    np.testing.assert_array_equal(balanced.predict_proba(X), by_hand.predict_proba(X))

    sample_weight = np.random.default_rng(1).uniform(0.5, 2, size=len(y))
    as_dict = quick(max_epochs=3, class_weight={0: 3.0, 2: 0.5})
    as_dict.fit(X, y, sample_weight=sample_weight)  # class 1 weighs 1
    combined = sample_weight * np.select([y == 0, y == 2], [3.0, 0.5], 1.0)
    by_hand = quick(max_epochs=3).fit(X, y, sample_weight=combined)
    np.testing.assert_allclose(as_dict.predict_proba(X), by_hand.predict_proba(X), rtol=1e-6)
    plain = quick(max_epochs=3).fit(X, y)
    assert not np.allclose(as_dict.predict_proba(X), plain.predict_proba(X))


@pytest.mark.parametrize(
    "sample_weight, params, message",
    [
        (-np.ones(60), {}, "Negative values"),
        (np.ones(59), {}, r"sample_weight.shape == \(59,\)"),
        (np.ones((60, 2)), {}, "1D array"),
        (np.r_[np.nan, np.ones(59)], {}, "NaN"),
        (np.zeros(60), {}, "at least one non-zero"),
        (None, {"class_weight": {0: 0, 1: 0, 2: 0}}, "at least one non-zero"),
        (None, {"class_weight": {0: -1.0}}, "class_weight must not be negative"),
        (None, {"class_weight": "even"}, "'class_weight' parameter"),
        ("first class", {}, r"1 class \(0\) among its samples of positive weight"),
    ],
)
def test_bad_weights_are_refused_before_training(
    sample_weight, params, message, blobs, monkeypatch
):
    X, y = blobs
    if isinstance(sample_weight, str):
        sample_weight = (y == 0).astype(float)

    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr("sklearn_robust.nn.classifier.PenalizedNet.fit", no_training)
    with pytest.raises(ValueError, match=message):
        quick(**params).fit(X, y, sample_weight=sample_weight)


def test_weighted_early_stopping(blobs):
    X, y = blobs
    weights = np.where(y == 0, 5.0, 1.0)
    clf = quick(early_stopping=True, max_epochs=200, lr=1e-2, validation_fraction=0.3)
    clf.fit(X, y, sample_weight=weights)
    assert clf.n_iter_ < 200 and np.isfinite(clf.history_[-1, "valid_loss"])


def test_warm_start_continues_training(digits_split):
    X_train, X_test, y_train, _ = digits_split
    warm = quick(max_epochs=2, warm_start=True).fit(X_train, y_train)
    first = warm.predict_proba(X_test)
    module, optimizer = warm.module_, warm.net_.optimizer_
    warm.fit(X_train, y_train)
    assert warm.n_iter_ == 4 and len(warm.history_) == 4
    assert warm.module_ is module and warm.net_.optimizer_ is optimizer  # trained on
    assert not np.allclose(warm.predict_proba(X_test), first)
    # Two warm fits of 2 epochs are one fit of 4: module, Adam's moments and shuffles go on.
    np.testing.assert_array_equal(
        warm.predict_proba(X_test), quick(max_epochs=4).fit(X_train, y_train).predict_proba(X_test)
    )
    cold = quick(max_epochs=2).fit(X_train, y_train)
    cold.fit(X_train, y_train)  # without warm start: afresh
    assert cold.n_iter_ == 2
    np.testing.assert_array_equal(cold.predict_proba(X_test), first)


def test_warm_start_refuses_other_classes_and_features(digits_split):
    X_train, X_test, y_train, _ = digits_split
    warm = quick(max_epochs=1, warm_start=True).fit(X_train, y_train)
    expected = warm.predict_proba(X_test)
    keep = y_train < 5
    with pytest.raises(ValueError, match="warm_start continues training on the classes"):
        warm.fit(X_train[keep], y_train[keep])
    with pytest.raises(ValueError, match="64 features"):
        warm.fit(X_train[:, :10], y_train)
    assert warm.n_iter_ == 1
    np.testing.assert_array_equal(warm.predict_proba(X_test), expected)
    # Without warm start the classifier is free to learn other classes.
    warm.set_params(warm_start=False).fit(X_train[keep], y_train[keep])
    assert list(warm.classes_) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("penalty", [None, L2Penalty(1e-3)])
def test_partial_fit_twice_is_fit_for_two_epochs(penalty, digits_split):
    X_train, X_test, y_train, _ = digits_split
    params = {"penalty": penalty, "module__hidden_sizes": (32,)}
    fitted = quick(max_epochs=2, **params).fit(X_train, y_train)
    stepped = quick(**params)
    stepped.partial_fit(X_train, y_train, classes=np.unique(y_train))
    assert stepped.n_iter_ == 1
    stepped.partial_fit(X_train, y_train)
    assert stepped.n_iter_ == 2 and len(stepped.history_) == 2
    np.testing.assert_array_equal(stepped.predict_proba(X_test), fitted.predict_proba(X_test))
    for a, b in zip(stepped.module_.parameters(), fitted.module_.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_partial_fit_leaves_global_torch_rng_alone(digits_split):
    X_train, _, y_train, _ = digits_split
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    quick().partial_fit(X_train, y_train, classes=np.arange(10)).partial_fit(X_train, y_train)
    torch.testing.assert_close(torch.rand(3), expected)


def test_partial_fit_with_weights_and_chunks(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    weights = np.where(y_train == 3, 2.0, 1.0)
    clf = quick()
    for _ in range(8):
        for part in np.array_split(np.arange(len(y_train)), 3):
            clf.partial_fit(
                X_train[part], y_train[part], classes=np.arange(10), sample_weight=weights[part]
            )
    assert clf.n_iter_ == 24
    assert clf.score(X_test, y_test) > 0.9
    # A chunk may hold one class, as long as the classes were given.
    clf.partial_fit(X_train[y_train == 3], y_train[y_train == 3])
    assert clf.n_iter_ == 25


def test_partial_fit_continues_a_fit_without_early_stopping(digits_split):
    X_train, _, y_train, _ = digits_split
    clf = quick(early_stopping=True, max_epochs=3).fit(X_train, y_train)
    assert "valid_loss" in clf.history_[-1]
    clf.partial_fit(X_train, y_train)
    assert clf.n_iter_ == 4 and "valid_loss" not in clf.history_[-1]
    assert clf.net_.train_split is not None  # a later warm start validates again


def test_partial_fit_errors(digits_split):
    X_train, _, y_train, _ = digits_split
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        quick().partial_fit(X_train, y_train)
    with pytest.raises(ValueError, match=r"labels the estimator does not know: \[9\]"):
        quick().partial_fit(X_train, y_train, classes=np.arange(9))
    with pytest.raises(ValueError, match=r"classes holds 1 class \(0\)"):
        quick().partial_fit(X_train, y_train, classes=[0])
    with pytest.raises(ValueError, match='class_weight="balanced" needs the class counts'):
        quick(class_weight="balanced").partial_fit(X_train, y_train, classes=np.arange(10))
    clf = quick().partial_fit(X_train, y_train, classes=np.arange(10))
    with pytest.raises(ValueError, match="64 features"):
        clf.partial_fit(X_train[:, :10], y_train)
    with pytest.raises(ValueError, match="is not the same as on last call"):
        clf.partial_fit(X_train, y_train, classes=np.arange(11))
    assert clf.n_iter_ == 1


class FailOnce(Callback):
    """Raises at the end of an epoch while ``armed``."""

    armed = False

    def on_epoch_end(self, net, **kwargs):
        if FailOnce.armed:
            FailOnce.armed = False
            raise RuntimeError("failed in epoch")


def test_failed_partial_fit_leaves_the_previous_state(digits_split):
    X_train, X_test, y_train, _ = digits_split
    clf = quick(callbacks=[FailOnce()]).partial_fit(X_train, y_train, classes=np.arange(10))
    expected = clf.predict_proba(X_test)
    FailOnce.armed = True
    with pytest.raises(RuntimeError, match="failed in epoch"):
        clf.partial_fit(X_train, y_train)
    assert clf.n_iter_ == 1 and len(clf.history_) == 1
    np.testing.assert_array_equal(clf.predict_proba(X_test), expected)
    # The module, the optimizer and the random stream are those before the failed call.
    clf.partial_fit(X_train, y_train)
    reference = quick(max_epochs=2).fit(X_train, y_train)
    np.testing.assert_array_equal(clf.predict_proba(X_test), reference.predict_proba(X_test))


def test_partial_fit_pickles_and_resumes(digits_split):
    X_train, X_test, y_train, _ = digits_split
    clf = quick().partial_fit(X_train, y_train, classes=np.arange(10))
    reloaded = pickle.loads(pickle.dumps(clf))
    reloaded.partial_fit(X_train, y_train)
    reference = quick(max_epochs=2).fit(X_train, y_train)
    np.testing.assert_array_equal(reloaded.predict_proba(X_test), reference.predict_proba(X_test))


def test_adaboost_of_networks(blobs):
    """AdaBoost passes sample_weight: later networks fit the rows earlier ones got wrong."""
    X, y = blobs
    base = quick(max_epochs=10, module__hidden_sizes=(8,), batch_size=32)  # a weak learner
    boosted = AdaBoostClassifier(base, n_estimators=3, random_state=0).fit(X, y)
    assert len(boosted.estimators_) == 3
    assert all(isinstance(e, RobustNetClassifier) for e in boosted.estimators_)
    assert boosted.score(X, y) > clone(base).fit(X, y).score(X, y) + 0.1


@pytest.mark.parametrize("penalty", [None, SpectralPenalty(1e-3)], ids=["none", "spectral"])
def test_a_fitted_classifier_keeps_no_copy_of_its_training_data(penalty):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 64)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    clf = RobustNetClassifier(
        penalty=penalty, module__hidden_sizes=(16,), max_epochs=2, random_state=0, device="cpu"
    ).fit(X, y)
    assert len(pickle.dumps(clf)) < X.nbytes / 4  # the weights, not the data
    assert dict(clf.net_.callbacks_)["penalty_epoch_hook"].X_ is None


def test_a_read_only_training_set_trains_quietly():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    X.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RobustNetClassifier(max_epochs=1, random_state=0, device="cpu").fit(X, y)
    assert not X.flags.writeable  # the caller's array is left as it was
