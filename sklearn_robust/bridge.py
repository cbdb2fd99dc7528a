"""as_torch: a differentiable torch view of a fitted estimator or Pipeline.

White-box attacks and Jacobians need gradients through the whole model, not only
its last step, so a fitted :class:`~sklearn.pipeline.Pipeline` is composed step
by step into one :class:`torch.nn.Module`. This module imports none of the
package's estimators: a step that follows :class:`TorchModuleProvider` provides
its own module (every torch-backed estimator here does), and the common
scikit-learn steps get adapters below.
"""

from __future__ import annotations

import copy
import itertools
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from sklearn.base import is_classifier
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.ensemble import VotingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MaxAbsScaler,
    MinMaxScaler,
    Normalizer,
    RobustScaler,
    StandardScaler,
)
from skorch import NeuralNetClassifier

from ._torch import DTYPE, module_device, resolve_device
from ._validation import check_fitted_estimator

__all__ = [
    "BLACK_BOX_EVALUATIONS",
    "TORCH_OUTPUTS",
    "EstimatorModule",
    "TorchModuleProvider",
    "as_torch",
    "check_torch_output",
]

# The outputs a differentiable view can return; see TorchModuleProvider.
TORCH_OUTPUTS = ("decision", "hidden")

BLACK_BOX_EVALUATIONS = (
    "random_noise, accuracy_curve(attack='noise'), critical_distance(attack='noise'), "
    "certify, smoothed_predict and decision_landscape need only predict/predict_proba "
    "and still work"
)

SUPPORTED_STEPS = (
    "this package's estimators and any other TorchModuleProvider (to_torch_module and "
    "torch_outputs), StandardScaler, MinMaxScaler, RobustScaler, MaxAbsScaler, Normalizer, "
    "PCA, FunctionTransformer without func (the identity), "
    "linear classifiers (LogisticRegression, LinearSVC, SGDClassifier, RidgeClassifier, ...), "
    "MLPClassifier, skorch's NeuralNetClassifier, soft-voting VotingClassifier, "
    "ColumnTransformer and FeatureUnion of supported transformers (dense output), "
    "FrozenEstimator, nested Pipelines and 'passthrough'"
)


@runtime_checkable
class TorchModuleProvider(Protocol):
    """An estimator that hands out a differentiable torch module of itself.

    :func:`as_torch` composes such a step with its own module, and
    :class:`~sklearn_robust.LayerActivations` runs it. Every torch-backed
    estimator of this package follows the protocol; ``isinstance(step,
    TorchModuleProvider)`` tells whether a step does.

    The outputs are named as :func:`as_torch` names them:

    - ``"decision"``: what the estimator hands on. For a classifier, the class
      scores whose argmax is ``predict``: the logits of this package's
      networks (one per class, also for two classes, where
      ``decision_function`` is ``logit_1 - logit_0``). For a transformer, its
      ``transform``.
    - ``"hidden"``: the representation a classifier's read-out reads, what its
      ``transform(X)`` returns.

    Attributes
    ----------
    torch_outputs : tuple of str
        The outputs of :data:`TORCH_OUTPUTS` that ``to_torch_module`` returns,
        a class attribute. A classifier that also offers ``"hidden"`` lists it
        here; that is how :func:`as_torch` knows, before any call.
    """

    torch_outputs: tuple[str, ...]

    def to_torch_module(self, output: str = "decision") -> torch.nn.Module:
        """The fitted estimator as a torch module mapping inputs to ``output``.

        Raises NotFittedError when unfitted, ValueError for an output not in
        ``torch_outputs`` (see :func:`check_torch_output`), and TypeError, naming
        the cause, when this fitted estimator has no single module for it.
        """
        ...


