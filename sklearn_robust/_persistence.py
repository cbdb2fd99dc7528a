"""Estimator state that skops saves without pickle: torch modules and tensors as numpy arrays.

Two ways out of an estimator
----------------------------
pickle, :mod:`copy` and joblib reach an object through ``__reduce_ex__``;
skops' generic loader for objects it has no special handling for
(``ObjectNode``) calls ``__getstate__`` itself and rebuilds the object with
``__setstate__``. The estimators that hold torch objects use that split:

* ``__reduce_ex__`` (pickle, copy, joblib) returns the full state, as pickle
  always had it: the torch modules as they are (a CUDA-trained one mapped to
  the CPU), the skorch net of a classifier with its optimizer and callbacks.
* ``__getstate__`` (skops) returns a *portable* state (:func:`portable_state`)
  made only of what skops stores without pickle: numpy arrays, builtins,
  scikit-learn objects, this package's classes and type references. Torch
  modules become their classes, plain attributes and tensors
  (:func:`encode_module`), tensors numpy arrays, a skorch ``History`` its list
  of epochs.

``__setstate__`` takes either state (:func:`restore_state` undoes the portable
one), so files written by earlier versions still load.

Which modules are portable
--------------------------
A module is rebuilt from its class, so every class in its tree must be one of
this package's (``sklearn_robust.*``: MLP, LinearHead, ConvNet, ResNet,
StackedLIL, ...) or a standard layer or container of ``torch.nn``
(``torch.nn.modules.*``), hold only plain attributes (numbers, strings,
tuples), parameters, buffers and submodules, and have no hooks registered.
Anything else (a user's own ``nn.Module`` subclass, a parametrized layer) is
refused with a ``TypeError`` naming the class: pickle or ``torch.save`` keep
such a model. On load, skops asks the user to trust each class by name, as for
any type it does not know; modules are rebuilt on the CPU.
"""

from __future__ import annotations

import copy
import copyreg
import importlib

import numpy as np
import torch
from sklearn.base import BaseEstimator
from skorch import NeuralNet
from skorch.history import History

__all__ = [
    "arrays_to_tensors",
    "decode_module",
    "encode_module",
    "pickle_reduce",
    "portable_state",
    "restore_state",
    "tensors_to_arrays",
]

# The key of a portable state that says which attributes were converted, and how.
PORTABLE = "_portable_attributes"

# Attributes every torch module has from nn.Module.__init__ (hooks, registries, flags).
_MODULE_INTERNALS = frozenset(vars(torch.nn.Module())) - {"training"}
_HOOKS = sorted(name for name in _MODULE_INTERNALS if "hook" in name and name.endswith("hooks"))
_PORTABLE_PACKAGES = ("sklearn_robust.", "torch.nn.modules.")
_PLAIN = (type(None), bool, int, float, str)


def pickle_reduce(obj, state):
    """The ``__reduce_ex__`` value that pickles ``obj`` as ``state`` (what object's would give)."""
    return copyreg.__newobj__, (type(obj),), state


class PortableStateMixin:
    """Two saved forms of an estimator holding torch modules: pickle's and skops'.

    pickle, copy and joblib call ``__reduce_ex__``: they get :meth:`_pickle_state`,
    the state as it is (modules and all). skops calls ``__getstate__`` itself: it
    gets :meth:`_portable_state` through :func:`portable_state` (modules as their
    classes and numpy arrays), which ``__setstate__`` restores. An estimator
    changes what either form holds by overriding the hook. Put the mixin before
    ``BaseEstimator`` among the bases.
    """

    def _pickle_state(self):
        return super().__getstate__()

    def _portable_state(self):
        return super().__getstate__()

    def __reduce_ex__(self, protocol):
        return pickle_reduce(self, self._pickle_state())

    def __getstate__(self):
        return portable_state(self._portable_state(), type(self).__name__)

    def __setstate__(self, state):
        super().__setstate__(restore_state(state))


# ------------------------------------------------------------------- tensors
def _array(tensor):
    tensor = tensor.detach().cpu().resolve_conj().resolve_neg()
    try:
        return tensor.numpy()
    except TypeError:  # bfloat16 and other types numpy lacks: exact in float32
        return tensor.float().numpy()


