"""Stacked locally isometric layers (LILs) for hierarchical labels."""

from __future__ import annotations

import copy
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from skorch.utils import to_tensor as skorch_to_tensor

from .._atomic_fit import all_or_nothing
from .._persistence import PortableStateMixin
from .._torch import module_device, resolve_device, seed_from, to_numpy, to_tensor
from .._validation import validate_float_data
from ..bridge import check_torch_output
from ._logits import LogitClassifierMixin
from ._training import InterruptibleNet, seeded, skorch_device
from .modules import ACTIVATIONS
from .penalties import IsometryPenalty, PenaltyBatch

__all__ = ["StackedLIL", "StackedLILClassifier", "StackedLILLevel"]


class StackedLIL(torch.nn.Module):
    """One block of hidden layers and one linear head per level of the labels.

    Block ``l`` reads the *detached* output of block ``l - 1`` (block 0 reads
    the input), so each block learns only from its own level's loss, as in the
    paper's stacked LILs. ``forward`` returns, per level, ``(logits, hidden,
    block_input)``.

    Parameters
    ----------
    n_features : int
        Input width.
    n_classes : sequence of int
        Classes at each level, coarsest first.
    hidden_sizes : tuple of int
        Widths of each block's hidden layers (the paper: four of 20).
    activation : {"tanh", "relu"}
        Non-linearity of the hidden layers (the paper: tanh).
    """

    def __init__(self, n_features, n_classes, hidden_sizes=(20, 20, 20, 20), activation="tanh"):
        super().__init__()
        self.blocks = torch.nn.ModuleList()
        self.heads = torch.nn.ModuleList()
        width = n_features
        for classes in n_classes:
            layers = []
            for size in hidden_sizes:
                layers += [torch.nn.Linear(width, size), ACTIVATIONS[activation]()]
                width = size
            self.blocks.append(torch.nn.Sequential(*layers))
            self.heads.append(torch.nn.Linear(width, classes))

    def forward(self, x):
        levels = []
        block_input = x
        for block, head in zip(self.blocks, self.heads, strict=True):
            hidden = block(block_input)
            levels.append((head(hidden), hidden, block_input))
            block_input = hidden.detach()  # gradients stay inside each block
        return levels


class _ChainedLevels(torch.nn.Module):
    """One level of a StackedLIL (the last by default), its blocks chained differentiably."""

    def __init__(self, stacked, hidden=False, level=-1):
        super().__init__()
        self.stacked = stacked
        self.hidden = hidden
        self.level = level % len(stacked.blocks)

    def forward(self, x):
        for block in self.stacked.blocks[: self.level + 1]:
            x = block(x)
        return x if self.hidden else self.stacked.heads[self.level](x)