def check_torch_output(provider, output) -> str:
    """``output`` when ``provider.torch_outputs`` lists it, else a ValueError listing those.

    For implementers of :meth:`TorchModuleProvider.to_torch_module`.

    Examples
    --------
    >>> from sklearn_robust import KHEncoder
    >>> from sklearn_robust.bridge import check_torch_output
    >>> check_torch_output(KHEncoder(), "hidden")
    Traceback (most recent call last):
    ...
    ValueError: output must be one of ('decision',) for KHEncoder; got 'hidden'.
    """
    if not isinstance(output, str) or output not in provider.torch_outputs:
        raise ValueError(
            f"output must be one of {tuple(provider.torch_outputs)} for "
            f"{type(provider).__name__}; got {output!r}."
        )
    return output


class EstimatorModule(torch.nn.Module):
    """A fitted estimator as a differentiable torch module.

    Returned by :func:`as_torch`; not meant to be built by hand.

    For a classifier, ``forward`` returns logits of shape (n_samples, n_classes)
    whose argmax indexes ``classes_``, also for two classes, where the logits
    are ``[0, s]`` with ``s`` the estimator's ``decision_function``. For a
    transformer it returns the transformed data.

    Parameters
    ----------
    steps : list of torch.nn.Module
        One module per pipeline step, applied in order.
    classes : ndarray or None
        The classifier's classes; None for a transformer or a hidden representation.
    n_features_in : int
        Number of input features.

    Attributes
    ----------
    steps : torch.nn.Sequential
        One module per pipeline step.
    classes_ : ndarray or None
        The classifier's classes; None for a transformer or a hidden representation.
    n_features_in_ : int
        Number of input features.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_robust.bridge import as_torch
    >>> X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]); y = ["a", "b", "b"]
    >>> module = as_torch(LogisticRegression().fit(X, y))
    >>> logits = module(torch.tensor(X, dtype=torch.float32))
    >>> tuple(logits.shape), tuple(module.decision_scores(logits).shape), module.classes_.tolist()
    ((3, 2), (3,), ['a', 'b'])
    """

    def __init__(self, steps, classes, n_features_in):
        super().__init__()
        self.steps = torch.nn.Sequential(*steps)
        self.classes_ = classes
        self.n_features_in_ = n_features_in

    def forward(self, x):
        """Apply the estimator's steps.

        Parameters
        ----------
        x : torch.Tensor of shape (n_samples, n_features_in_)
            Inputs, on the module's device.

        Returns
        -------
        out : torch.Tensor
            Logits of shape (n_samples, n_classes) for a classifier, the
            transformed data for a transformer.
        """
        return self.steps(x)

    @property
    def device(self) -> torch.device:
        """The device of the module's weights (CPU when it has none)."""
        return module_device(self)

    def decision_scores(self, logits: torch.Tensor) -> torch.Tensor:
        """Reshape logits as scikit-learn's ``decision_function`` (1-D for two classes).

        Parameters
        ----------
        logits : torch.Tensor of shape (n_samples, n_classes)
            The output of :meth:`forward` for a classifier.

        Returns
        -------
        scores : torch.Tensor of shape (n_samples,) or (n_samples, n_classes)
            ``logits[:, 1] - logits[:, 0]`` for two classes, else ``logits``.
        """
        if self.classes_ is not None and len(self.classes_) == 2:
            return logits[:, 1] - logits[:, 0]
        return logits


