"""The skorch net inside the classifiers: cross-entropy plus penalties, seeded, on a device."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Mapping

import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.dataset import unpack_data
from skorch.utils import to_tensor

from .._torch import eval_mode, forward_in_chunks
from .modules import OutputOf, split_output
from .penalties import Penalty, PenaltyBatch

__all__ = [
    "InterruptibleNet",
    "PenalizedNet",
    "PenaltyEpochHook",
    "forward_batches",
    "seeded",
    "skorch_device",
    "split_weights",
    "without_validation",
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

    Sample weights travel the way skorch's documentation shows: ``X`` is the
    dict ``{"X": inputs, "sample_weight": weights}``, split into minibatches
    along with the targets. The cross-entropy of a batch is then the weighted
    mean ``sum(w_i * ce_i) / sum(w_i)`` (0 for a batch whose weights are all
    0), for training and validation batches alike; the module, the
    augmentation and the penalty see the inputs alone, and the penalty is not
    weighted. The criterion must return per-sample losses
    (``criterion__reduction="none"``, the default here).
    """

    def __init__(self, *args, penalty=None, augmentation=None, **kwargs):
        # Set before skorch's __init__: afterwards skorch refuses torch modules as attributes.
        self.augmentation = augmentation
        kwargs.setdefault("criterion__reduction", "none")
        super().__init__(*args, **kwargs)
        self.penalty = penalty

    def infer(self, x, **fit_params):
        x, _ = split_weights(x)
        x = to_tensor(x, device=self.device)
        if self.module_.training and getattr(self.penalty, "needs_input_grad", False):
            x = x.detach().requires_grad_(True)
        self.inputs_ = x  # the penalty needs the tensor the graph starts from
        return self.module_(x, **fit_params)

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        inputs, weights = split_weights(Xi)
        if self.augmentation is not None:  # training batches only, never validation
            inputs = self.augmentation(to_tensor(inputs, device=self.device))
        y_pred = self.infer(inputs, **fit_params)
        X = inputs if weights is None else {"X": inputs, "sample_weight": weights}
        loss = self.get_loss(y_pred, yi, X=X, training=True)
        # Only the parameters need gradients: when a Jacobian penalty makes the inputs
        # require one, a plain backward() would also pay for d loss / d inputs.
        loss.backward(inputs=[p for p in self.module_.parameters() if p.requires_grad] or None)
        return {"loss": loss, "y_pred": y_pred}

    def get_loss(self, y_pred, y_true, X=None, training=False):
        logits, hidden = split_output(y_pred)
        y_true = to_tensor(y_true, device=self.device)
        losses = self.criterion_(logits, y_true)
        _, weights = split_weights(X)
        if weights is None:
            loss = losses.mean()
        else:
            weights = to_tensor(weights, device=self.device).to(losses.dtype)
            total = weights.sum()  # a batch of zero weights contributes 0, not 0 / 0
            loss = (weights * losses).sum() / torch.where(total > 0, total, torch.ones_like(total))
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


def split_weights(X):
    """``(inputs, sample_weight)`` of a batch given as ``{"X": ..., "sample_weight": ...}``.

    Any other ``X`` is the inputs alone, with no weights (``None``).
    """
    if isinstance(X, Mapping):
        return X["X"], X.get("sample_weight")
    return X, None


@contextlib.contextmanager
def without_validation(net):
    """Train ``net`` in the block without its validation split and early stopping.

    For ``partial_fit``, which neither holds out data nor stops early; the
    net's ``train_split`` and its ``"early_stopping"`` callback are put back after.
    """
    split, callbacks = net.train_split, net.callbacks_
    net.train_split = None
    net.callbacks_ = [(name, cb) for name, cb in callbacks if name != "early_stopping"]
    try:
        yield net
    finally:
        net.train_split, net.callbacks_ = split, callbacks


class PenaltyEpochHook(Callback):
    """Calls ``penalty.on_epoch_begin(hidden_of, X)`` before every epoch.

    ``X`` is the training input of the current fit as one tensor on the net's
    device, and ``hidden_of`` maps such a tensor to the module's hidden
    representation (eval mode, no gradients), so a penalty can look at the
    whole training set (the spectral penalty recomputes its eigenvectors this
    way). The tensor is made only for a penalty that uses the hook and is held
    only while the net trains: a fitted classifier does not keep (or pickle) a
    copy of its training data.
    """

    def initialize(self):
        self.X_ = None
        return self

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.X_ = None
        penalty = net.penalty
        if penalty is not None and type(penalty).on_epoch_begin is not Penalty.on_epoch_begin:
            inputs = X["X"] if isinstance(X, dict) else X  # with sample weights, a dict
            self.X_ = to_tensor(inputs, device=net.device)

    def on_epoch_begin(self, net, **kwargs):
        if self.X_ is None:
            return

        def hidden_of(X):
            return forward_batches(net.module_, X, output="hidden")

        net.penalty.on_epoch_begin(hidden_of, self.X_)

    def on_train_end(self, net, **kwargs):
        self.X_ = None


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
def seeded(seed: int | None, device: torch.device, state=None):
    """Seed torch's global generators for the block, restoring them afterwards.

    skorch draws module initialisation and minibatch order from the global
    generator, so seeding it (inside ``fork_rng``, to leave the caller's state
    alone) makes a fit with the same ``random_state`` reproducible.

    The block gets a dict; when it ends without an error, the dict's
    ``"state"`` holds the generators' state as the block left it. Passed back
    as ``state``, it resumes that stream instead of seeding (``seed`` is then
    not used; a CUDA generator the state does not hold, as after a fit on the
    CPU, is seeded with the CPU stream's initial seed), so that training split
    over several calls draws the same numbers as one call would.
    """
    cuda = device.type == "cuda"
    index = device.index or 0
    with torch.random.fork_rng(devices=[index] if cuda else []):
        if state is None:
            torch.manual_seed(seed)
        else:
            torch.random.set_rng_state(state["cpu"])
            if cuda:
                if "cuda" in state:
                    torch.cuda.set_rng_state(state["cuda"], index)
                else:
                    torch.cuda.manual_seed(torch.random.initial_seed())
        stream = {}
        yield stream
        stream["state"] = {"cpu": torch.random.get_rng_state()}
        if cuda:
            stream["state"]["cuda"] = torch.cuda.get_rng_state(index)


def skorch_device(device: torch.device) -> str:
    """The device string skorch expects ("cpu", "cuda" or "cuda:1")."""
    return device.type if device.index is None else str(device)
