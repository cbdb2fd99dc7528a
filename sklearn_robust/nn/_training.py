"""The skorch net inside the classifiers: cross-entropy plus penalties, seeded, on a device."""

from __future__ import annotations

import contextlib
import signal
import threading

import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.dataset import unpack_data
from skorch.utils import to_tensor

from .._torch import eval_mode, forward_in_chunks
from .modules import OutputOf, split_output
from .penalties import PenaltyBatch

__all__ = [
    "InterruptibleNet",
    "PenalizedNet",
    "PenaltyEpochHook",
    "forward_batches",
    "seeded",
    "skorch_device",
]

# Rows per forward pass outside training: bounds memory for large X.
PREDICT_BATCH = 4096


class InterruptibleNet(NeuralNet):
    """A skorch ``NeuralNet`` that lets Ctrl-C stop ``fit``.

    skorch catches ``KeyboardInterrupt`` in ``partial_fit`` and returns normally,
    because its callbacks stop training by raising it at the end of an epoch
    (``EarlyStopping`` does). A user's Ctrl-C would then look like a complete fit
    of a half-trained module. Here skorch's own handling (``on_train_end``) still
    runs, and then the interrupt is raised again, unless a callback's
    ``on_epoch_end`` raised it and no SIGINT arrived during the fit.
    """

    def notify(self, method_name, **cb_kwargs):
        try:
            super().notify(method_name, **cb_kwargs)
        except KeyboardInterrupt:
            self._stopped_by_callback = method_name == "on_epoch_end"
            raise

    def fit_loop(self, X, y=None, **fit_params):
        try:
            return super().fit_loop(X, y, **fit_params)
        except KeyboardInterrupt as exc:
            self._interrupt = exc
            raise

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        self._interrupt, self._stopped_by_callback = None, False
        with sigint_noted() as sigint:
            super().partial_fit(X, y, classes, **fit_params)
        interrupt, self._interrupt = self._interrupt, None
        if interrupt is not None and (sigint or not self._stopped_by_callback):
            raise interrupt
        return self


@contextlib.contextmanager
def sigint_noted():
    """Yield a list that gets an entry when SIGINT (Ctrl-C) arrives in the block.

    The signal is handled as before (the previous handler is called, or
    ``KeyboardInterrupt`` raised); outside the main thread, where Python delivers
    no signals, nothing is installed.
    """
    received = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = signal.getsignal(signal.SIGINT)

    def note(signum, frame):
        received.append(signum)
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, note)
    try:
        yield received
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


class PenalizedNet(InterruptibleNet):
    """A skorch ``NeuralNet`` whose loss is cross-entropy on the logits plus a penalty.

    The module returns logits or ``(logits, hidden)``. During training the
    penalty (if any) sees the minibatch inputs (with gradients when it needs
    them), the hidden representation, the logits and the targets; its value is
    recorded in the history as ``penalty`` for every batch. ``augmentation``, a
    callable on a batch tensor, transforms training batches (not validation
    ones) before the forward pass. Validation loss is
    the cross-entropy alone, so that it compares across penalties.
    """

    def __init__(self, *args, penalty=None, augmentation=None, **kwargs):
        # Set before skorch's __init__: afterwards skorch refuses torch modules as attributes.
        self.augmentation = augmentation
        super().__init__(*args, **kwargs)
        self.penalty = penalty

    def infer(self, x, **fit_params):
        x = to_tensor(x, device=self.device)
        if self.module_.training and getattr(self.penalty, "needs_input_grad", False):
            x = x.detach().requires_grad_(True)
        self.inputs_ = x  # the penalty needs the tensor the graph starts from
        return self.module_(x, **fit_params)

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        if self.augmentation is not None:  # training batches only, never validation
            Xi = self.augmentation(to_tensor(Xi, device=self.device))
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        # Only the parameters need gradients: when a Jacobian penalty makes the inputs
        # require one, a plain backward() would also pay for d loss / d inputs.
        loss.backward(inputs=[p for p in self.module_.parameters() if p.requires_grad] or None)
        return {"loss": loss, "y_pred": y_pred}

    def get_loss(self, y_pred, y_true, X=None, training=False):
        logits, hidden = split_output(y_pred)
        y_true = to_tensor(y_true, device=self.device)
        loss = self.criterion_(logits, y_true)
        if training and self.penalty is not None:
            batch = PenaltyBatch(
                inputs=self.inputs_,
                hidden=hidden.flatten(1),
                logits=logits,
                targets=y_true,
                module=self.module_,
            )
            term = self.penalty(batch)
            self.history.record_batch("penalty", float(term.detach()))
            loss = loss + term
        self.inputs_ = None  # not kept past the step (nor pickled)
        return loss


class PenaltyEpochHook(Callback):
    """Calls ``penalty.on_epoch_begin(hidden_of, X)`` before every epoch.

    ``X`` is the training input as one tensor on the net's device, and
    ``hidden_of`` maps such a tensor to the module's hidden representation
    (eval mode, no gradients), so a penalty can look at the whole training set
    (the spectral penalty recomputes its eigenvectors this way).
    """

    def __init__(self, X):
        self.X = X

    def on_epoch_begin(self, net, **kwargs):
        if net.penalty is None:
            return

        def hidden_of(X):
            return forward_batches(net.module_, X, output="hidden")

        net.penalty.on_epoch_begin(hidden_of, self.X)


@torch.no_grad()
def forward_batches(module, X, output="decision"):
    """Run ``module`` on the tensor X in chunks, in eval mode; restore its modes after.

    ``output`` is ``"decision"`` (the logits) or ``"hidden"`` (the second
    element of a ``(logits, hidden)`` output, flattened per example), as in
    :class:`~sklearn_robust.bridge.TorchModuleProvider`.
    """
    selected = OutputOf(module, index=0 if output == "decision" else 1)
    with eval_mode(module):
        return forward_in_chunks(lambda rows: selected(rows).flatten(1), X, PREDICT_BATCH)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device):
    """Seed torch's global generators for the block, restoring them afterwards.

    skorch draws module initialisation and minibatch order from the global
    generator, so seeding it (inside ``fork_rng``, to leave the caller's state
    alone) makes a fit with the same ``random_state`` reproducible.
    """
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def skorch_device(device: torch.device) -> str:
    """The device string skorch expects ("cpu", "cuda" or "cuda:1")."""
    return device.type if device.index is None else str(device)