def as_torch(estimator, *, output="decision", device=None) -> EstimatorModule:
    """A torch module reproducing a fitted estimator's decision scores, differentiably.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        Supported steps: this package's estimators and any other
        :class:`TorchModuleProvider` (through their ``to_torch_module``
        method), StandardScaler, MinMaxScaler, RobustScaler, MaxAbsScaler,
        Normalizer, PCA, FunctionTransformer without ``func`` (the identity),
        the linear classifiers of scikit-learn (LogisticRegression, LinearSVC,
        SGDClassifier, RidgeClassifier, ...), MLPClassifier, skorch's
        ``NeuralNetClassifier`` (its module's scores before the softmax, or the
        log of the probabilities it predicts), a soft-voting
        VotingClassifier (the log of its averaged probabilities), a
        ColumnTransformer (dense output) or FeatureUnion of supported
        transformers, FrozenEstimator (unwrapped), nested Pipelines and
        ``"passthrough"``. Inside a Pipeline, ColumnTransformer or FeatureUnion
        a classifier that is not the final step contributes its ``transform``,
        the ``"hidden"`` output of a :class:`TorchModuleProvider`. A bare
        ``torch.nn.Module`` is refused: wrap it with
        :class:`~sklearn_robust.nn.TorchClassifier`.
    output : {"decision", "hidden"}, default="decision"
        ``"decision"``: logits of a classifier (argmax = ``predict``), or the
        transform of a transformer. ``"hidden"``: the representation the final
        classifier reads out: its own hidden layer when it has one
        (this package's networks, MLPClassifier), else the output of the steps
        before it. The same names as :class:`TorchModuleProvider`'s outputs.
    device : None, str or torch.device, default=None
        None keeps the device of the estimator's own torch module (CPU for
        scikit-learn steps). Another device gets a copy, never moving the
        estimator's module.

    Returns
    -------
    EstimatorModule
        Shares its weights with the estimator's torch modules; float32.

    Raises
    ------
    TypeError
        If a step cannot be differentiated (a hard-voting VotingClassifier, a
        ColumnTransformer with sparse output, ...); the message names it and
        the black-box evaluations that still work. Also if the final classifier
        has no ``"hidden"`` output, or its ``to_torch_module`` refuses (a
        StackedLILClassifier fitted on several levels of labels); the message
        says why.
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_robust.bridge import as_torch
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    >>> logits = as_torch(model)(torch.tensor(X, dtype=torch.float32))
    >>> bool(np.allclose(logits.detach().numpy(), model.decision_function(X), atol=1e-4))
    True
    """
    if not isinstance(output, str) or output not in TORCH_OUTPUTS:
        raise ValueError(f"output must be one of {TORCH_OUTPUTS}; got {output!r}.")
    check_fitted_estimator(estimator)
    named_steps = _flatten(estimator)
    modules = [_transform_step_module(name, step) for name, step in named_steps[:-1]]
    last_name, last_step = named_steps[-1]
    if output == "hidden" and is_classifier(last_step):
        hidden = _hidden_module(last_name, last_step)
        modules += [] if hidden is None else [hidden]
    else:
        modules.append(_step_module(last_name, last_step))
    is_clf = output == "decision" and is_classifier(estimator)
    classes = np.asarray(estimator.classes_) if is_clf else None
    modules = _on_one_device(modules, device)
    return EstimatorModule(modules, classes, getattr(estimator, "n_features_in_", None))


def _flatten(estimator, name=None):
    """(name, step) pairs of a Pipeline, nested Pipelines expanded; identity steps dropped.

    A FrozenEstimator is its ``estimator``: it only refuses to be refitted.
    """
    while isinstance(estimator, FrozenEstimator):
        estimator = estimator.estimator
    if _is_identity(estimator):
        return []
    if not isinstance(estimator, Pipeline):
        return [(type(estimator).__name__ if name is None else name, estimator)]
    pairs = []
    for step_name, step in estimator.steps:
        full_name = step_name if name is None else f"{name}.{step_name}"
        pairs.extend(_flatten(step, full_name))
    return pairs


def _is_identity(step):
    return step is None or (isinstance(step, str) and step == "passthrough")


def _transform_step_module(name, step) -> torch.nn.Module:
    """A step whose ``transform`` the next step reads.

    A classifier there hands on its transform, which :class:`TorchModuleProvider`
    names ``"hidden"``; others (LinearDiscriminantAnalysis) are refused rather
    than read as their decision scores.
    """
    if not is_classifier(step):
        return _step_module(name, step)
    if isinstance(step, TorchModuleProvider):
        return _provided_module(name, step, "hidden")
    raise TypeError(
        f"as_torch cannot differentiate step {name!r} ({type(step).__name__}): a classifier "
        "used for its transform, which only a TorchModuleProvider with a 'hidden' output "
        f"offers. White-box attacks (fgsm, pgd) and Jacobians need every step "
        f"differentiable; black-box evaluations ({BLACK_BOX_EVALUATIONS})."
    )


