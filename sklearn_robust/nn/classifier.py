"""RobustNetClassifier: a scikit-learn classifier around a skorch-trained torch module."""

from __future__ import annotations

import copy
import inspect
import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
    clone,
)
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils._set_output import _get_output_config
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import _check_partial_fit_first_call, check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted
from skorch.callbacks import EarlyStopping, ProgressBar
from skorch.dataset import ValidSplit

from .._atomic_fit import all_or_nothing
from .._persistence import PortableStateMixin
from .._torch import eval_mode, module_device, resolve_device, seed_from, to_numpy, to_tensor
from .._validation import FLOAT32_MAX, label_indices, validate_float_data
from ..bridge import check_torch_output
from ._logits import LogitClassifierMixin
from ._training import (
    PenalizedNet,
    PenaltyEpochHook,
    forward_batches,
    seeded,
    skorch_device,
    without_validation,
)
from .modules import MLP, OutputOf, split_output
from .penalties import Penalty

__all__ = ["RobustNetClassifier"]

# Keyword arguments routed the skorch way: ``module__hidden_sizes=(50,)`` reaches
# the module's constructor and GridSearchCV as ``clf__module__hidden_sizes``.
ROUTED_PREFIXES = ("module__", "optimizer__")


class RoutedParamsMixin:
    """``prefix__name`` keyword parameters stored as attributes, as skorch does.

    Like every scikit-learn parameter they are stored as given and checked in
    ``fit`` (:meth:`_check_routed`), never in ``__init__`` or ``set_params``.
    """

    def _set_routed(self, kwargs):
        for key, value in kwargs.items():
            setattr(self, key, value)

    def _extra_param_names(self):
        """Public attributes that are neither constructor arguments nor fitted state."""
        named = set(self._get_param_names())
        return sorted(
            k
            for k in vars(self)
            if k not in named and not k.startswith("_") and not k.endswith("_")
        )

    def _check_routed(self):
        unknown = [k for k in self._extra_param_names() if not k.startswith(ROUTED_PREFIXES)]
        if unknown:
            raise ValueError(
                f"{type(self).__name__} got unexpected parameter(s) {unknown}; extra "
                f"parameters must start with one of {ROUTED_PREFIXES}."
            )

    def _routed(self, prefix):
        start = len(prefix)
        return {
            k[start:]: getattr(self, k) for k in self._extra_param_names() if k.startswith(prefix)
        }

    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        params.update({k: getattr(self, k) for k in self._extra_param_names()})
        return params

    def set_params(self, **params):
        routed = {k: params.pop(k) for k in list(params) if k.startswith(ROUTED_PREFIXES)}
        self._set_routed(routed)
        return super().set_params(**params) if params else self


