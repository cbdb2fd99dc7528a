"""Hidden-layer representations as scikit-learn transformers: layer activations, vector codes.

:class:`LayerActivations` runs a torch module (or a fitted network of this
package) and returns the outputs of named layers; :class:`VectorCodes` turns
feature maps into the vector codes of Lee and Vijayan (section 2): per channel,
the max, mean, standard deviation and centre of mass of the map.
"""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context, clone
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted

from ._persistence import PortableStateMixin
from ._torch import eval_mode, forward_in_chunks, module_device, resolve_device, to_numpy
from ._validation import validate_float_data
from .bridge import TorchModuleProvider

__all__ = ["LayerActivations", "VectorCodes", "vector_codes"]

STATS = ("max", "mean", "std", "com")
POOLINGS = ("flatten", "gap", "vector_code", "cls")
# Samples per chunk in VectorCodes.transform: bounds the float32 copy made for torch.
_CHUNK = 4096


def _check_stats(stats):
    """The ``stats`` parameter as a tuple, or a ValueError naming the valid ones."""
    stats = tuple(stats)
    if not stats:
        raise ValueError(f"stats must name at least one of {STATS}; got an empty sequence.")
    unknown = [stat for stat in stats if stat not in STATS]
    if unknown:
        raise ValueError(f"Unknown stats {unknown!r}; choose from {STATS}.")
    if len(set(stats)) != len(stats):
        raise ValueError(f"stats must not repeat a statistic; got {stats!r}.")
    return stats


def _float32_tensor(array, device="cpu"):
    """A float32 tensor copy of a (slice of an) array: read-only inputs are fine."""
    return torch.from_numpy(np.array(array, dtype=np.float32)).to(device)


def vector_codes(maps: torch.Tensor, stats=STATS) -> torch.Tensor:
    """Vector codes of feature maps: per channel statistics, stat-major.

    Parameters
    ----------
    maps : torch.Tensor of shape (n_samples, n_channels, *spatial)
        Feature maps; ``spatial`` is any number (at least one) of dimensions.
    stats : sequence of {"max", "mean", "std", "com"}, default=all four
        The statistics, in output order. See :class:`VectorCodes` for their
        definitions.

    Returns
    -------
    codes : torch.Tensor of shape (n_samples, len(stats) * n_channels)
        ``codes[:, s * n_channels + c]`` is statistic ``stats[s]`` of channel ``c``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_robust.representations import vector_codes
    >>> maps = torch.zeros(1, 1, 3, 3)
    >>> maps[0, 0, 2, 2] = 9.0
    >>> vector_codes(maps).tolist()
    [[9.0, 1.0, 2.8284270763397217, 1.0]]
    """
    if maps.ndim < 3:
        raise ValueError(
            f"Feature maps must have shape (n_samples, n_channels, *spatial); got {maps.ndim}-D."
        )
    flat = maps.flatten(2)  # (n_samples, n_channels, n_positions)
    n_positions = flat.shape[2]
    if n_positions == 0:
        raise ValueError("Feature maps must have at least one spatial position.")
    codes = []
    for stat in stats:  # a few statistics, each vectorised over samples and channels
        if stat == "max":
            codes.append(flat.amax(dim=2))
        elif stat == "mean":
            codes.append(flat.mean(dim=2))
        elif stat == "std":
            codes.append(flat.std(dim=2, correction=0))
        elif stat == "com":
            codes.append(_centre_of_mass(flat))
        else:
            raise ValueError(f"Unknown statistic {stat!r}; choose from {STATS}.")
    return torch.cat(codes, dim=1)


def _centre_of_mass(flat):
    """Activation-weighted mean of the normalised flat position; 0.5 where the weights are 0."""
    n_positions = flat.shape[2]
    if n_positions == 1:
        return flat.new_full(flat.shape[:2], 0.5)
    positions = torch.linspace(0.0, 1.0, n_positions, dtype=flat.dtype, device=flat.device)
    weights = flat.clamp_min(0)
    total = weights.sum(dim=2)
    weighted = weights @ positions
    has_mass = total > 0
    centre = weighted / torch.where(has_mass, total, torch.ones_like(total))
    return torch.where(has_mass, centre, torch.full_like(centre, 0.5))