def _transformer_module(name, transformer) -> torch.nn.Module:
    """A ColumnTransformer's or FeatureUnion's part: a transformer, Pipeline or identity."""
    modules = [_transform_step_module(inner, step) for inner, step in _flatten(transformer, name)]
    return torch.nn.Sequential(*modules) if modules else torch.nn.Identity()


def _step_module(name, step) -> torch.nn.Module:
    if isinstance(step, TorchModuleProvider):
        return _provided_module(name, step, "decision")
    for kind, adapter in _ADAPTERS:
        if isinstance(step, kind):
            return adapter(step)
    for kind, adapter in _COMPOSITE_ADAPTERS:
        if isinstance(step, kind):
            return adapter(name, step)
    raise TypeError(
        f"as_torch cannot differentiate step {name!r} ({type(step).__name__}). "
        f"Supported: {SUPPORTED_STEPS}. White-box attacks (fgsm, pgd) and Jacobians need "
        f"every step differentiable; black-box evaluations ({BLACK_BOX_EVALUATIONS})."
    )


def _hidden_module(name, step):
    """The classifier's own hidden representation, or None when it reads its input linearly."""
    if isinstance(step, TorchModuleProvider):  # first: a provider says what it offers
        return _provided_module(name, step, "hidden")
    if isinstance(step, LinearClassifierMixin):
        return None
    if isinstance(step, MLPClassifier):
        return _MLPLayers(step, hidden_only=True)
    if isinstance(step, VotingClassifier):
        raise TypeError(
            f"Step {name!r} ({type(step).__name__}) has no 'hidden' output: its members read "
            "the input each on its own; ask one of them, as_torch(member, output='hidden')."
        )
    if isinstance(step, NeuralNetClassifier):
        raise TypeError(
            f"Step {name!r} ({type(step).__name__}) has no 'hidden' output; read its layers "
            "with LayerActivations(net, layer_name)."
        )
    return _step_module(name, step)  # raises the TypeError naming the step


def _provided_module(name, step, output):
    """The step's own module for ``output``, if its ``torch_outputs`` lists it.

    What ``to_torch_module`` itself raises (a fitted state it cannot express as
    one module) goes to the caller unchanged: its message names the real cause.
    """
    if output not in step.torch_outputs:
        raise TypeError(
            f"Step {name!r} ({type(step).__name__}) has no {output!r} output: its "
            f"to_torch_module returns only {tuple(step.torch_outputs)}."
        )
    return step.to_torch_module(output=output)


def _on_one_device(modules, device):
    """Every module on ``device``; None: on the accelerator any of them is already on.

    A module on another device is copied before it moves, because modules from
    ``to_torch_module`` may share their weights with a fitted estimator, which
    must stay where it is.
    """
    devices = [_tensor_devices(module) for module in modules]
    if device is None:
        every = itertools.chain.from_iterable(devices)
        target = next((d for d in every if d.type != "cpu"), torch.device("cpu"))
    else:
        target = resolve_device(device)
    # Every tensor counts: a composite step (a ColumnTransformer around a network on
    # the accelerator) holds buffers of its own on the CPU.
    return [
        module if on <= {target} else copy.deepcopy(module).to(target)
        for module, on in zip(modules, devices, strict=True)
    ]


def _tensor_devices(module):
    return {tensor.device for tensor in itertools.chain(module.parameters(), module.buffers())}


def _constant(array) -> torch.Tensor:
    return torch.tensor(np.asarray(array), dtype=DTYPE)  # a copy: fitted arrays stay untouched


