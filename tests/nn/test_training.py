"""Tests for sklearn_robust.nn._training: Ctrl-C stops a fit instead of being swallowed."""

import os
import signal
import time

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback

from sklearn_robust import RobustNetClassifier
from sklearn_robust.nn import MLP, StackedLILClassifier, lil
from sklearn_robust.nn._training import PenalizedNet, sigint_noted

TRAIN_ENDS = []  # module-level: the classifier may copy its callbacks


class CtrlCAtEpoch(Callback):
    """Sends this process SIGINT at the end of an epoch, as Ctrl-C in a terminal does."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)  # the handler runs here

    def on_train_end(self, net, **kwargs):
        TRAIN_ENDS.append(len(net.history))


class StopAtEpoch(Callback):
    """Stops training the way skorch's callbacks do (EarlyStopping): KeyboardInterrupt."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise KeyboardInterrupt


class InterruptInBatch(Callback):
    """KeyboardInterrupt in the middle of an epoch, not from an epoch's end."""

    def on_batch_end(self, net, **kwargs):
        if len(net.history) == 2:
            raise KeyboardInterrupt


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.random((80, 5)).astype(np.float32)
    return X, (X[:, 0] > 0.5).astype(int)


@pytest.fixture
def sigint_raises():
    """SIGINT handled as in an interactive Python, even where it was inherited as ignored
    (a background job of a non-interactive shell ignores it)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_robust_net_classifier_fit_raises_the_interrupt(data, sigint_raises):
    X, y = data
    clf = RobustNetClassifier(
        max_epochs=5, callbacks=[CtrlCAtEpoch(2)], device="cpu", random_state=0
    )
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    assert TRAIN_ENDS[-1:] == [2]  # skorch's own handling ran, after epoch 2
    with pytest.raises(NotFittedError):
        check_is_fitted(clf)  # not a half-trained model that looks complete
    clf.set_params(callbacks=None).fit(X, y)  # and it trains normally afterwards
    check_is_fitted(clf)


def test_a_keyboard_interrupt_inside_an_epoch_is_raised(data):
    X, y = data
    clf = RobustNetClassifier(
        max_epochs=5, callbacks=[InterruptInBatch()], device="cpu", random_state=0
    )
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)


def test_a_callback_that_stops_training_ends_the_fit_normally(data):
    X, y = data
    clf = RobustNetClassifier(
        max_epochs=5, callbacks=[StopAtEpoch(2)], device="cpu", random_state=0
    ).fit(X, y)
    assert clf.n_iter_ == 2
    early = RobustNetClassifier(
        max_epochs=200, early_stopping=True, n_iter_no_change=2, lr=0.1, random_state=0
    ).fit(X, y)
    assert early.n_iter_ < 200


def test_sigint_handler_is_restored():
    before = signal.getsignal(signal.SIGINT)
    with sigint_noted() as received:
        assert signal.getsignal(signal.SIGINT) is not before
    assert received == [] and signal.getsignal(signal.SIGINT) is before


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


def test_an_interrupted_refit_keeps_the_previous_model(data):
    X, y = data
    clf = RobustNetClassifier(max_epochs=3, device="cpu", random_state=0).fit(X, y)
    before = clf.predict_proba(X)
    clf.set_params(callbacks=[InterruptInBatch()], random_state=1)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), before)
    assert clf.n_iter_ == 3