class RobustNetClassifier(
    PortableStateMixin,
    RoutedParamsMixin,
    LogitClassifierMixin,
    ClassifierMixin,
    TransformerMixin,
    ClassNamePrefixFeaturesOutMixin,
    BaseEstimator,
):
    """A neural-network classifier whose loss can carry a penalty on its hidden layer.

    A thin scikit-learn estimator: ``fit`` validates the data, encodes the
    labels, builds the torch module and a skorch net, and trains it with Adam on
    the cross-entropy plus ``penalty`` (see :mod:`sklearn_robust.nn.penalties`),
    on CUDA when present. The trained module is kept, so the classifier
    predicts, scores, exposes its hidden representation (:meth:`transform`) and
    hands out a differentiable view of itself (:meth:`to_torch_module`).

    As a transformer it names its output columns ``"robustnetclassifier0"``,
    ``"robustnetclassifier1"``, ... (one per hidden unit, see
    :meth:`get_feature_names_out`), so ``set_output(transform="pandas")`` makes
    :meth:`transform` return a DataFrame, alone or in a pipeline.

    ``fit`` takes ``sample_weight`` (and ``class_weight`` multiplies it): the
    cross-entropy of each minibatch is the weighted mean
    ``sum(w_i * ce_i) / sum(w_i)``, so that with full batches
    (``batch_size >= n_samples``) an integer weight is the same as repeating
    the row, and with minibatches it is in expectation over the shuffles. The
    penalty is not weighted: it sees every row of the batch alike, rows of
    weight 0 included. With ``early_stopping`` the validation loss is weighted
    the same way. :meth:`partial_fit` trains one epoch per call, continuing
    the module, the optimizer and the random stream, so that calls on the
    same data with the same ``random_state`` give the model of one ``fit``.

    Parameters
    ----------
    module : torch.nn.Module subclass or instance, default=MLP
        The network. A class is instantiated at ``fit`` with ``n_features``
        and ``n_classes`` (when its constructor takes them) and the
        ``module__*`` keyword arguments; an instance is deep-copied and trained.
        It returns logits, or ``(logits, hidden)`` to make the hidden
        representation available to penalties and :meth:`transform`.
    penalty : Penalty or None, default=None
        Term added to the loss, e.g. ``IsometryPenalty(strength=0.1)``. Its
        hyperparameters are reachable as ``penalty__strength``.
    lr : float, default=1e-3
        Adam's learning rate.
    max_epochs : int, default=50
        Passes over the training data (fewer with early stopping).
    batch_size : int, default=128
        Minibatch size.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data (stratified) and stop when
        its loss has not improved by ``tol`` for ``n_iter_no_change`` epochs,
        keeping the best epoch's weights.
    validation_fraction : float, default=0.1
        Share of the training data held out when ``early_stopping``.
    n_iter_no_change : int, default=5
        Patience of early stopping, in epochs.
    tol : float, default=1e-4
        Least improvement of the validation loss that counts.
    augmentation : callable or None, default=None
        Applied to every training batch (a float32 tensor of shape
        ``(batch_size, n_features)`` on the training device) before the forward
        pass, never to validation data or predictions; e.g.
        :class:`~sklearn_robust.nn.RandomCropFlip` for CIFAR's random crops and
        flips. Its randomness comes from torch's global generator, seeded by
        ``random_state``.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, ``{label: weight}``, multiplying
        ``sample_weight``; classes not listed weigh 1. ``"balanced"`` weighs
        each class by ``n_samples / (n_classes * count)`` in the training data
        (not available to :meth:`partial_fit`, which sees a part of the data at
        a time: pass the dict that
        :func:`~sklearn.utils.class_weight.compute_class_weight` gives on the
        full targets instead).
    warm_start : bool, default=False
        When the classifier is fitted, ``fit`` continues training its module,
        optimizer state, penalty state and random stream for ``max_epochs``
        more epochs (``n_iter_`` and ``history_`` add up) instead of starting
        afresh. The classes must be those of the first fit. The net is kept as
        the first fit built it: ``module``, ``lr``, ``penalty``,
        ``early_stopping`` and ``callbacks`` changed since have no effect
        until a fit without warm start.
    callbacks : list of skorch callbacks or None, default=None
        Extra skorch callbacks (e.g. ``skorch.callbacks.LRScheduler``).
    device : {"auto", "cpu", "cuda"} or torch.device, default="auto"
        "auto" trains on CUDA when available.
    random_state : int, RandomState instance or None, default=None
        Seeds the module's initialisation, the minibatch order, the validation
        split and any randomness of the penalty: the same seed gives the same model.
    verbose : int, default=0
        1 prints skorch's per-epoch table, 2 adds a progress bar over batches.
    **kwargs
        ``module__*`` arguments for the module's constructor (e.g.
        ``module__hidden_sizes=(256, 128)``, ``module__activation="tanh"``) and
        ``optimizer__*`` arguments for Adam (e.g. ``optimizer__weight_decay``).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    module_ : torch.nn.Module
        The trained module (in eval mode).
    net_ : skorch.NeuralNet
        The skorch net that trained it (callbacks, optimizer state).
    history_ : skorch.History
        Per-epoch and per-batch records: ``train_loss``, ``valid_loss`` with
        early stopping, and ``penalty`` per batch when a penalty is set.
    penalty_ : Penalty or None
        The penalty as used in training (a clone of ``penalty`` holding any
        state it learned, e.g. the spectral penalty's eigenvectors).
    n_iter_ : int
        Epochs trained, all calls of :meth:`partial_fit` and warm-started
        :meth:`fit` together.
    n_features_in_ : int
        Number of features seen during fit.

    Examples
    --------
    >>> from sklearn_robust.nn import RobustNetClassifier, L2Penalty
    >>> from sklearn_robust.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = RobustNetClassifier(penalty=L2Penalty(1e-4), max_epochs=5, random_state=0,
    ...                           device="cpu", module__hidden_sizes=(64,))
    >>> clf.fit(X, y).score(X, y) > 0.8
    True
    >>> clf.transform(X[:2]).shape
    (2, 64)
    >>> clf.get_feature_names_out()[:2]
    array(['robustnetclassifier0', 'robustnetclassifier1'], dtype=object)
    """

    # What to_torch_module returns (the bridge's TorchModuleProvider protocol).
    torch_outputs = ("decision", "hidden")

    _parameter_constraints: dict = {
        "module": [type, torch.nn.Module],
        "penalty": [None, Penalty],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "augmentation": [None, callable],
        "class_weight": [None, dict, StrOptions({"balanced"})],
        "warm_start": ["boolean"],
        "callbacks": [None, list],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        module=MLP,
        *,
        penalty=None,
        lr=1e-3,
        max_epochs=50,
        batch_size=128,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        tol=1e-4,
        augmentation=None,
        class_weight=None,
        warm_start=False,
        callbacks=None,
        device="auto",
        random_state=None,
        verbose=0,
        **kwargs,
    ):
        self.module = module
        self.penalty = penalty
        self.lr = lr
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.augmentation = augmentation
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.callbacks = callbacks
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self._set_routed(kwargs)

    # ------------------------------------------------------------------ fitting
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None):
        """Train the module on (X, y).

        With ``warm_start=True`` on a fitted classifier, training continues
        for ``max_epochs`` more epochs; otherwise it starts afresh.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,)
            Class labels (any type scikit-learn classifiers accept).
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Non-negative weight of each sample in the cross-entropy (None: all
            1), multiplied by ``class_weight``; not all zero, and samples of
            positive weight must hold at least 2 classes.

        Returns
        -------
        self : RobustNetClassifier
            The fitted classifier.
        """
        with all_or_nothing(self):  # Ctrl-C or an error: the estimator as it was
            return self._fit(X, y, sample_weight)

    @_fit_context(prefer_skip_nested_validation=False)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train one epoch on (X, y), continuing from the current state.

        The first call (on a classifier not yet fitted) builds the module and
        needs ``classes``; later calls, and calls after :meth:`fit`, continue
        the module, the optimizer state and the random stream, so that ``k``
        calls on the same data equal ``fit`` with ``max_epochs=k`` and the
        same ``random_state``. No data is held out: ``early_stopping`` does
        not apply, as in scikit-learn's ``MLPClassifier``. A penalty that looks
        at the whole training set before each epoch (``SpectralPenalty``)
        sees the ``X`` of the call.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,)
            Class labels, all among ``classes_``; one call may hold a single class.
        classes : array-like of shape (n_classes,) or None, default=None
            Every class the classifier will know; required on the first call,
            optional later (then equal to ``classes_``).
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Non-negative weight of each sample in the cross-entropy (None: all
            1), multiplied by a dict ``class_weight``.

        Returns
        -------
        self : RobustNetClassifier
            The classifier, trained one more epoch.
        """
        with all_or_nothing(self):  # Ctrl-C or an error: the estimator as it was
            return self._partial_fit(X, y, classes, sample_weight)

    def _fit(self, X, y, sample_weight):
        self._check_routed()
        warm = self.warm_start and hasattr(self, "net_")
        X, y = validate_float_data(self, X, y, y_numeric=False, reset=not warm)
        check_classification_targets(y)
        classes = LabelEncoder().fit(y).classes_
        if warm and not np.array_equal(classes, self.classes_):
            raise ValueError(
                "warm_start continues training on the classes of the previous fit, "
                f"{self.classes_.tolist()}, but y holds {classes.tolist()}. Set "
                "warm_start=False to train afresh."
            )
        self.classes_ = classes
        self._check_two_classes(self.classes_)
        targets = label_indices(self.classes_, y)
        weights = self._sample_weight(X, y, sample_weight)
        if weights is not None:
            self._check_two_classes(self.classes_[np.unique(targets[weights > 0])], weighted=True)
        if self.early_stopping:
            self._check_validation_split(targets)
        if self.penalty is not None:
            self.penalty.validate()
        if warm:
            self._continue(X, targets, weights, self.max_epochs)
        else:
            self._start(X, targets, weights, self.max_epochs, validation=self.early_stopping)
        return self

    def _partial_fit(self, X, y, classes, sample_weight):
        self._check_routed()
        if self.class_weight == "balanced":
            raise ValueError(
                'class_weight="balanced" needs the class counts of all the training data, '
                "which partial_fit does not see. Pass class_weight="
                'dict(zip(classes, compute_class_weight("balanced", classes=classes, y=y))) '
                "computed on all the targets (or a large enough sample of them)."
            )
        first = _check_partial_fit_first_call(self, classes)
        X, y = validate_float_data(self, X, y, y_numeric=False, reset=first)
        check_classification_targets(y)
        if first:
            self._check_two_classes(self.classes_, where="classes")
        targets = label_indices(self.classes_, y)
        weights = self._sample_weight(X, y, sample_weight)
        if first and self.penalty is not None:
            self.penalty.validate()
        if first:
            self._start(X, targets, weights, 1, validation=False)
        else:
            with without_validation(self.net_):
                self._continue(X, targets, weights, 1)
        return self

    @staticmethod
    def _check_two_classes(classes, where="The training data", weighted=False):
        if len(classes) >= 2:
            return
        held = f"1 class ({np.asarray(classes[0]).item()!r})" if len(classes) else "no class"
        among = " among its samples of positive weight" if weighted else ""
        raise ValueError(
            f"{where} holds {held}{among}; a classifier needs samples of at least 2 classes."
        )

    def _sample_weight(self, X, y, sample_weight):
        """The weights of the rows (sample_weight times class_weight), or None for none."""
        if sample_weight is None and self.class_weight is None:
            return None
        weights = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        if self.class_weight is not None:
            weights = weights * compute_sample_weight(self.class_weight, y)
            if np.any(weights < 0):
                raise ValueError(f"class_weight must not be negative; got {self.class_weight!r}.")
            if not np.any(weights > 0):
                raise ValueError(
                    "Sample weights multiplied by class_weight must contain at least one "
                    "non-zero number."
                )
        largest = weights.max()
        if not 1e-30 < largest < FLOAT32_MAX:  # the loss is a weighted mean: scale-free
            weights = weights / largest
        return weights.astype(np.float32)

    def _start(self, X, targets, weights, epochs, validation):
        """Build the module and the net and train ``epochs`` epochs from the seed."""
        device = resolve_device(self.device)
        seed = seed_from(self.random_state)
        with seeded(seed, device) as stream:
            module = self._build_module(X.shape[1], len(self.classes_), device)
            self.penalty_ = None if self.penalty is None else clone(self.penalty)
            net = self._build_net(module, device, seed, validation)
            net.fit(_net_input(X, weights), targets, epochs=epochs)
        self._store(net, stream["state"])

    def _continue(self, X, targets, weights, epochs):
        """Train the fitted net ``epochs`` more epochs, resuming its random stream."""
        net = self.net_
        device = module_device(net.module_)
        with seeded(None, device, state=self._rng_state) as stream:
            net.partial_fit(_net_input(X, weights), targets, epochs=epochs)
        self._store(net, stream["state"])

    def _store(self, net, rng_state):
        self.net_ = net
        self.module_ = net.module_.eval()
        self.history_ = net.history
        self.n_iter_ = len(net.history)
        self._rng_state = rng_state  # where the next partial_fit or warm start resumes
        _move_tensors_to_cpu(self.penalty_)  # its fitted state pickles anywhere

    def _check_validation_split(self, targets):
        """The stratified hold-out of early stopping must be possible, before any training.

        The split is scikit-learn's StratifiedShuffleSplit, as skorch's ValidSplit
        makes it: ``ceil(validation_fraction * n)`` validation samples, the rest for
        training, each part with every class, so every class needs 2 samples.
        """
        n_samples, counts = targets.size, np.bincount(targets)
        n_classes = counts.size
        n_valid = math.ceil(self.validation_fraction * n_samples)
        n_train = n_samples - n_valid
        split = (
            f"early_stopping holds out validation_fraction={self.validation_fraction} of the "
            f"{n_samples} training samples, stratified by class: {n_valid} for validation and "
            f"{n_train} for training"
        )
        if min(n_valid, n_train) < n_classes:
            part, size = ("validation", n_valid) if n_valid < n_classes else ("training", n_train)
            raise ValueError(
                f"{split}, but each part needs at least one sample of each of the {n_classes} "
                f"classes, and {size} {part} samples cannot hold them. Change "
                "validation_fraction, give more samples or set early_stopping=False."
            )
        if counts.min() < 2:
            rare = self.classes_[counts < 2].tolist()[:5]
            raise ValueError(
                f"{split}, but each part needs a sample of every class, and classes {rare} "
                "have a single sample. Give more samples or set early_stopping=False."
            )

    def _build_module(self, n_features, n_classes, device):
        module_kwargs = self._routed("module__")
        if isinstance(self.module, torch.nn.Module):
            if module_kwargs:
                raise ValueError(
                    "module__* arguments configure a module class; module is an instance. "
                    "Pass the class instead, or configure the instance yourself."
                )
            module = copy.deepcopy(self.module)  # fit must not train the parameter itself
        else:
            accepted = inspect.signature(self.module).parameters
            sizes = {"n_features": n_features, "n_classes": n_classes}
            takes_any = any(p.kind == p.VAR_KEYWORD for p in accepted.values())
            module_kwargs = {
                **{k: v for k, v in sizes.items() if takes_any or k in accepted},
                **module_kwargs,
            }
            module = self.module(**module_kwargs)
        module = module.to(device)
        self._check_module_output(module, n_features, n_classes, device)
        return module

    def _check_module_output(self, module, n_features, n_classes, device):
        """One dry forward pass: wrong output shapes fail here, before any training."""
        with torch.no_grad(), eval_mode(module):
            logits, hidden = split_output(module(torch.zeros(2, n_features, device=device)))
        if logits.ndim != 2 or logits.shape[1] != n_classes:
            raise ValueError(
                f"The module must return logits of shape (n_samples, {n_classes}) for "
                f"{n_classes} classes; it returned shape {tuple(logits.shape)}."
            )
        if hidden is None and self.penalty is not None:
            raise ValueError(
                f"{type(self.penalty).__name__} acts on the hidden representation, but the "
                "module returns only logits; make it return (logits, hidden)."
            )

    def _build_net(self, module, device, seed, validation):
        callbacks = [("penalty_epoch_hook", PenaltyEpochHook())]
        train_split = None
        if validation:
            train_split = ValidSplit(self.validation_fraction, stratified=True, random_state=seed)
            callbacks.append(
                (
                    "early_stopping",
                    EarlyStopping(
                        patience=self.n_iter_no_change, threshold=self.tol, load_best=True
                    ),
                )
            )
        if self.verbose >= 2:
            callbacks.append(("progress_bar", ProgressBar()))
        for index, callback in enumerate(self.callbacks or []):
            callbacks.append((f"user_{index}", copy.deepcopy(callback)))
        return PenalizedNet(
            module,
            criterion=torch.nn.CrossEntropyLoss,
            optimizer=torch.optim.Adam,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train__shuffle=True,
            train_split=train_split,
            callbacks=callbacks,
            device=skorch_device(device),
            verbose=int(self.verbose > 0),
            penalty=self.penalty_,
            augmentation=_on_device(copy.deepcopy(self.augmentation), device),
            **{f"optimizer__{k}": v for k, v in self._routed("optimizer__").items()},
        )

    # --------------------------------------------------------------- predicting
    def _forward(self, X, output="decision"):
        check_is_fitted(self)
        X = validate_float_data(self, X, reset=False)
        return forward_batches(self.module_, to_tensor(X, module_device(self.module_)), output)

    def _logits(self, X):
        return self._forward(X)

    def transform(self, X, layer=None):
        """The hidden representation of X, for spectra, probes and densities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.
        layer : None, str or int, default=None
            None: the hidden output the module returns (the last hidden layer of
            the default MLP). A string: the output of the submodule of that name
            (as in ``module_.named_modules()``, e.g. ``"encoder.1"``). An int:
            the i-th hidden layer of a module that lists them in
            ``hidden_layer_names()`` (MLP does; negative counts from the end).

        Returns
        -------
        hidden : ndarray of shape (n_samples, width), float32
            Hidden representation of each sample; a DataFrame under
            ``set_output(transform="pandas")``, its columns named by
            :meth:`get_feature_names_out`, which describes the default
            representation: a layer of another width needs
            ``set_output(transform="default")``.
        """
        if layer is None:
            return to_numpy(self._forward(X, output="hidden"))
        name = self._layer_name(layer)
        captured = []
        submodule = dict(self.module_.named_modules())[name]
        handle = submodule.register_forward_hook(
            lambda _module, _inputs, out: captured.append(out.flatten(1))
        )
        try:
            self._forward(X)
        finally:
            handle.remove()
        hidden = to_numpy(torch.cat(captured))
        if _get_output_config("transform", self)["dense"] != "default":
            if hidden.shape[1] != self._n_features_out:
                raise ValueError(
                    f"layer={layer!r} has {hidden.shape[1]} units, but the output columns set "
                    f"by set_output name the {self._n_features_out} units of transform(X); "
                    'call set_output(transform="default") to read this layer.'
                )
        return hidden

    @property
    def _n_features_out(self):
        """Width of ``transform(X)``, read from the trained module (for the feature names)."""
        check_is_fitted(self)
        probe = torch.zeros(1, self.n_features_in_, device=module_device(self.module_))
        return int(forward_batches(self.module_, probe, output="hidden").shape[1])

    def _layer_name(self, layer):
        check_is_fitted(self)
        if isinstance(layer, Integral):
            if not hasattr(self.module_, "hidden_layer_names"):
                raise ValueError(
                    f"layer={layer} needs a module with hidden_layer_names(); "
                    f"{type(self.module_).__name__} has none: name the submodule instead."
                )
            names = self.module_.hidden_layer_names()
            if not -len(names) <= layer < len(names):
                raise ValueError(f"layer={layer} is out of range for {len(names)} hidden layers.")
            return names[layer]
        names = dict(self.module_.named_modules())
        if layer not in names or layer == "":
            raise ValueError(
                f"No submodule named {layer!r}; choose one of {sorted(n for n in names if n)}."
            )
        return layer

    def to_torch_module(self, output="decision") -> torch.nn.Module:
        """The trained network as a torch module mapping inputs to logits (or the hidden layer).

        Gradients flow through it to the input (attacks, Jacobians). It shares
        its weights with ``module_``. See
        :class:`~sklearn_robust.bridge.TorchModuleProvider`.

        Parameters
        ----------
        output : {"decision", "hidden"}, default="decision"
            What the module returns: ``"decision"``, the logits, one per class
            (``decision_function`` is ``logit_1 - logit_0`` for two classes);
            ``"hidden"``, the hidden representation as the module returns it
            (``transform(X)`` flattens it per example).

        Returns
        -------
        torch.nn.Module
            The trained network.
        """
        check_is_fitted(self)
        check_torch_output(self, output)
        return OutputOf(self.module_, index=0 if output == "decision" else 1)

    def _pickle_state(self):
        # pickle, copy and joblib: the full state, the skorch net included, so that
        # partial_fit and warm starts continue a reloaded model exactly. module_ is
        # net_.module_: skorch pickles it with a device map, so a model trained on
        # CUDA reloads on a machine without one; pickling it again here would bypass that.
        state = dict(super()._pickle_state())  # a copy: never edit the live __dict__
        state.pop("module_", None)
        return state

    def _portable_state(self):
        # skops: a state without pickle, see sklearn_robust._persistence. The skorch net
        # is not kept; module_, history_ and the optimizer state are, and __setstate__
        # builds a net around them.
        state = dict(super()._portable_state())
        net = state.pop("net_", None)
        if net is not None:
            split = net.train_split
            state["_net_state"] = {
                "optimizer": net.optimizer_.state_dict(),
                "validation_seed": None if split is None else int(split.random_state),
            }
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        net_state = self.__dict__.pop("_net_state", None)
        if "net_" in self.__dict__:
            self.module_ = self.net_.module_
        elif net_state is not None:
            self._rebuild_net(**net_state)

    def _rebuild_net(self, optimizer, validation_seed):
        """The skorch net of a model loaded from its portable state, to train it further.

        Built as ``fit`` builds it, from the current parameters, around the loaded
        ``module_``, ``history_`` and ``penalty_``, with the optimizer state
        saved: partial_fit and warm starts continue as they would have (the
        state of user callbacks is not kept).
        """
        module = self.module_
        device = module_device(module)
        net = self._build_net(module, device, validation_seed, validation_seed is not None)
        net.initialize()
        net.optimizer_.load_state_dict(optimizer)
        net.history = self.history_
        self.net_ = net
        self.module_ = net.module_.eval()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # transform returns the float32 hidden layer, whatever the input dtype.
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


def _net_input(X, weights):
    """What the net trains on: the float32 inputs, with their weights when there are any.

    A read-only array (a frozen or memory-mapped X, a DataFrame's values) is
    copied: torch's batching would otherwise share it and warn that it is not
    writable.
    """
    X = X.astype(np.float32, copy=not X.flags.writeable)
    return X if weights is None else {"X": X, "sample_weight": weights}


def _on_device(augmentation, device):
    """An augmentation that is a torch module runs where the batches are."""
    if isinstance(augmentation, torch.nn.Module):
        return augmentation.to(device)
    return augmentation


def _move_tensors_to_cpu(obj):
    """Move the tensor attributes of ``obj`` (a fitted penalty) to the CPU."""
    if obj is None:
        return
    for name, value in list(vars(obj).items()):
        if isinstance(value, torch.Tensor):
            setattr(obj, name, value.detach().cpu())