class _Affine(torch.nn.Module):
    """x @ weight + bias with fixed (buffer) weights: scalers, PCA, linear read-outs."""

    def __init__(self, weight=None, bias=None, scale=None):
        super().__init__()
        self.register_buffer("weight", None if weight is None else _constant(weight))
        self.register_buffer("scale", None if scale is None else _constant(scale))
        self.register_buffer("bias", None if bias is None else _constant(bias))

    def forward(self, x):
        if self.weight is not None:
            x = x @ self.weight
        if self.scale is not None:
            x = x * self.scale
        if self.bias is not None:
            x = x + self.bias
        return x


class _Clamp(torch.nn.Module):
    def __init__(self, low, high):
        super().__init__()
        self.low, self.high = float(low), float(high)

    def forward(self, x):
        return x.clamp(self.low, self.high)


class _BinaryLogits(torch.nn.Module):
    """A single score s as the two logits [0, s]: argmax and softmax match scikit-learn."""

    def forward(self, scores):
        scores = scores.reshape(-1, 1)
        return torch.cat([torch.zeros_like(scores), scores], dim=1)


def _standard_scaler(step):
    # mean_ and var_ are fitted even when with_mean/with_std turn them off.
    scale = 1.0 / np.asarray(step.scale_) if step.with_std else None
    mean = -np.asarray(step.mean_) if step.with_mean else None
    bias = None if mean is None else mean * (1.0 if scale is None else scale)
    return _Affine(scale=scale, bias=bias)


def _min_max_scaler(step):
    affine = _Affine(scale=step.scale_, bias=step.min_)
    if not step.clip:
        return affine
    return torch.nn.Sequential(affine, _Clamp(*step.feature_range))


def _pca(step):
    components = np.asarray(step.components_, dtype=np.float64)
    bias = -np.asarray(step.mean_) @ components.T
    scale = None
    if step.whiten:
        std = np.sqrt(step.explained_variance_)
        std[std < np.finfo(std.dtype).eps] = np.finfo(std.dtype).eps
        scale = 1.0 / std
        bias = bias * scale
    return _Affine(weight=components.T, scale=scale, bias=bias)


def _linear_classifier(step):
    coef = np.atleast_2d(np.asarray(step.coef_, dtype=np.float64))
    intercept = np.broadcast_to(np.asarray(step.intercept_, dtype=np.float64), coef.shape[:1])
    linear = _Affine(weight=coef.T, bias=intercept)
    if coef.shape[0] == 1:
        return torch.nn.Sequential(linear, _BinaryLogits())
    return linear


_ACTIVATIONS = {
    "identity": torch.nn.Identity,
    "logistic": torch.nn.Sigmoid,
    "tanh": torch.nn.Tanh,
    "relu": torch.nn.ReLU,
}


class _MLPLayers(torch.nn.Sequential):
    """MLPClassifier's forward pass: hidden layers, then the output pre-activation."""

    def __init__(self, step, hidden_only=False):
        if step._label_binarizer.y_type_ == "multilabel-indicator":
            raise TypeError(
                "as_torch supports single-label MLPClassifier only; this one was fit on "
                "multilabel targets."
            )
        layers = []
        weights = list(zip(step.coefs_, step.intercepts_, strict=True))
        for coef, intercept in weights[:-1]:
            layers += [_Affine(weight=coef, bias=intercept), _ACTIVATIONS[step.activation]()]
        if not hidden_only:
            coef, intercept = weights[-1]
            layers.append(_Affine(weight=coef, bias=intercept))
            if step.n_outputs_ == 1:
                layers.append(_BinaryLogits())
        super().__init__(*layers)


