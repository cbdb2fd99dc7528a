"""Torch plumbing shared by every estimator: devices, float32 conversion, seeding, eval mode.

Also the chunked forward pass (:func:`forward_in_chunks`), so that no estimator
writes its own loop over slices of X.
"""

from __future__ import annotations

import itertools
from contextlib import contextmanager

import numpy as np
import torch
from sklearn.utils import check_random_state

__all__ = [
    "binary_exponent",
    "eval_mode",
    "forward_in_chunks",
    "module_device",
    "resolve_device",
    "seed_from",
    "to_numpy",
    "to_tensor",
    "torch_generator",
]

DTYPE = torch.float32


def resolve_device(device="auto") -> torch.device:
    """Turn a ``device`` parameter into a :class:`torch.device`.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}, str or torch.device, default="auto"
        ``"auto"`` picks CUDA when it is available and the CPU otherwise.
        Anything else is passed to :class:`torch.device`.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        If a CUDA device is asked for and none is available, or the name is unknown.

    Examples
    --------
    >>> from sklearn_robust._torch import resolve_device
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or a torch.device; got {device!r}."
        ) from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available here.")
    return resolved


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of a module: that of its first parameter, else of its first buffer.

    A module with neither (an activation, a wrapper around a function) runs
    anywhere; it counts as being on the CPU.

    Examples
    --------
    >>> import torch
    >>> from sklearn_robust._torch import module_device
    >>> module_device(torch.nn.Linear(2, 3)), module_device(torch.nn.ReLU())
    (device(type='cpu'), device(type='cpu'))
    """
    tensor = next(itertools.chain(module.parameters(), module.buffers()), None)
    return torch.device("cpu") if tensor is None else tensor.device


@contextmanager
def eval_mode(module: torch.nn.Module):
    """Put ``module`` and all its submodules in eval mode for the block, then restore each flag.

    Each submodule gets back its own ``training`` flag, not the top module's:
    ``module.train(was_training)`` would set every submodule to the top one's
    flag, so a network in training mode with a part deliberately kept in eval
    mode (a frozen pretrained encoder, batch-norm statistics held fixed) would
    come out of an evaluation with that part training again, and the next
    training step would quietly update what was meant to stay fixed.

    Parameters
    ----------
    module : torch.nn.Module

    Yields
    ------
    module : torch.nn.Module
        The same module, in eval mode.

    Examples
    --------
    >>> import torch
    >>> from sklearn_robust._torch import eval_mode
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout()).train()
    >>> _ = net[1].eval()
    >>> with eval_mode(net):
    ...     net.training
    False
    >>> net.training, net[1].training
    (True, False)
    """
    flags = [(submodule, submodule.training) for submodule in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for submodule, training in flags:
            submodule.training = training


def forward_in_chunks(function, X, chunk_size: int):
    """``function`` applied to ``X`` a chunk of rows at a time, the results concatenated.

    Bounds the memory of a forward pass (and of the float32 copy of a NumPy
    chunk) over a large X. Gradients and the train/eval mode are the caller's:
    wrap the call in :func:`torch.no_grad` and :func:`eval_mode` as needed.

    Parameters
    ----------
    function : callable
        Maps ``X[start : start + chunk_size]`` to one row of output per row of
        the chunk: a tensor, an ndarray, or a tuple of them.
    X : torch.Tensor or ndarray
        Split along its first axis.
    chunk_size : int
        Rows per call, at least 1.

    Returns
    -------
    torch.Tensor, ndarray or tuple of them
        The chunks' results concatenated along the first axis (a tuple element
        by element). An empty X is passed to ``function`` once, as it is, so the
        result has the shape and dtype ``function`` gives for no rows.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_robust._torch import forward_in_chunks
    >>> forward_in_chunks(lambda rows: rows.sum(axis=1), np.ones((5, 2)), chunk_size=2)
    array([2., 2., 2., 2., 2.])
    """
    n_rows = X.shape[0]
    pieces = [
        function(X[start : start + chunk_size]) for start in range(0, max(n_rows, 1), chunk_size)
    ]
    return _concatenate(pieces)


def _concatenate(pieces):
    first = pieces[0]
    if isinstance(first, tuple):
        return tuple(_concatenate(list(column)) for column in zip(*pieces, strict=True))
    if len(pieces) == 1:
        return first
    if isinstance(first, torch.Tensor):
        return torch.cat(pieces)
    return np.concatenate(pieces)


def to_tensor(X, device="cpu") -> torch.Tensor:
    """Convert an array-like to a contiguous float32 tensor on ``device``."""
    if isinstance(X, torch.Tensor):
        return X.to(device=device, dtype=DTYPE)
    array = np.ascontiguousarray(X, dtype=np.float32)
    if not array.flags.writeable:  # a read-only input (a memmap, a frozen array): torch warns
        array = array.copy()
    return torch.from_numpy(array).to(device)


def binary_exponent(*arrays) -> int:
    """The ``e`` with every ``|x| < 2^e`` in ``arrays``, the largest at least ``2^(e-1)``.

    0 for arrays of zeros or no values. Dividing by ``2^e`` (``np.ldexp(X, -e)``)
    is exact in binary floating point and brings data of any scale into
    ``[-1, 1]``, where float32 products cannot overflow.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_robust._torch import binary_exponent
    >>> binary_exponent(np.array([3.0, -5.0]))
    3
    """
    largest = max((max(float(np.max(a)), -float(np.min(a))) for a in arrays if a.size), default=0.0)
    return int(np.frexp(largest)[1])


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """Detach a tensor, move it to the CPU and return it as a NumPy array."""
    return tensor.detach().cpu().numpy()


def seed_from(random_state) -> int:
    """Draw an integer seed from anything :func:`check_random_state` accepts.

    The same ``random_state`` integer always gives the same seed, so torch code
    seeded from it is reproducible; ``None`` gives a fresh seed each call.
    """
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


def torch_generator(random_state) -> torch.Generator:
    """A CPU :class:`torch.Generator` seeded from ``random_state``.

    Random tensors are drawn on the CPU and then moved, so that a model seeded the
    same way starts from the same numbers on every device.
    """
    generator = torch.Generator(device="cpu")
    generator.manual_seed(seed_from(random_state))
    return generator