class _StackedLILNet(InterruptibleNet):
    """skorch net whose loss sums, over levels, cross-entropy and the isometry term."""

    def __init__(self, *args, isometry=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.isometry = isometry

    def get_loss(self, y_pred, y_true, X=None, training=False):
        y_true = skorch_to_tensor(y_true, device=self.device)
        loss = 0.0
        for level, (logits, hidden, block_input) in enumerate(y_pred):
            targets = y_true[:, level]
            loss = loss + self.criterion_(logits, targets)
            if training:
                batch = PenaltyBatch(block_input, hidden, logits, targets, self.module_)
                loss = loss + self.isometry(batch)
        return loss


class StackedLILClassifier(
    PortableStateMixin,
    ClassifierMixin,
    TransformerMixin,
    ClassNamePrefixFeaturesOutMixin,
    BaseEstimator,
):
    """Hierarchical classifier of stacked locally isometric layers.

    For labels given as several columns of increasing fineness (as
    :func:`~sklearn_robust.datasets.make_torus` makes), one block of hidden
    layers per level is trained on that level's labels with cross-entropy plus
    the isometry penalty ``strength / N^2 ||G * (D_in - D_out)||_F^2`` (G the
    same-class mask of the level), each block reading the detached output of the
    one before and classifying with its own linear head. The paper trains with
    the whole training set as one batch, which is the default here.

    As a transformer it names its output columns ``"stackedlilclassifier0"``,
    ``"stackedlilclassifier1"``, ... (one per unit of a block's last hidden
    layer, see :meth:`get_feature_names_out`), so ``set_output(transform="pandas")``
    makes :meth:`transform` return a DataFrame, alone or in a pipeline.

    Parameters
    ----------
    hidden_sizes : tuple of int, default=(20, 20, 20, 20)
        Hidden widths of every block.
    activation : {"tanh", "relu"}, default="tanh"
        Non-linearity of the hidden layers.
    strength : float, default=10.0
        Weight beta of the isometry term. The paper uses 100 on the torus with
        10,000 full-batch epochs; 10 reaches the same accuracy in a few hundred.
    scope : {"class", "global"}, default="class"
        Isometry within each class of the level, or between all pairs.
    lr : float, default=1e-2
        Adam's learning rate.
    max_epochs : int, default=300
        Passes over the data.
    batch_size : int, default=-1
        Minibatch size; -1 trains on the whole set at once (the paper's choice,
        which gives the isometry term every within-class pair).
    device : {"auto", "cpu", "cuda"} or torch.device, default="auto"
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation and minibatch order.
    verbose : int, default=0
        1 prints skorch's per-epoch table.

    Attributes
    ----------
    classes_ : ndarray, or list of ndarray (one per level)
        Labels of each level; a single array when ``y`` is 1-D.
    n_levels_ : int
        Number of label columns.
    module_ : StackedLIL
        The trained network.
    history_ : skorch.History
        Per-epoch training loss.
    n_features_in_ : int

    Examples
    --------
    >>> from sklearn_robust.datasets import make_torus
    >>> from sklearn_robust.nn import StackedLILClassifier
    >>> X, Y = make_torus(400, levels=(2, 4), random_state=0)
    >>> clf = StackedLILClassifier(max_epochs=50, random_state=0, device="cpu").fit(X, Y)
    >>> clf.predict(X[:3]).shape
    (3, 2)
    """

    # What to_torch_module returns (the bridge's TorchModuleProvider protocol), for 1-D labels.
    torch_outputs = ("decision", "hidden")

    _parameter_constraints: dict = {
        "hidden_sizes": [tuple, list],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "strength": [Interval(Real, 0, None, closed="left")],
        "scope": [StrOptions({"class", "global"})],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, -1, None, closed="left")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        hidden_sizes=(20, 20, 20, 20),
        *,
        activation="tanh",
        strength=10.0,
        scope="class",
        lr=1e-2,
        max_epochs=300,
        batch_size=-1,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.hidden_sizes = hidden_sizes
        self.activation = activation
        self.strength = strength
        self.scope = scope
        self.lr = lr
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train one block per label column of ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training samples.
        y : array-like of shape (n_samples,) or (n_samples, n_levels)
            Labels, one column per level, coarsest first.

        Returns
        -------
        self : StackedLILClassifier
            The fitted classifier.
        """
        with all_or_nothing(self):  # Ctrl-C or an error: the estimator as it was
            return self._fit(X, y)

    def _fit(self, X, y):
        if self.batch_size == 0 or not self.hidden_sizes or min(self.hidden_sizes) < 1:
            raise ValueError(
                "batch_size must be -1 or positive and hidden_sizes positive widths; got "
                f"batch_size={self.batch_size}, hidden_sizes={self.hidden_sizes!r}."
            )
        X, y = validate_float_data(self, X, y, multi_output=True, y_numeric=False)
        check_classification_targets(y)
        targets = self._encode_levels(y)
        device = resolve_device(self.device)
        seed = seed_from(self.random_state)
        with seeded(seed, device):
            module = StackedLIL(
                X.shape[1],
                [len(classes) for classes in self._level_classes],
                tuple(self.hidden_sizes),
                self.activation,
            )
            net = _StackedLILNet(
                module,
                criterion=torch.nn.CrossEntropyLoss,
                optimizer=torch.optim.Adam,
                lr=self.lr,
                max_epochs=self.max_epochs,
                batch_size=self.batch_size,
                iterator_train__shuffle=True,
                train_split=None,
                device=skorch_device(device),
                verbose=int(self.verbose > 0),
                isometry=IsometryPenalty(strength=self.strength, scope=self.scope),
            )
            net.fit(X.astype(np.float32, copy=False), targets)
        self.module_ = net.module_.eval()
        self.history_ = net.history
        return self

    def _encode_levels(self, y):
        """Label-encode each column; remember whether y was 1-D."""
        self._one_dimensional = y.ndim == 1
        columns = y.reshape(-1, 1) if y.ndim == 1 else y
        encoders = [LabelEncoder().fit(column) for column in columns.T]
        self._level_classes = [encoder.classes_ for encoder in encoders]
        for level, classes in enumerate(self._level_classes):
            if len(classes) < 2:
                raise ValueError(
                    f"Level {level} of the labels holds 1 class "
                    f"({np.asarray(classes[0]).item()!r}); every level needs at least 2 classes."
                )
        self.classes_ = self._level_classes[0] if self._one_dimensional else self._level_classes
        self.n_levels_ = len(encoders)
        encoded = [
            encoder.transform(column) for encoder, column in zip(encoders, columns.T, strict=True)
        ]
        return np.stack(encoded, axis=1).astype(np.int64)

    def _levels(self, X):
        """Per-level (logits, hidden) of X, in eval mode, without gradients."""
        check_is_fitted(self)
        X = validate_float_data(self, X, reset=False)
        with torch.no_grad():
            levels = self.module_(to_tensor(X, module_device(self.module_)))
        return [(logits, hidden) for logits, hidden, _ in levels]

    def predict_proba(self, X):
        """Class probabilities: an array for 1-D labels, else a list per level.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes) or list of ndarray
            For 1-D labels, the probabilities of ``classes_``; otherwise one array
            per level, of shape (n_samples, n_classes of the level).
        """
        probas = [to_numpy(torch.softmax(logits, 1)) for logits, _ in self._levels(X)]
        return probas[0] if self._one_dimensional else probas

    def predict(self, X):
        """Predict the labels at every level.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_levels)
            Shape (n_samples,) for 1-D labels, else one column per level.
        """
        levels = self._levels(X)
        columns = [
            classes[to_numpy(logits.argmax(1))]
            for classes, (logits, _) in zip(self._level_classes, levels, strict=True)
        ]
        return columns[0] if self._one_dimensional else np.stack(columns, axis=1)

    def transform(self, X, level=-1):
        """The hidden representation of one level's block (default: the finest).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.
        level : int, default=-1
            Which block's output.

        Returns
        -------
        hidden : ndarray of shape (n_samples, hidden_sizes[-1]), float32
            Last hidden layer's representation of each sample; a DataFrame under
            ``set_output(transform="pandas")``, its columns named by
            :meth:`get_feature_names_out` (every level has the same width).
        """
        levels = self._levels(X)
        return to_numpy(levels[level][1])

    @property
    def _n_features_out(self):
        """Width of ``transform(X)`` at every level (for the feature names)."""
        check_is_fitted(self)
        return self.module_.heads[-1].in_features

    def to_torch_module(self, output="decision") -> torch.nn.Module:
        """The network as a torch module on the input, for 1-D labels.

        Unlike training, the blocks are chained without ``detach``, so gradients
        reach the input (attacks, Jacobians). Shares its weights with ``module_``.
        See :class:`~sklearn_robust.bridge.TorchModuleProvider`.

        Parameters
        ----------
        output : {"decision", "hidden"}, default="decision"
            ``"decision"``: the level's logits, one per class; ``"hidden"``: the
            hidden representation ``transform`` returns.

        Returns
        -------
        torch.nn.Module
            The trained network.

        Raises
        ------
        TypeError
            If the classifier was fitted on several levels of labels: it then
            has one output per level, not one module.
        """
        check_is_fitted(self)
        check_torch_output(self, output)
        if not self._one_dimensional:
            raise TypeError(
                "to_torch_module needs 1-D labels: with several levels the classifier has "
                "several outputs. Evaluate one level with level_view(level), or read each "
                "level's representation with transform(X, level=...)."
            )
        return _ChainedLevels(self.module_, hidden=output == "hidden")

    def level_view(self, level=-1):
        """One level of the fitted classifier as a fitted classifier of its own.

        With labels of several levels, ``predict`` returns one column per level
        and ``classes_`` is a list, which single-output tools (the robustness
        evaluations, scikit-learn's metrics and scorers) cannot take. The view
        predicts that level alone and hands out its differentiable module, so
        ``pgd(clf.level_view(-1), X, Y[:, -1], ...)`` attacks the finest level.
        It shares the trained network: nothing is copied or retrained.

        Parameters
        ----------
        level : int, default=-1
            The level, coarsest first; negative counts from the finest.

        Returns
        -------
        StackedLILLevel
            A fitted classifier of that level's labels.
        """
        check_is_fitted(self)
        if not isinstance(level, Integral) or not -self.n_levels_ <= level < self.n_levels_:
            raise ValueError(
                f"level must be an integer in [-{self.n_levels_}, {self.n_levels_ - 1}] for "
                f"{self.n_levels_} levels; got {level!r}."
            )
        return StackedLILLevel(self, level=int(level))

    def score(self, X, y, sample_weight=None):
        """Mean accuracy; with several levels, the mean over levels of each level's accuracy.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Test samples.
        y : array-like of shape (n_samples,) or (n_samples, n_levels)
            True labels, in the shape the classifier was fitted with.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Weights of the samples in each level's accuracy.

        Returns
        -------
        score : float
            The (mean over levels of the) accuracy.
        """
        check_is_fitted(self)
        X = validate_float_data(self, X, reset=False)
        y = np.asarray(y)
        # Checked before predicting: numpy would otherwise broadcast or fail on the shapes.
        n_samples = X.shape[0]
        expected = (n_samples,) if self._one_dimensional else (n_samples, self.n_levels_)
        if y.shape[:1] != expected[:1] or (not self._one_dimensional and y.shape != expected):
            labels = "a label" if self._one_dimensional else f"{self.n_levels_} labels (levels)"
            raise ValueError(
                f"y must hold {labels} for each of the {n_samples} rows of X, shape {expected}; "
                f"got shape {y.shape}."
            )
        if sample_weight is not None and np.shape(sample_weight) != (n_samples,):
            raise ValueError(
                f"sample_weight must have shape ({n_samples},), one weight per row of X; got "
                f"shape {np.shape(sample_weight)}."
            )
        predicted = self.predict(X)
        if predicted.ndim == 1:
            return super().score(X, y, sample_weight=sample_weight)
        weights = None if sample_weight is None else np.asarray(sample_weight)
        return float(
            np.mean(
                [np.average(p == t, weights=weights) for p, t in zip(predicted.T, y.T, strict=True)]
            )
        )

    def _pickle_state(self):
        # pickle, copy and joblib: a CUDA-trained network is pickled from a CPU copy,
        # so it reloads anywhere.
        state = dict(super()._pickle_state())  # a copy: never edit the live __dict__
        if "module_" in state:
            state["module_"] = copy.deepcopy(self.module_).cpu()
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.classifier_tags.multi_label = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


class StackedLILLevel(LogitClassifierMixin, ClassifierMixin, BaseEstimator):
    """One level of a fitted :class:`StackedLILClassifier`, as a fitted classifier.

    Made by :meth:`StackedLILClassifier.level_view`. Like scikit-learn's
    ``FrozenEstimator`` it is fitted from the start and ``fit`` trains nothing.
    Its predictions are those of the level's head; :meth:`to_torch_module`
    chains the blocks up to that level differentiably, so every robustness
    evaluation and the bridge take it.

    Parameters
    ----------
    classifier : StackedLILClassifier
        The fitted hierarchical classifier (shared, never copied).
    level : int, default=-1
        The level, coarsest first; negative counts from the finest.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The level's labels.
    n_features_in_ : int
        Number of features the classifier was fitted on.

    Examples
    --------
    >>> from sklearn_robust.datasets import make_torus
    >>> from sklearn_robust.nn import StackedLILClassifier
    >>> X, Y = make_torus(100, levels=(2, 4), random_state=0)
    >>> clf = StackedLILClassifier(max_epochs=5, random_state=0, device="cpu").fit(X, Y)
    >>> finest = clf.level_view(-1)
    >>> finest.classes_.tolist(), finest.predict(X[:3]).shape
    ([0, 1, 2, 3], (3,))
    """

    torch_outputs = ("decision", "hidden")

    def __init__(self, classifier, level=-1):
        self.classifier = classifier
        self.level = level

    def __sklearn_is_fitted__(self):
        return hasattr(self.classifier, "module_")

    @property
    def classes_(self):
        return self.classifier._level_classes[self.level]

    @property
    def n_features_in_(self):
        return self.classifier.n_features_in_

    @property
    def feature_names_in_(self):
        return self.classifier.feature_names_in_

    def fit(self, X=None, y=None):
        """Nothing to fit: the view reads the trained classifier.

        Parameters
        ----------
        X : None or array-like
            Ignored.
        y : None or array-like
            Ignored.

        Returns
        -------
        self : StackedLILLevel
            The view.
        """
        check_is_fitted(self.classifier)
        return self

    def _logits(self, X):
        return self.classifier._levels(X)[self.level][0]

    def to_torch_module(self, output="decision") -> torch.nn.Module:
        """The blocks up to this level, chained differentiably, and the level's head.

        Parameters
        ----------
        output : {"decision", "hidden"}, default="decision"
            ``"decision"``: the level's logits; ``"hidden"``: its block's output.

        Returns
        -------
        torch.nn.Module
            Shares its weights with the classifier's ``module_``.
        """
        check_is_fitted(self.classifier)
        check_torch_output(self, output)
        return _ChainedLevels(self.classifier.module_, hidden=output == "hidden", level=self.level)