class _SkorchScores(torch.nn.Module):
    """A skorch classifier's module, returning scores whose argmax is its ``predict``.

    skorch predicts the argmax of ``predict_nonlinearity(output)`` (the first
    element of a tuple output). With cross-entropy the output already is
    logits; otherwise (``NLLLoss`` on probabilities, a user's nonlinearity) the
    log of the predicted probabilities serves as logits: the same argmax, and
    their softmax is the net's ``predict_proba``.
    """

    def __init__(self, net):
        super().__init__()
        self.module = net.module_
        self.nonlinearity = net._get_predict_nonlinearity()
        self.outputs_logits = net.predict_nonlinearity == "auto" and isinstance(
            net.criterion_, torch.nn.CrossEntropyLoss
        )

    def forward(self, x):
        output = self.module(x)
        if isinstance(output, (tuple, list)):
            output = output[0]
        if self.outputs_logits:
            return output
        proba = self.nonlinearity(output)
        return torch.log(proba.clamp_min(torch.finfo(proba.dtype).tiny))


def _robust_scaler(step):
    scale = None if step.scale_ is None else 1.0 / np.asarray(step.scale_)
    center = None if step.center_ is None else -np.asarray(step.center_)
    bias = None if center is None else center * (1.0 if scale is None else scale)
    return _Affine(scale=scale, bias=bias)


def _max_abs_scaler(step):
    return _Affine(scale=1.0 / np.asarray(step.scale_))


_NORMS = {"l1": 1, "l2": 2, "max": float("inf")}


class _Normalize(torch.nn.Module):
    """Normalizer: each row over its norm; rows of (near) zero norm are left as they are.

    scikit-learn divides by 1 where the norm is below ten times the machine epsilon
    of the data's dtype (``_handle_zeros_in_scale``); here that of the tensor's.
    The norms' gradient is zero at a zero row, so gradients stay finite there.
    """

    def __init__(self, norm):
        super().__init__()
        self.norm = norm

    def forward(self, x):
        norms = torch.linalg.vector_norm(x, ord=_NORMS[self.norm], dim=1, keepdim=True)
        small = norms < 10 * torch.finfo(norms.dtype).eps
        return x / torch.where(small, torch.ones_like(norms), norms)


def _normalizer(step):
    return _Normalize(step.norm)


def _function_transformer(step):
    if step.func is not None:
        raise TypeError(
            f"as_torch cannot differentiate FunctionTransformer(func={step.func!r}): only "
            f"the identity (func=None, also ColumnTransformer's 'passthrough'). "
            f"Supported: {SUPPORTED_STEPS}. Black-box evaluations ({BLACK_BOX_EVALUATIONS})."
        )
    return torch.nn.Identity()


class _Select(torch.nn.Module):
    """The input's columns at fixed indices, in their order."""

    def __init__(self, indices):
        super().__init__()
        indices = torch.tensor(np.asarray(indices, dtype=np.int64).reshape(-1))
        self.register_buffer("indices", indices)

    def forward(self, x):
        return x.index_select(1, self.indices)


class _Concat(torch.nn.Module):
    """Each part applied to the same input, outputs side by side; no part: zero columns."""

    def __init__(self, parts):
        super().__init__()
        self.parts = torch.nn.ModuleList(parts)

    def forward(self, x):
        if not len(self.parts):
            return x.new_zeros((x.shape[0], 0))
        return torch.cat([part(x) for part in self.parts], dim=1)


def _weighted(module, weight):
    """``module``'s output times a transformer weight, as ``_transform_one`` applies it."""
    if weight is None:
        return module
    return torch.nn.Sequential(module, _Affine(scale=np.float64(weight)))


