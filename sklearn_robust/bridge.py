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
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from sklearn.base import is_classifier
from sklearn.decomposition import PCA
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
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
    "torch_outputs), StandardScaler, MinMaxScaler, PCA, "
    "linear classifiers (LogisticRegression, LinearSVC, SGDClassifier, RidgeClassifier, ...), "
    "MLPClassifier, skorch's NeuralNetClassifier, nested Pipelines and 'passthrough'"
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
        method), StandardScaler, MinMaxScaler, PCA, the
        linear classifiers of scikit-learn (LogisticRegression, LinearSVC,
        SGDClassifier, RidgeClassifier, ...), MLPClassifier, skorch's
        ``NeuralNetClassifier`` (its module's scores before the softmax, or the
        log of the probabilities it predicts), nested Pipelines and
        ``"passthrough"``. A bare ``torch.nn.Module`` is refused: wrap it
        with :class:`~sklearn_robust.nn.TorchClassifier`.
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
        If a step cannot be differentiated; the message names it and the
        black-box evaluations that still work. Also if the final classifier
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
    modules = [_step_module(name, step) for name, step in named_steps[:-1]]
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


def _flatten(estimator):
    """(name, step) pairs of a Pipeline, nested Pipelines expanded; identity steps dropped."""
    if not isinstance(estimator, Pipeline):
        return [(type(estimator).__name__, estimator)]
    pairs = []
    for name, step in estimator.steps:
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        if isinstance(step, Pipeline):
            pairs.extend((f"{name}.{inner}", s) for inner, s in _flatten(step))
        else:
            pairs.append((name, step))
    return pairs


def _step_module(name, step) -> torch.nn.Module:
    if isinstance(step, TorchModuleProvider):
        return _provided_module(name, step, "decision")
    for kind, adapter in _ADAPTERS:
        if isinstance(step, kind):
            return adapter(step)
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
    if device is None:
        devices = map(module_device, modules)
        target = next((d for d in devices if d.type != "cpu"), torch.device("cpu"))
    else:
        target = resolve_device(device)
    return [
        module if module_device(module) == target else copy.deepcopy(module).to(target)
        for module in modules
    ]


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


def _skorch_classifier(net):
    if not getattr(net, "initialized_", False):
        raise TypeError(f"The {type(net).__name__} is not initialized; fit it first.")
    return _SkorchScores(net)


# Order matters only for subclasses; every adapter reads fitted attributes only.
_ADAPTERS = (
    (StandardScaler, _standard_scaler),
    (MinMaxScaler, _min_max_scaler),
    (PCA, _pca),
    (LinearClassifierMixin, _linear_classifier),
    (MLPClassifier, _MLPLayers),
    (NeuralNetClassifier, _skorch_classifier),
)
