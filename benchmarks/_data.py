"""Benchmark data: the real MNIST training subset when ../shared/data holds it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sklearn_robust.datasets import load_cifar10, load_mnist

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
CIFAR_SIZES = {"train": 4660, "test": 846}


def cifar(split: str = "train") -> tuple[np.ndarray, np.ndarray, str]:
    """``(X, y, description)``: a split of the CIFAR-10 subset as ``load_cifar10`` gives it
    (float32 rows in [0, 1], channel-first: red plane, green, blue), or uniform noise of
    that shape."""
    n_samples = CIFAR_SIZES[split]
    if CIFAR_FILE.exists():
        X, y = load_cifar10(CIFAR_FILE, split=split, return_X_y=True)
        return X, y, f"CIFAR-10 subset ({len(X):,} {split} images)"
    rng = np.random.default_rng(0 if split == "train" else 1)
    X = rng.random((n_samples, 3072), dtype=np.float32)
    return X, np.arange(n_samples) % 10, "uniform noise (CIFAR-10 subset not found)"


def cifar_train() -> tuple[np.ndarray, np.ndarray, str]:
    """``(X, y, description)``: the CIFAR-10 training subset, channel-first rows in [0, 1]."""
    return cifar("train")