def _column_indices(ct, columns, name):
    """Integer positions of a fitted ColumnTransformer's column selection.

    Positions index the input the module reads: columns in the order of the fit's
    data (``feature_names_in_`` for a DataFrame). Names need ``feature_names_in_``.
    """
    n_features = ct.n_features_in_
    positions = np.arange(n_features)
    names = getattr(ct, "feature_names_in_", None)

    def position(label):
        if names is None:
            raise TypeError(
                f"ColumnTransformer part {name!r} selects columns by name ({label!r}), "
                "but the ColumnTransformer has no feature_names_in_ to map names to "
                "positions; fit it on a DataFrame with string column names, or select "
                "columns by position."
            )
        found = np.flatnonzero(names == label)
        if len(found) != 1:
            raise ValueError(f"Column {label!r} of part {name!r} is not among feature_names_in_.")
        return int(found[0])

    if isinstance(columns, slice):
        if isinstance(columns.start, str) or isinstance(columns.stop, str):
            # pandas' label slices include their stop.
            start = None if columns.start is None else position(columns.start)
            stop = None if columns.stop is None else position(columns.stop) + 1
            return positions[start : stop : columns.step]
        return positions[columns]
    if isinstance(columns, str):
        return np.array([position(columns)])
    key = np.asarray(columns)
    if key.ndim == 0:
        key = key.reshape(1)
    if key.size == 0:
        return positions[:0]
    if key.dtype == bool:
        return positions[key]
    if key.dtype.kind in "iu":
        return positions[key]
    if all(isinstance(label, str) for label in key.tolist()):
        return np.array([position(label) for label in key.tolist()], dtype=np.int64)
    raise TypeError(
        f"ColumnTransformer part {name!r}: cannot read the column selection {columns!r}; "
        "as_torch takes integers, slices, boolean masks and (with feature_names_in_) names."
    )


def _column_transformer(name, ct):
    if ct.sparse_output_:
        raise TypeError(
            f"as_torch cannot differentiate step {name!r} (ColumnTransformer): its output "
            "is sparse. Refit it with sparse_threshold=0 (dense output) for white-box "
            f"attacks and Jacobians; black-box evaluations ({BLACK_BOX_EVALUATIONS})."
        )
    weights = ct.transformer_weights or {}
    parts = []
    for part, transformer, columns in ct.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        indices = _column_indices(ct, columns, part)
        if not len(indices):  # scikit-learn skips a part with no columns
            continue
        module = _transformer_module(f"{name}.{part}", transformer)
        parts.append(_weighted(torch.nn.Sequential(_Select(indices), module), weights.get(part)))
    return _Concat(parts)


def _feature_union(name, union):
    weights = union.transformer_weights or {}
    parts = [
        _weighted(_transformer_module(f"{name}.{part}", transformer), weights.get(part))
        for part, transformer in union.transformer_list
        if not (isinstance(transformer, str) and transformer == "drop")
    ]
    return _Concat(parts)


class _Softmax(torch.nn.Module):
    """Logits to probabilities: LogisticRegression, MLPClassifier, networks, ``[0, s]``."""

    def forward(self, logits):
        return torch.softmax(logits, dim=1)


class _OneVsRestProbabilities(torch.nn.Module):
    """``_predict_proba_lr`` of one-vs-rest logistic scores: sigmoids, normalised.

    Computed as the softmax of the log-sigmoids, the same ratio without the
    division by a sum that underflows to zero. Two classes (logits ``[0, s]``):
    the softmax, which is ``sigmoid(s)``.
    """

    def forward(self, logits):
        if logits.shape[1] == 2:
            return torch.softmax(logits, dim=1)
        return torch.softmax(torch.nn.functional.logsigmoid(logits), dim=1)


class _ModifiedHuberProbabilities(torch.nn.Module):
    """SGDClassifier(loss="modified_huber").predict_proba: ``(clip(s, -1, 1) + 1) / 2``.

    Several classes: normalised over the classes, uniform where all are zero.
    """

    def forward(self, logits):
        n_classes = logits.shape[1]
        scores = logits[:, 1:] - logits[:, :1] if n_classes == 2 else logits
        proba = (scores.clamp(-1.0, 1.0) + 1.0) / 2.0
        if n_classes == 2:
            return torch.cat([1.0 - proba, proba], dim=1)
        total = proba.sum(dim=1, keepdim=True)
        zero = total == 0
        proba = torch.where(zero, torch.ones_like(proba), proba)
        return proba / torch.where(zero, torch.full_like(total, n_classes), total)


