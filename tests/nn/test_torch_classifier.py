"""Tests for sklearn_robust.nn.torch_classifier (TorchClassifier)."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline

from sklearn_robust import LayerActivations
from sklearn_robust.bridge import as_torch
from sklearn_robust.nn import ResNet, RobustNetClassifier, TorchClassifier
from sklearn_robust.robustness import critical_distance, pgd, robust_accuracy_scorer

from .test_conv import bright_channel_images


class ImagesOnly(torch.nn.Module):
    """A user's network that takes images (n, C, H, W), as torchvision models do."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        assert x.ndim == 4, "this network takes images"
        return self.net(x)[0]  # logits alone


@pytest.fixture(scope="module")
def trained():
    X, y = bright_channel_images()
    clf = RobustNetClassifier(
        ResNet, module__input_shape=(3, 8, 8), module__blocks=(1, 1), module__widths=(4, 8),
        max_epochs=8, lr=1e-2, random_state=0, device="cpu",
    ).fit(X, y)  # fmt: skip
    return X, y, clf


@pytest.fixture
def wrapped(trained):
    X, y, clf = trained
    frozen = TorchClassifier(ImagesOnly(clf.module_), classes=clf.classes_, input_shape=(3, 8, 8))
    return X, y, clf, frozen


def test_predictions_are_the_modules_argmax(wrapped):
    X, _, clf, frozen = wrapped
    with torch.no_grad():
        logits = clf.module_.eval()(torch.tensor(X))[0].numpy()
    np.testing.assert_array_equal(frozen.predict(X), clf.classes_[logits.argmax(1)])
    np.testing.assert_allclose(frozen.decision_function(X), logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        frozen.predict_proba(X), torch.softmax(torch.tensor(logits), 1).numpy(), atol=1e-6
    )


def test_usable_without_fit_and_fit_trains_nothing(wrapped):
    X, y, clf, frozen = wrapped
    before = {k: v.clone() for k, v in frozen.module.state_dict().items()}
    assert frozen.score(X, y) == clf.score(X, y)  # fitted from the start
    assert frozen.fit(X, y) is frozen and frozen.n_features_in_ == X.shape[1]
    after = frozen.module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_survives_clone_pickle_and_cross_validation(wrapped):
    X, y, clf, frozen = wrapped
    expected = frozen.predict(X)
    np.testing.assert_array_equal(clone(frozen).predict(X), expected)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(frozen)).predict(X), expected)
    folds = [(np.arange(90) % 3 != k, np.arange(90) % 3 == k) for k in range(3)]
    by_hand = [clf.score(X[test], y[test]) for _, test in folds]
    np.testing.assert_array_equal(cross_val_score(frozen, X, y, cv=folds), by_hand)


def test_binary_decision_function_is_the_logit_difference():
    net = torch.nn.Linear(3, 2)
    frozen = TorchClassifier(net, classes=["no", "yes"])
    X = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    with torch.no_grad():
        logits = net(torch.tensor(X)).numpy()
    np.testing.assert_allclose(frozen.decision_function(X), logits[:, 1] - logits[:, 0], rtol=1e-5)


def test_bridge_and_attacks_agree_with_the_trained_classifier(wrapped):
    X, y, clf, frozen = wrapped
    x = torch.tensor(X)
    torch.testing.assert_close(as_torch(frozen)(x), as_torch(clf)(x))
    attack = {"eps": 0.5, "norm": "l2", "random_state": 0}
    np.testing.assert_allclose(pgd(frozen, X, y, **attack), pgd(clf, X, y, **attack), atol=1e-6)
    np.testing.assert_allclose(
        critical_distance(frozen, X[:20], y[:20], attack="fgsm", norm="l2", max_eps=4.0),
        critical_distance(clf, X[:20], y[:20], attack="fgsm", norm="l2", max_eps=4.0),
    )
    scorer = robust_accuracy_scorer("fgsm", eps=0.1, norm="l2")
    assert scorer(frozen, X, y) == scorer(clf, X, y)


def test_layers_are_probed_under_their_own_names(wrapped):
    X, _, clf, frozen = wrapped
    from_frozen = LayerActivations(frozen, "net.layer2", pooling="gap").fit_transform(X)
    from_clf = LayerActivations(clf, "layer2", pooling="gap").fit_transform(X)
    np.testing.assert_allclose(from_frozen, from_clf, atol=1e-6)
    probe = make_pipeline(
        LayerActivations(frozen, "net.layer2", pooling="gap"), LogisticRegression()
    )
    assert cross_val_score(probe, X, X.reshape(len(X), 3, -1).mean(2).argmax(1), cv=3).mean() > 0.5


def test_hidden_output(trained, wrapped):
    X, _, clf, frozen = wrapped
    with_hidden = TorchClassifier(clf.module_, classes=clf.classes_).fit(X)
    hidden = with_hidden.to_torch_module("hidden")(torch.tensor(X))
    np.testing.assert_allclose(hidden.detach().numpy(), clf.transform(X), atol=1e-6)
    with pytest.raises(TypeError, match="returns logits alone"):
        frozen.fit(X).to_torch_module("hidden")


@pytest.mark.parametrize(
    ("kwargs", "fit_args", "match"),
    [
        ({"classes": [0, 1, 2, 3]}, (), "shape \\(2, 3\\), but classes has 4 labels"),
        ({"input_shape": (3, 4, 4)}, (), "holds 48 values per sample, but X has 192"),
        ({"input_shape": None}, (), "cannot take samples of shape \\(192,\\)"),
        ({}, ([5] * 90,), "labels \\[5\\] that are not in classes"),
        ({"classes": [0, 0, 1]}, (), "at least 2 distinct labels"),
    ],
)
def test_bad_inputs_fail_at_fit_with_one_message(wrapped, kwargs, fit_args, match):
    X, y, clf, _ = wrapped
    params = {"classes": clf.classes_, "input_shape": (3, 8, 8), **kwargs}
    frozen = TorchClassifier(ImagesOnly(clf.module_), **params)
    with pytest.raises(ValueError, match=match):
        frozen.fit(X, *(fit_args or (y,)))


def test_module_on_another_device_is_refused():
    module = torch.nn.Linear(3, 2, device="meta")
    with pytest.raises(ValueError, match="the module is on meta"):
        TorchClassifier(module, classes=[0, 1], device="cpu").fit(np.zeros((2, 3)))


def test_a_bare_module_is_refused_with_the_way_out():
    X, y = bright_channel_images(n_samples=9)
    with pytest.raises(TypeError, match="TorchClassifier\\(module, classes="):
        pgd(torch.nn.Linear(192, 3), X, y, eps=0.1)
    with pytest.raises(TypeError, match="TorchClassifier"):
        as_torch(torch.nn.Linear(192, 3))


def test_certification_and_landscapes_agree_with_the_trained_classifier(wrapped):
    from sklearn_robust.robustness import certify, decision_landscape, jacobian_norm_map

    X, _, clf, frozen = wrapped
    draws = {"sigma": 0.1, "n0": 20, "n": 100, "random_state": 0}
    for a, b in zip(certify(frozen, X[:5], **draws), certify(clf, X[:5], **draws), strict=True):
        np.testing.assert_array_equal(a, b)
    plane = {"x": X[0], "extent": 1.0, "resolution": 5, "random_state": 0}
    np.testing.assert_array_equal(
        decision_landscape(frozen, **plane).labels, decision_landscape(clf, **plane).labels
    )
    np.testing.assert_allclose(
        jacobian_norm_map(frozen, output="decision", **plane).norms,
        jacobian_norm_map(clf, output="decision", **plane).norms,
        rtol=1e-5,
    )
