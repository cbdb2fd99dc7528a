"""Tests for sklearn_robust.nn._training: Ctrl-C stops a fit instead of being swallowed."""

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback

from sklearn_robust import RobustNetClassifier
from sklearn_robust.nn import MLP, StackedLILClassifier, lil
from sklearn_robust.nn._training import PenalizedNet

TRAIN_ENDS = []  # module-level: the classifier may copy its callbacks


class InterruptAtEpoch(Callback):
    """Raises KeyboardInterrupt at the end of an epoch, as Ctrl-C would; records the end."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise KeyboardInterrupt

    def on_train_end(self, net, **kwargs):
        TRAIN_ENDS.append(len(net.history))


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.random((80, 5)).astype(np.float32)
    return X, (X[:, 0] > 0.5).astype(int)


def test_robust_net_classifier_fit_raises_the_interrupt(data):
    X, y = data
    clf = RobustNetClassifier(
        max_epochs=5, callbacks=[InterruptAtEpoch(2)], device="cpu", random_state=0
    )
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    assert TRAIN_ENDS[-1:] == [2]  # skorch's own handling ran, after epoch 2
    with pytest.raises(NotFittedError):
        check_is_fitted(clf)  # not a half-trained model that looks complete
    clf.set_params(callbacks=None).fit(X, y)  # and it trains normally afterwards
    check_is_fitted(clf)


def test_stacked_lil_fit_raises_the_interrupt(data, monkeypatch):
    X, y = data
    Y = np.column_stack([y, np.arange(len(y)) % 2])
    original = lil._StackedLILNet.get_loss
    calls = []

    def interrupting(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(lil._StackedLILNet, "get_loss", interrupting)
    clf = StackedLILClassifier(max_epochs=5, device="cpu", random_state=0)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, Y)
    assert len(calls) == 3  # training stopped at the interrupt
    with pytest.raises(NotFittedError):
        check_is_fitted(clf)


def test_an_uninterrupted_net_returns_normally(data):
    X, y = data
    net = PenalizedNet(
        MLP,
        module__n_features=5,
        module__n_classes=2,
        criterion=torch.nn.CrossEntropyLoss,
        max_epochs=2,
        train_split=None,
        verbose=0,
    )
    assert net.partial_fit(X, y.astype(np.int64)) is net
    assert len(net.history) == 2