def _resolve_map_shape(map_shape, n_features):
    """``map_shape`` with a ``-1`` filled in, checked against ``n_features`` columns."""
    shape = [int(size) for size in map_shape]
    if len(shape) < 2:
        raise ValueError(
            f"map_shape must be (n_channels, *spatial) with at least one spatial "
            f"dimension; got {tuple(map_shape)!r}."
        )
    if shape.count(-1) > 1 or any(size == 0 or size < -1 for size in shape):
        raise ValueError(
            f"map_shape must hold positive sizes and at most one -1; got {tuple(map_shape)!r}."
        )
    if -1 in shape:
        known = math.prod(size for size in shape if size != -1)
        if n_features % known:
            raise ValueError(
                f"X has {n_features} features, which map_shape={tuple(map_shape)!r} cannot split."
            )
        shape[shape.index(-1)] = n_features // known
    if math.prod(shape) != n_features:
        raise ValueError(
            f"map_shape={tuple(map_shape)!r} holds {math.prod(shape)} values per sample; "
            f"X has {n_features} features."
        )
    return tuple(shape)


class VectorCodes(TransformerMixin, BaseEstimator):
    """Vector codes of feature maps: per channel max, mean, std and centre of mass.

    The abstract codes of Lee and Vijayan (section 2): each channel's feature
    map is summarised by a few statistics, so a layer with ``C`` channels gives
    ``len(stats) * C`` numbers per sample (``4 C`` with the default ``stats``).

    For the ``L`` activations ``a_0, ..., a_{L-1}`` of one channel's map,
    flattened in row-major (C) order:

    - ``max``: ``max_i a_i``;
    - ``mean``: ``sum_i a_i / L``;
    - ``std``: the population standard deviation (``ddof=0``);
    - ``com``: the centre of mass, ``sum_i w_i p_i / sum_i w_i`` with weights
      ``w_i = max(a_i, 0)`` (activations clipped at 0) and positions
      ``p_i = i / (L - 1)``, the flat index normalised to [0, 1]. It is 0.5
      where all weights are 0 (a channel with no positive activation) and where
      ``L = 1``.

    The output is stat-major: ``[max_c0, ..., max_c{C-1}, mean_c0, ...]``.

    Parameters
    ----------
    stats : tuple of {"max", "mean", "std", "com"}, default=("max", "mean", "std", "com")
        The statistics, in output order.
    map_shape : tuple of int or None, default=None
        How to read a 2-D ``X``: each row is a flattened map of shape
        ``(n_channels, *spatial)``, e.g. ``(C, H, W)``; one size may be -1
        (as in :func:`numpy.reshape`), so ``(1, -1)`` reads each row as one
        channel. With None, X must be at least 3-D, ``(n_samples, n_channels,
        *spatial)``, e.g. ``(N, C, H, W)``; a 2-D X is then an error. For such
        an X, a given ``map_shape`` must agree with ``X.shape[1:]``.

    Attributes
    ----------
    n_features_in_ : int
        Columns of X for 2-D input; channels for 3-D or higher input.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.
    n_channels_ : int
        Channels per sample.
    map_shape_ : tuple of int
        The shape ``(n_channels, *spatial)`` of one sample's maps seen in fit.
        In ``transform``, a 3-D or higher X may have other spatial sizes (the
        codes do not depend on them) but the same number of channels; a 2-D X
        must have the columns seen in fit.

    See Also
    --------
    LayerActivations : Feature maps of named layers (``pooling="vector_code"``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_robust import VectorCodes
    >>> maps = np.zeros((1, 2, 3, 3), dtype=np.float32)
    >>> maps[0, 1, 0, 2] = 4.5  # one hot pixel in channel 1, flat index 2 of 0..8
    >>> codes = VectorCodes().fit_transform(maps)
    >>> codes.shape
    (1, 8)
    >>> codes[0, [1, 3, 7]].tolist()  # max, mean and centre of mass of channel 1
    [4.5, 0.5, 0.25]
    >>> VectorCodes(stats=("max", "com")).fit(maps).get_feature_names_out().tolist()
    ['max_c0', 'max_c1', 'com_c0', 'com_c1']
    """

    _parameter_constraints: dict = {
        "stats": [tuple, list],
        "map_shape": [None, tuple, list],
    }

    def __init__(self, stats=STATS, *, map_shape=None):
        self.stats = stats
        self.map_shape = map_shape

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the statistics and record the shape of the maps.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_channels, *spatial) or (n_samples, n_features)
            Feature maps; a 2-D X needs ``map_shape``.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : VectorCodes
            The fitted transformer.
        """
        _check_stats(self.stats)
        X, shape = self._validate_input(X, reset=True)
        self.map_shape_ = shape
        self.n_channels_ = shape[0]
        return self

    def _validate_input(self, X, reset):
        X = validate_float_data(self, X, reset=reset, allow_nd=True)
        if X.ndim == 2:
            if self.map_shape is None:
                raise ValueError(
                    "X is 2-D: pass map_shape=(n_channels, *spatial) to say how to read each "
                    "row, or give X of shape (n_samples, n_channels, *spatial)."
                )
            shape = _resolve_map_shape(self.map_shape, X.shape[1])
        else:
            shape = tuple(X.shape[1:])
            if (
                self.map_shape is not None
                and _resolve_map_shape(self.map_shape, math.prod(shape)) != shape
            ):
                raise ValueError(
                    f"map_shape={tuple(self.map_shape)!r} disagrees with the maps' shape {shape}."
                )
            if shape[0] == 0:
                raise ValueError(f"The maps have no channels: shape {shape}.")
            if math.prod(shape[1:]) == 0:
                raise ValueError(f"The maps have no spatial positions: shape {shape}.")
        if not reset:
            if shape[0] != self.n_channels_:
                raise ValueError(
                    f"X has {shape[0]} channels, but {type(self).__name__} was fitted with "
                    f"{self.n_channels_}."
                )
        return X, shape

    def transform(self, X):
        """Vector codes of the maps in X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_channels, *spatial) or (n_samples, n_features)
            Feature maps, laid out as in ``fit``.

        Returns
        -------
        codes : ndarray of shape (n_samples, len(stats) * n_channels_), float32
            Stat-major: column ``s * n_channels_ + c`` is statistic ``stats[s]`` of channel ``c``.
        """
        check_is_fitted(self)
        stats = _check_stats(self.stats)
        X, shape = self._validate_input(X, reset=False)
        codes = forward_in_chunks(
            lambda rows: to_numpy(vector_codes(_float32_tensor(rows).reshape(-1, *shape), stats)),
            X,
            _CHUNK,
        )
        return codes.astype(np.float32, copy=False)

    def get_feature_names_out(self, input_features=None):
        """Get the names of the codes, ``"{stat}_c{channel}"``, stat-major.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only checked against the names seen in fit; the codes are named by channel.

        Returns
        -------
        feature_names_out : ndarray of str objects
            Names of the output features.
        """
        check_is_fitted(self)
        _check_feature_names_in(self, input_features)
        return np.asarray(
            [f"{stat}_c{channel}" for stat in self.stats for channel in range(self.n_channels_)],
            dtype=object,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


def _module_of(obj) -> torch.nn.Module:
    """The torch module behind ``obj``: itself, its ``module_``, or its ``to_torch_module()``."""
    if isinstance(obj, torch.nn.Module):
        return obj
    fitted_module = getattr(obj, "module_", None)
    if isinstance(fitted_module, torch.nn.Module):  # our classifiers, skorch nets
        return fitted_module
    if isinstance(obj, TorchModuleProvider):
        return obj.to_torch_module(output="decision")  # NotFittedError when unfitted
    raise TypeError(
        f"module must be a torch.nn.Module, a fitted TorchModuleProvider (with "
        f"to_torch_module) or an estimator with a module_ attribute (e.g. an initialised "
        f"skorch net); got {type(obj).__name__}."
    )


def _takes(layer):
    """What a linear or convolutional layer takes as input, for error messages."""
    if isinstance(layer, torch.nn.Linear):
        return f"{layer.in_features} features in the last dimension"
    if isinstance(layer, torch.nn.modules.conv._ConvNd):
        spatial = len(layer.kernel_size)
        return (
            f"(n_samples, {layer.in_channels}, *spatial) input with {spatial} spatial "
            f"dimension{'s' if spatial > 1 else ''}"
        )
    return ""


def _pool(output, pooling, name):
    """One layer's output for a batch, pooled to (n_samples, width)."""
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        output = output[0]
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"Layer {name!r} returned {type(output).__name__}, not a tensor.")
    ndim = output.ndim
    if pooling in (None, "flatten"):
        return output.reshape(output.shape[0], -1)
    if pooling == "gap":
        if ndim < 3:
            raise ValueError(
                f"pooling='gap' averages over the dimensions after the channel one; layer "
                f"{name!r} returns {ndim}-D output {tuple(output.shape)}: use pooling='flatten'."
            )
        return output.flatten(2).mean(dim=2)
    if pooling == "vector_code":
        if ndim < 3:
            raise ValueError(
                f"pooling='vector_code' needs feature maps (n_samples, n_channels, *spatial); "
                f"layer {name!r} returns {ndim}-D output {tuple(output.shape)}."
            )
        return vector_codes(output)
    if pooling == "cls":
        if ndim != 3:
            raise ValueError(
                f"pooling='cls' takes token 0 of (n_samples, n_tokens, width) output; layer "
                f"{name!r} returns {ndim}-D output {tuple(output.shape)}."
            )
        return output[:, 0, :]
    raise ValueError(f"pooling must be None or one of {POOLINGS}; got {pooling!r}.")


