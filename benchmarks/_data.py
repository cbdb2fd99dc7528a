"""Benchmark data: the real MNIST training subset when ../shared/data holds it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sklearn_robust.datasets import load_mnist

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def mnist_train(n_samples: int) -> tuple[np.ndarray, np.ndarray, str]:
    """``(X, y, description)``: MNIST pixels in [0, 1], or uniform noise of that shape."""
    if MNIST_DIR.exists():
        X, y = load_mnist(MNIST_DIR, split="train", return_X_y=True)
        return X[:n_samples], y[:n_samples], "MNIST (5k training images)"
    rng = np.random.default_rng(0)
    X = rng.random((n_samples, 784), dtype=np.float32)
    return X, np.arange(n_samples) % 10, "uniform noise (MNIST not found)"


CIFAR_FILE = MNIST_DIR.parent / "cifar10-subset" / "cifar10-subset.npz"


def cifar_train() -> tuple[np.ndarray, np.ndarray, str]:
    """``(X, y, description)``: the CIFAR-10 training subset, flattened, in [0, 1]."""
    if CIFAR_FILE.exists():
        with np.load(CIFAR_FILE) as data:
            X = data["X_train"].reshape(len(data["X_train"]), -1).astype(np.float32) / 255
            return X, data["y_train"].astype(np.int64), "CIFAR-10 subset (4,660 images)"
    rng = np.random.default_rng(0)
    X = rng.random((4660, 3072), dtype=np.float32)
    return X, np.arange(4660) % 10, "uniform noise (CIFAR-10 subset not found)"