def tensors_to_arrays(value):
    """``value`` with every tensor in its dicts, lists and tuples made a numpy array."""
    if isinstance(value, torch.Tensor):
        return _array(value)
    if isinstance(value, dict):
        return {key: tensors_to_arrays(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(tensors_to_arrays(item) for item in value)
    return value


def arrays_to_tensors(value):
    """The inverse of :func:`tensors_to_arrays`: numpy arrays become CPU tensors."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value, copy=True))
    if isinstance(value, dict):
        return {key: arrays_to_tensors(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(arrays_to_tensors(item) for item in value)
    return value


def _holds_tensors(value):
    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, dict):
        return any(_holds_tensors(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_tensors(item) for item in value)
    return False


# ------------------------------------------------------------------- modules
def _is_plain(value):
    if type(value) in _PLAIN:
        return True
    if type(value) in (tuple, list):
        return all(_is_plain(item) for item in value)
    if type(value) is dict:
        return all(type(k) is str and _is_plain(v) for k, v in value.items())
    return False


def _portable_class(cls):
    """Whether ``cls`` is a torch module class of this package or of torch.nn, importable."""
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        return False
    if not cls.__module__.startswith(_PORTABLE_PACKAGES):
        return False
    try:
        found = getattr(importlib.import_module(cls.__module__), cls.__qualname__, None)
    except ImportError:
        return False
    return found is cls


def _unportable(owner, what, module, reason):
    cls = type(module)
    return TypeError(
        f"{owner} cannot be saved with skops: {what} is a {cls.__module__}.{cls.__qualname__}, "
        f"which {reason}. skops rebuilds a network from its classes, which must be "
        "sklearn_robust's modules or standard torch.nn layers holding only parameters, "
        "buffers, submodules and plain attributes. Save this estimator with pickle or "
        "joblib (for files you trust), or save the module's state_dict with torch.save."
    )


def encode_module(module, owner="The estimator", name="the module"):
    """A torch module as classes, plain attributes and numpy arrays (see the module docstring).

    Returns a dict: ``"modules"``, one entry per distinct module of the tree
    (the root first) with its ``class`` (a type reference), ``training``
    flag, plain ``attributes``, ``parameters`` and ``buffers`` (pairs of name
    and index into ``"tensors"``, or None) and ``children`` (pairs of name and
    index into ``"modules"``); ``"tensors"``, each a numpy array with its torch
    ``dtype`` and ``requires_grad``. Shared modules and tied weights stay shared.

    Raises
    ------
    TypeError
        When a module of the tree cannot be rebuilt from its class; it names
        the class and points to pickle and ``torch.save``.
    """
    modules, tensors = [], []
    module_index, tensor_index = {}, {}

    def tensor_ref(tensor):
        key = id(tensor)
        if key not in tensor_index:
            tensor_index[key] = len(tensors)
            tensors.append(
                {
                    "data": _array(tensor),
                    "dtype": str(tensor.dtype).removeprefix("torch."),
                    "requires_grad": bool(tensor.requires_grad),
                }
            )
        return tensor_index[key]

    def encode(submodule, path):
        key = id(submodule)
        if key in module_index:
            return module_index[key]
        what = name if not path else f"{name}'s submodule {path!r}"
        cls = type(submodule)
        if not _portable_class(cls):
            raise _unportable(
                owner,
                what,
                submodule,
                "is neither one of sklearn_robust's modules nor a torch.nn layer",
            )
        hooks = [hook for hook in _HOOKS if getattr(submodule, hook, None)]
        if hooks:
            raise _unportable(owner, what, submodule, f"has hooks registered ({', '.join(hooks)})")
        attributes = {}
        for attribute, value in vars(submodule).items():
            if attribute in _MODULE_INTERNALS or attribute == "training":
                continue
            if isinstance(value, torch.Size):
                value = tuple(value)
            if not _is_plain(value):
                raise _unportable(
                    owner,
                    what,
                    submodule,
                    f"holds {attribute}={type(value).__name__}, not a number, string or tuple",
                )
            attributes[attribute] = value
        for kind, values, wanted in (
            ("parameter", submodule._parameters, torch.nn.Parameter),
            ("buffer", submodule._buffers, torch.Tensor),
        ):
            for tensor_name, tensor in values.items():
                if tensor is not None and type(tensor) is not wanted:
                    raise _unportable(
                        owner,
                        what,
                        submodule,
                        f"has the {kind} {tensor_name!r} of type {type(tensor).__name__}",
                    )
        index = module_index[key] = len(modules)
        entry = {"class": cls, "training": bool(submodule.training), "attributes": attributes}
        modules.append(entry)
        entry["parameters"] = [
            [n, None if p is None else tensor_ref(p)] for n, p in submodule._parameters.items()
        ]
        entry["buffers"] = [
            [n, None if b is None else tensor_ref(b)] for n, b in submodule._buffers.items()
        ]
        entry["non_persistent_buffers"] = sorted(submodule._non_persistent_buffers_set)
        entry["children"] = [
            [n, None if child is None else encode(child, f"{path}.{n}" if path else n)]
            for n, child in submodule._modules.items()
        ]
        return index

    encode(module, "")
    return {"modules": modules, "tensors": tensors}


def decode_module(encoded):
    """The torch module (on the CPU) that :func:`encode_module` encoded."""
    tensors = []
    for entry in encoded["tensors"]:
        dtype = getattr(torch, str(entry["dtype"]), None)
        if not isinstance(dtype, torch.dtype):
            raise ValueError(f"Unknown tensor dtype {entry['dtype']!r} in a saved module.")
        tensors.append(torch.from_numpy(np.array(entry["data"], copy=True)).to(dtype))
    parameters = {}

    def parameter(index):
        if index not in parameters:
            requires_grad = bool(encoded["tensors"][index]["requires_grad"])
            parameters[index] = torch.nn.Parameter(tensors[index], requires_grad=requires_grad)
        return parameters[index]

    modules = []
    for entry in encoded["modules"]:
        cls = entry["class"]
        if not _portable_class(cls):  # whatever the file says, only these are built
            raise TypeError(f"A saved module has the class {cls!r}, which is not rebuilt.")
        attributes = entry["attributes"]
        if not _is_plain(attributes) or not set(attributes).isdisjoint(_MODULE_INTERNALS):
            raise ValueError(f"A saved {cls.__name__} has attributes that are not plain values.")
        module = cls.__new__(cls)
        torch.nn.Module.__init__(module)
        vars(module).update(copy.deepcopy(attributes))
        module.training = bool(entry["training"])
        modules.append(module)
    for module, entry in zip(modules, encoded["modules"], strict=True):
        for name, index in entry["parameters"]:
            module._parameters[name] = None if index is None else parameter(index)
        for name, index in entry["buffers"]:
            module._buffers[name] = None if index is None else tensors[index]
        module._non_persistent_buffers_set.update(entry["non_persistent_buffers"])
        for name, index in entry["children"]:
            module._modules[name] = None if index is None else modules[index]
    return modules[0]


# -------------------------------------------------------------- whole states
def portable_state(state, owner):
    """A copy of an estimator's ``state`` that skops can save; see the module docstring.

    Torch modules are encoded (:func:`encode_module`), tensors (also inside
    dicts, lists and tuples) made numpy arrays, a skorch ``History`` a list,
    and a scikit-learn object holding tensor attributes (a fitted penalty) is
    copied with those made numpy arrays. The key ``PORTABLE`` records what was
    converted, for :func:`restore_state`.
    """
    portable, converted = {}, {}
    for name, value in state.items():
        if isinstance(value, torch.nn.Module):
            portable[name] = encode_module(value, owner, name)
            converted[name] = ["module"]
        elif isinstance(value, History):
            portable[name] = list(value)
            converted[name] = ["history"]
        elif isinstance(value, NeuralNet):
            raise TypeError(
                f"{owner} cannot be saved with skops: {name} is a skorch net "
                f"({type(value).__name__}), which skops cannot rebuild without pickle. Pass "
                "the net's module_ (or the estimator that trained it) instead, or save with "
                "pickle or joblib (for files you trust)."
            )
        elif _holds_tensors(value):
            portable[name] = tensors_to_arrays(value)
            converted[name] = ["tensors"]
        elif isinstance(value, BaseEstimator) and any(
            isinstance(item, torch.Tensor) for item in vars(value).values()
        ):
            names = sorted(k for k, v in vars(value).items() if isinstance(v, torch.Tensor))
            value = copy.copy(value)
            vars(value).update({k: _array(getattr(value, k)) for k in names})
            portable[name] = value
            converted[name] = ["attributes", names]
        else:
            portable[name] = value
    portable[PORTABLE] = converted
    return portable


def restore_state(state):
    """The state :func:`portable_state` made portable, with its torch objects back.

    A state that is not portable (a pickled one) is returned as it is.
    """
    if PORTABLE not in state:
        return state
    state = dict(state)
    for name, (kind, *details) in state.pop(PORTABLE).items():
        value = state[name]
        if kind == "module":
            state[name] = decode_module(value)
        elif kind == "history":
            state[name] = History(value)
        elif kind == "tensors":
            state[name] = arrays_to_tensors(value)
        elif kind == "attributes":
            for attribute in details[0]:
                setattr(value, attribute, arrays_to_tensors(getattr(value, attribute)))
        else:
            raise ValueError(f"Unknown kind of saved attribute {kind!r} for {name!r}.")
    return state