class LayerActivations(PortableStateMixin, TransformerMixin, BaseEstimator):
    """Activations of named layers of a torch network, captured by forward hooks.

    ``transform`` runs the network on X in batches, without gradients and in
    eval mode (the train/eval flag of every submodule is restored afterwards),
    and returns the pooled outputs of the named layers.

    Parameters
    ----------
    module : torch.nn.Module or fitted estimator
        The network. A fitted estimator of this package (e.g.
        :class:`~sklearn_robust.RobustNetClassifier`) or a skorch net stands for
        its ``module_``, so the layer names are those of
        ``est.module_.named_modules()``, the names ``est.transform(X, layer=...)``
        takes (a :class:`~sklearn_robust.nn.TorchClassifier` also reshapes the
        rows of X to its ``input_shape``); another
        :class:`~sklearn_robust.bridge.TorchModuleProvider` stands for its
        ``to_torch_module()``.
        The module is used in place, never copied.
    layers : str or list of str
        Names of submodules, as in ``module.named_modules()`` (e.g. ``"encoder.1"``
        or ``"features.3"``). A layer called several times in one forward pass
        contributes its last call; a layer returning a tuple contributes its first
        element.
    pooling : {"flatten", "gap", "vector_code", "cls"} or None, default=None
        How each sample's output becomes a row. None or ``"flatten"``: flattened.
        ``"gap"``: mean over all dimensions after the channel one (output with 3
        or more dimensions, e.g. ``(N, C, H, W)`` gives ``(N, C)``).
        ``"vector_code"``: the vector codes of :class:`VectorCodes` (max, mean,
        std and centre of mass per channel, stat-major) of ``(N, C, *spatial)``
        maps, ``(N, 4 C)``. ``"cls"``: token 0 of ``(N, T, D)`` output, ``(N, D)``.
    batch_size : int, default=256
        Samples per forward pass; bounds memory.
    device : {"auto", "cpu", "cuda"} or torch.device, default="auto"
        ``"auto"`` runs on the module's own device (that of its first parameter
        or buffer, the CPU if it has none). Anything else moves the module there
        in place (``module.to(device)``) before it runs.
    concatenate : bool, default=False
        With a list of layers: False returns a dict of arrays, True their
        columns side by side, in the order of ``layers``.

    Attributes
    ----------
    layers_ : list of str
        The layer names.
    output_shapes_ : dict of str to tuple of int
        Per-sample shape of each layer's raw output, before pooling.
    n_features_out_ : dict of str to int
        Columns of each layer's pooled output.
    input_shape_ : tuple of int
        Per-sample shape of X seen in fit; ``transform`` requires the same.
    n_features_in_ : int
        Number of features seen during fit; only set when X is 2-D.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X is 2-D with string column names.

    Notes
    -----
    ``transform`` returns one float32 array of shape ``(n_samples, width)``
    when ``layers`` is a single name (or ``concatenate=True``), else a dict
    mapping each name to its array. Inside a
    :class:`~sklearn.pipeline.Pipeline`, name one layer or set
    ``concatenate=True``.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from sklearn_robust import LayerActivations
    >>> net = torch.nn.Sequential(
    ...     torch.nn.Conv2d(1, 3, kernel_size=3), torch.nn.ReLU(),
    ...     torch.nn.Flatten(), torch.nn.Linear(3 * 6 * 6, 10),
    ... )
    >>> images = np.random.default_rng(0).random((5, 1, 8, 8), dtype=np.float32)
    >>> LayerActivations(net, "1", pooling="gap").fit_transform(images).shape
    (5, 3)
    >>> codes = LayerActivations(net, ["1", "3"], pooling=None).fit_transform(images)
    >>> {name: array.shape for name, array in codes.items()}
    {'1': (5, 108), '3': (5, 10)}
    """

    _parameter_constraints: dict = {
        "module": "no_validation",
        "layers": [str, list, tuple],
        "pooling": [None, StrOptions(set(POOLINGS))],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "concatenate": ["boolean"],
    }

    def __init__(
        self, module, layers, *, pooling=None, batch_size=256, device="auto", concatenate=False
    ):
        self.module = module
        self.layers = layers
        self.pooling = pooling
        self.batch_size = batch_size
        self.device = device
        self.concatenate = concatenate

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the layers and the pooling on one forward pass of the first sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Inputs of the module: e.g. images ``(n_samples, C, H, W)`` or rows
            ``(n_samples, n_features)``.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : LayerActivations
            The fitted transformer.
        """
        names = [self.layers] if isinstance(self.layers, str) else list(self.layers)
        if not names or not all(isinstance(name, str) for name in names):
            raise ValueError(f"layers must be a name or a non-empty list of names; got {names!r}.")
        if len(set(names)) != len(names):
            raise ValueError(f"layers must not repeat a name; got {names!r}.")
        module, _ = self._module_and_device()
        valid = [name for name, _ in module.named_modules() if name]
        unknown = [name for name in names if name not in valid]
        if unknown:
            raise ValueError(
                f"No submodule named {', '.join(map(repr, unknown))} in "
                f"{type(module).__name__}; choose from {valid}."
            )
        X = self._validate_input(X, reset=True)
        self.layers_ = names
        raw, pooled = self._first_pass(X)
        self.output_shapes_ = {name: tuple(raw[name].shape[1:]) for name in names}
        self.n_features_out_ = {name: pooled[name].shape[1] for name in names}
        return self

    def _validate_input(self, X, reset):
        if reset:
            for attribute in ("n_features_in_", "feature_names_in_"):
                self.__dict__.pop(attribute, None)
        X = validate_float_data(self, X, reset=reset, allow_nd=True)
        if reset:
            self.input_shape_ = tuple(X.shape[1:])
            if X.ndim != 2:  # n_features_in_ means columns; nd inputs are checked by shape
                self.__dict__.pop("n_features_in_", None)
        elif tuple(X.shape[1:]) != self.input_shape_:
            raise ValueError(
                f"X has samples of shape {tuple(X.shape[1:])}, but {type(self).__name__} was "
                f"fitted on samples of shape {self.input_shape_}."
            )
        return X

    def _first_pass(self, X):
        """``_run`` on the first sample, where a module that cannot take X fails clearly.

        torch would report a width mismatch as "mat1 and mat2 shapes cannot be
        multiplied"; here the error says which shape X gave and, when the failing
        layer is a linear or convolutional one, what that layer takes.
        """
        module, _ = self._module_and_device()
        names = {submodule: name for name, submodule in module.named_modules()}
        leaves = [submodule for submodule in names if next(submodule.children(), None) is None]
        running = {}  # the leaf layer being run, if any, and the shape of its input

        def enter(submodule, inputs):
            first = inputs[0] if inputs else None
            running["layer"] = submodule, getattr(first, "shape", None)

        def leave(_submodule, _inputs, _output):
            running.pop("layer", None)

        handles = [leaf.register_forward_pre_hook(enter) for leaf in leaves]
        handles += [leaf.register_forward_hook(leave) for leaf in leaves]
        try:
            return self._run(X[:1], keep_raw=True)
        except RuntimeError as exc:
            where = ""
            if "layer" in running:
                layer, shape = running["layer"]
                shape = "?" if shape is None else tuple(shape)
                takes = _takes(layer)
                where = f" layer {names[layer]!r} ({layer}) " + (
                    f"takes {takes} but was given input of shape {shape}."
                    if takes
                    else f"failed on input of shape {shape}."
                )
            raise ValueError(
                f"{type(module).__name__} cannot run on X with samples of shape "
                f"{tuple(X.shape[1:])}:{where} (torch: {exc})"
            ) from exc
        finally:
            for handle in handles:
                handle.remove()

    def _module_and_device(self):
        module = _module_of(self.module)
        if isinstance(self.device, str) and self.device == "auto":
            return module, module_device(module)
        device = resolve_device(self.device)
        module.to(device)  # in place; a no-op when it is there already
        return module, device

    def _run(self, X, keep_raw=False):
        """Pooled (and, on request, raw) outputs of ``layers_`` over X, batch by batch."""
        module, device = self._module_and_device()
        submodules = dict(module.named_modules())
        current, raw = {}, {}
        # A TorchClassifier takes rows and reshapes them to what its module takes.
        sample_shape = getattr(self.module, "module_input_shape_", None)

        def hook(name):
            def capture(_module, _inputs, output):
                if keep_raw:
                    first = output[0] if isinstance(output, (tuple, list)) and output else output
                    raw[name] = first
                current[name] = _pool(output, self.pooling, name)

            return capture

        def pooled_batch(rows):
            current.clear()
            batch = _float32_tensor(rows, device)
            if sample_shape is not None and batch.ndim == 2:
                batch = batch.reshape(-1, *sample_shape)
            module(batch)
            for name in self.layers_:
                if name not in current:
                    raise ValueError(f"Layer {name!r} was not called in the module's forward pass.")
            return tuple(to_numpy(current[name]).astype(np.float32) for name in self.layers_)

        handles = [submodules[name].register_forward_hook(hook(name)) for name in self.layers_]
        try:
            with torch.no_grad(), eval_mode(module):
                pooled = forward_in_chunks(pooled_batch, X, self.batch_size)
        finally:
            for handle in handles:
                handle.remove()
        return raw, dict(zip(self.layers_, pooled, strict=True))

    def transform(self, X):
        """Pooled activations of the named layers on X.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Inputs of the module, of the per-sample shape seen in fit.

        Returns
        -------
        activations : ndarray of shape (n_samples, width), float32, or dict of them
            One array for a single layer name or with ``concatenate=True``;
            otherwise a dict from layer name to array.
        """
        check_is_fitted(self)
        X = self._validate_input(X, reset=False)
        _, pooled = self._run(X)
        if isinstance(self.layers, str):
            return pooled[self.layers_[0]]
        if self.concatenate:
            return np.concatenate([pooled[name] for name in self.layers_], axis=1)
        return pooled

    def get_feature_names_out(self, input_features=None):
        """Get the output columns' names, ``"{layer}_{index}"`` or ``"{layer}_{stat}_c{channel}"``.

        With several layers and ``concatenate=False``, the names of the
        concatenation of the dict's arrays, in the order of ``layers``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only checked against the names seen in fit (for 2-D X).

        Returns
        -------
        feature_names_out : ndarray of str objects
            Names of the output features.
        """
        check_is_fitted(self)
        if hasattr(self, "n_features_in_"):
            _check_feature_names_in(self, input_features)
        names = []
        for layer in self.layers_:
            if self.pooling == "vector_code":
                channels = self.output_shapes_[layer][0]
                names += [f"{layer}_{stat}_c{c}" for stat in STATS for c in range(channels)]
            else:
                names += [f"{layer}_{index}" for index in range(self.n_features_out_[layer])]
        return np.asarray(names, dtype=object)

    def __sklearn_clone__(self):
        """A copy of the probe that reads the same, still trained, network.

        The network is what the probe reads, trained elsewhere, as
        scikit-learn's ``FrozenEstimator`` holds its estimator: cloning it as
        a parameter would give an unfitted classifier, and ``cross_val_score``
        or ``GridSearchCV`` over a pipeline starting with the probe would fail.
        The other parameters are cloned as scikit-learn's ``clone`` does.

        Returns
        -------
        LayerActivations
            Unfitted, with ``module`` the very network of this probe.
        """
        params = self.get_params(deep=False)
        module = params.pop("module")
        new = type(self)(module, **{k: clone(v, safe=False) for k, v in params.items()})
        if hasattr(self, "_sklearn_output_config"):  # set_output, as clone keeps it
            new._sklearn_output_config = dict(self._sklearn_output_config)
        return new

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