def _probability_head(name, classifier) -> torch.nn.Module:
    """Maps the classifier's bridged logits to its ``predict_proba``."""
    if isinstance(classifier, SGDClassifier):
        if classifier.loss == "log_loss":
            return _OneVsRestProbabilities()
        if classifier.loss == "modified_huber":
            return _ModifiedHuberProbabilities()
    elif isinstance(
        classifier, (LogisticRegression, MLPClassifier, NeuralNetClassifier, VotingClassifier)
    ):
        return _Softmax()
    elif isinstance(classifier, TorchModuleProvider):
        return _Softmax()  # this package's networks: predict_proba is the softmax of the logits
    raise TypeError(
        f"as_torch cannot differentiate the probabilities of voting member {name!r} "
        f"({type(classifier).__name__}): it has no predict_proba that as_torch knows as a "
        "function of its decision scores (LogisticRegression, SGDClassifier with log_loss "
        "or modified_huber, MLPClassifier, skorch's NeuralNetClassifier and "
        "TorchModuleProviders have)."
    )


class _SoftVote(torch.nn.Module):
    """The weighted mean of the members' probabilities, as logits: its log.

    The log is clamped at float32's smallest normal number, so a class no member
    gives any probability gets a finite logit; the softmax of the output is the
    averaged probabilities, which already sum to one.
    """

    def __init__(self, members, weights):
        super().__init__()
        self.members = torch.nn.ModuleList(members)
        self.register_buffer("weights", _constant(np.asarray(weights) / np.sum(weights)))

    def forward(self, x):
        probas = torch.stack([member(x) for member in self.members])
        mean = torch.tensordot(self.weights.to(probas.dtype), probas, dims=1)
        return torch.log(mean.clamp_min(torch.finfo(mean.dtype).tiny))


def _voting_classifier(name, voting):
    if voting.voting != "soft":
        raise TypeError(
            f"as_torch cannot differentiate step {name!r} (VotingClassifier with "
            f"voting={voting.voting!r}): a majority of votes is not differentiable. Use "
            "voting='soft' (members with predict_proba) for white-box attacks and "
            f"Jacobians; black-box evaluations ({BLACK_BOX_EVALUATIONS})."
        )
    names = [member for member, estimator in voting.estimators if estimator != "drop"]
    weights = voting._weights_not_none
    weights = np.ones(len(names)) if weights is None else np.asarray(weights, dtype=np.float64)
    n_classes = len(voting.classes_)
    members = []
    for member, estimator in zip(names, voting.estimators_, strict=True):
        full_name = f"{name}.{member}"
        steps = _flatten(estimator, full_name)
        modules = [_transform_step_module(inner, step) for inner, step in steps[:-1]]
        classifier_name, classifier = steps[-1]
        if len(getattr(classifier, "classes_", ())) != n_classes:
            raise TypeError(
                f"Voting member {full_name!r} ({type(classifier).__name__}) does not "
                f"score the ensemble's {n_classes} classes."
            )
        modules += [
            _step_module(classifier_name, classifier),
            _probability_head(full_name, classifier),
        ]
        members.append(torch.nn.Sequential(*modules))
    return _SoftVote(members, weights)


# Order matters only for subclasses; every adapter reads fitted attributes only.
_ADAPTERS = (
    (StandardScaler, _standard_scaler),
    (MinMaxScaler, _min_max_scaler),
    (RobustScaler, _robust_scaler),
    (MaxAbsScaler, _max_abs_scaler),
    (Normalizer, _normalizer),
    (FunctionTransformer, _function_transformer),
    (PCA, _pca),
    (LinearClassifierMixin, _linear_classifier),
    (MLPClassifier, _MLPLayers),
    (NeuralNetClassifier, _SkorchScores),
)

# Steps made of other steps: their adapters also take the step's name, to name
# the inner step that fails.
_COMPOSITE_ADAPTERS = (
    (ColumnTransformer, _column_transformer),
    (FeatureUnion, _feature_union),
    (VotingClassifier, _voting_classifier),
)
