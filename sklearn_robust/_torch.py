"""Torch plumbing shared by every estimator: device choice, float32 conversion, seeding."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils import check_random_state

__all__ = [
    "binary_exponent",
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


def to_tensor(X, device="cpu") -> torch.Tensor:
    """Convert an array-like to a contiguous float32 tensor on ``device``."""
    if isinstance(X, torch.Tensor):
        return X.to(device=device, dtype=DTYPE)
    array = np.ascontiguousarray(X, dtype=np.float32)
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
