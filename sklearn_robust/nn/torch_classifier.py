"""TorchClassifier: an already-trained torch module as a fitted scikit-learn classifier."""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.multiclass import check_classification_targets

from .._persistence import PortableStateMixin
from .._torch import eval_mode, forward_in_chunks, resolve_device, to_tensor
from .._validation import validate_float_data
from ..bridge import check_torch_output
from ._logits import LogitClassifierMixin
from .modules import OutputOf, split_output

__all__ = ["TorchClassifier"]


class _Reshaped(torch.nn.Module):
    """Rows (n, prod(shape)) reshaped to (n, *shape) before the wrapped module."""

    def __init__(self, module, input_shape):
        super().__init__()
        self.module = module
        self.input_shape = input_shape

    def forward(self, x):
        if self.input_shape is not None:
            x = x.reshape(-1, *self.input_shape)
        return self.module(x)


class TorchClassifier(PortableStateMixin, LogitClassifierMixin, ClassifierMixin, BaseEstimator):
    """An already-trained torch module as a fitted scikit-learn classifier; it is never trained.

    Wraps a network trained elsewhere (a user's own, a pretrained torchvision
    model) so that predictions, scores, the bridge (:func:`~sklearn_robust.
    bridge.as_torch`), every attack, critical distances, certification,
    decision landscapes, :class:`~sklearn_robust.LayerActivations` and the
    scorers work on it. The module maps a batch of inputs (rows reshaped to
    ``input_shape``) to one logit per class, or to ``(logits, hidden)``.

    Like scikit-learn's :class:`~sklearn.frozen.FrozenEstimator`, it is fitted
    from the start: ``fit(X, y)`` does not train anything. It checks that X
    has the shape the module takes, that the module returns one score per
    class and that every label of y is in ``classes``, and records
    ``n_features_in_`` (and ``feature_names_in_``) so that later calls are
    checked against X's columns. Cloning copies the module with its trained
    weights, so the classifier survives :func:`~sklearn.base.clone`,
    ``cross_val_score`` and pickling as it is.

    Parameters
    ----------
    module : torch.nn.Module
        The trained network, used in place (never copied, moved or put in
        training mode; predictions run in eval mode and restore every
        submodule's flag). Its output's column ``j`` scores ``classes[j]``.
    classes : array-like of shape (n_classes,)
        The class labels, in the order of the module's outputs.
    input_shape : tuple of int or None, default=None
        Shape of one sample as the module takes it, e.g. ``(3, 32, 32)``: rows
        of X are reshaped to ``(n_samples, *input_shape)``. None passes the
        rows as they are.
    batch_size : int, default=256
        Samples per forward pass of ``predict`` and ``predict_proba``.
    device : {"auto", "cpu", "cuda"} or torch.device, default="auto"
        Where the module runs. ``"auto"``: the device its parameters are on.
        Another device is refused when the module lives elsewhere: the
        classifier does not move a module it shares with the caller.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, ``classes`` as an array.
    n_features_in_ : int
        Number of features seen during fit, or ``prod(input_shape)`` before fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.
    module_ : torch.nn.Module
        ``module`` itself, as :class:`~sklearn_robust.LayerActivations` looks
        for it: its layers keep their own names (``"layer2"``, ``"features.3"``).
    module_input_shape_ : tuple of int or None
        ``input_shape``: the shape rows are given before they enter ``module_``.

    See Also
    --------
    sklearn_robust.nn.RobustNetClassifier : Trains a torch module.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn_robust.nn import TorchClassifier
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    >>> clf = TorchClassifier(net, classes=["a", "b", "c"], input_shape=(1, 2, 2))
    >>> X = np.eye(4, dtype=np.float32)
    >>> clf.predict(X).shape, clf.predict_proba(X).sum(axis=1).round(3).tolist()
    ((4,), [1.0, 1.0, 1.0, 1.0])
    """

    torch_outputs = ("decision", "hidden")

    _parameter_constraints: dict = {
        "module": [torch.nn.Module],
        "classes": ["array-like"],
        "input_shape": [None, tuple, list],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
    }

    def __init__(self, module, *, classes, input_shape=None, batch_size=256, device="auto"):
        self.module = module
        self.classes = classes
        self.input_shape = input_shape
        self.batch_size = batch_size
        self.device = device

    def __sklearn_is_fitted__(self):
        return True  # the module was trained elsewhere; fit only checks

    @property
    def classes_(self):
        classes = np.asarray(self.classes)
        if classes.ndim != 1 or classes.size < 2 or np.unique(classes).size != classes.size:
            raise ValueError(
                f"classes must be at least 2 distinct labels, one per output of the module; "
                f"got {self.classes!r}."
            )
        return classes

    @property
    def n_features_in_(self):
        if "_n_features_in" in self.__dict__:
            return self._n_features_in
        if self.input_shape is not None:
            return math.prod(self._input_shape())
        raise AttributeError("n_features_in_ is known after fit, or from input_shape.")

    @n_features_in_.setter
    def n_features_in_(self, value):
        self._n_features_in = value

    @property
    def module_(self):
        return self.module

    @property
    def module_input_shape_(self):
        return self._input_shape()

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check X and y against the module; nothing is trained.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs (rows of ``prod(input_shape)`` values when ``input_shape`` is given).
        y : array-like of shape (n_samples,) or None, default=None
            Labels; each must be one of ``classes``.

        Returns
        -------
        self : TorchClassifier
            The classifier, unchanged but for ``n_features_in_`` and ``feature_names_in_``.
        """
        self.__dict__.pop("_n_features_in", None)
        self.__dict__.pop("feature_names_in_", None)
        if y is None:
            X = validate_float_data(self, X, reset=True)
        else:
            X, y = validate_float_data(self, X, y, y_numeric=False, reset=True)
            check_classification_targets(y)
            unknown = np.setdiff1d(np.unique(y), self.classes_)
            if unknown.size:
                raise ValueError(
                    f"y has labels {unknown[:5].tolist()} that are not in classes "
                    f"{self.classes_.tolist()}."
                )
        shape = self._input_shape()
        if shape is not None and X.shape[1] != math.prod(shape):
            raise ValueError(
                f"input_shape {shape} holds {math.prod(shape)} values per sample, but X has "
                f"{X.shape[1]} features."
            )
        self._check_output(X[:2])
        return self

    def _input_shape(self):
        if self.input_shape is None:
            return None
        shape = tuple(int(size) for size in self.input_shape)
        if not shape or min(shape) < 1:
            raise ValueError(f"input_shape must hold positive sizes; got {self.input_shape!r}.")
        return shape

    def _device(self):
        """The module's device; a ValueError if it is split or not where ``device`` says."""
        devices = {t.device for t in [*self.module.parameters(), *self.module.buffers()]}
        if len(devices) > 1:
            raise ValueError(
                f"The module's parameters are on several devices ({sorted(map(str, devices))}); "
                "TorchClassifier runs a module that lives on one."
            )
        own = devices.pop() if devices else torch.device("cpu")
        if isinstance(self.device, str) and self.device == "auto":
            return own
        wanted = resolve_device(self.device)
        if wanted.type != own.type or (wanted.index is not None and wanted != own):
            raise ValueError(
                f"device={self.device!r}, but the module is on {own}. TorchClassifier does "
                f"not move the module it shares with you: move it (module.to({str(wanted)!r})) "
                "or use device='auto'."
            )
        return own

    def _check_output(self, X):
        """One forward pass on a few rows: a module that does not fit X or classes fails here."""
        try:
            logits = self._module_logits(X)
        except Exception as exc:  # whatever the user's module raises on input it cannot take
            shape = self._input_shape() or (X.shape[1],)
            raise ValueError(
                f"The module cannot take samples of shape {shape} (X has {X.shape[1]} "
                f"features): {exc}. Set input_shape to the shape it expects."
            ) from exc
        if logits.ndim != 2 or logits.shape[1] != len(self.classes_):
            raise ValueError(
                f"The module returns output of shape {tuple(logits.shape)}, but classes has "
                f"{len(self.classes_)} labels: it must return one score per class."
            )

    def _logits(self, X):
        return self._module_logits(validate_float_data(self, X, reset=False))

    @torch.no_grad()
    def _module_logits(self, X):
        module = self._reshaped()
        device = self._device()
        with eval_mode(module):
            return forward_in_chunks(
                lambda rows: split_output(module(to_tensor(rows, device)))[0],
                X,
                self.batch_size,
            )

    def _reshaped(self):
        return _Reshaped(self.module, self._input_shape())

    def to_torch_module(self, output="decision") -> torch.nn.Module:
        """The module, taking rows, as the bridge and the attacks use it.

        Parameters
        ----------
        output : {"decision", "hidden"}, default="decision"
            ``"decision"``: the logits. ``"hidden"``: the second element of a
            module that returns ``(logits, hidden)``.

        Returns
        -------
        torch.nn.Module
            Shares its weights with ``module``.

        Raises
        ------
        TypeError
            For ``"hidden"`` when the module returns logits alone.
        """
        check_torch_output(self, output)
        device = self._device()
        reshaped = self._reshaped()
        width = getattr(self, "n_features_in_", None)
        if output == "hidden" and width is not None:  # a module without it fails here, clearly
            probe = torch.zeros(1, width, device=device)
            with torch.no_grad(), eval_mode(reshaped):
                if split_output(reshaped(probe))[1] is None:
                    raise TypeError(
                        f"The module ({type(self.module).__name__}) returns logits alone; "
                        "it has no hidden output. Use LayerActivations to read its layers."
                    )
        return OutputOf(reshaped, index=0 if output == "decision" else 1)
