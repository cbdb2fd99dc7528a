"""A ConvNet, a ResNet-20 and its plain twin on the CIFAR-10 subset: accuracy, robustness, probes.

Trains the three networks with CIFAR's standard augmentation (random crops and
flips) and a cosine learning-rate schedule, then measures for each: the test
accuracy, the accuracy under PGD (L-inf, eps 2/255, 10 steps, on 300 test
images), the median L2 critical distance (PGD, 100 test images), and how well a
linear probe reads the class from each stage's vector codes (Lee and Vijayan's
per-channel max, mean, standard deviation and centre of mass).

    python examples/cifar10_networks.py                    # about 15 minutes on 2 CPU cores
    python examples/cifar10_networks.py --epochs 4 --data path/to/cifar-10-python.tar.gz

By default it reads this repository's real subset of CIFAR-10
(``../shared/data/cifar10-subset/cifar10-subset.npz`` from the project root,
4,660 training and 846 test images). A quick run, as the tests make, writes and
uses a tiny CIFAR-like file of coloured noise instead:

    SKLEARN_ROBUST_EXAMPLE_QUICK=1 python examples/cifar10_networks.py
"""

# %%
import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import LRScheduler

from sklearn_robust import LayerActivations
from sklearn_robust.datasets import load_cifar10
from sklearn_robust.nn import ConvNet, RandomCropFlip, ResNet, RobustNetClassifier
from sklearn_robust.robustness import critical_distance, pgd

QUICK = os.environ.get("SKLEARN_ROBUST_EXAMPLE_QUICK") == "1"  # a run of seconds, for the tests
SUBSET = Path(__file__).resolve().parents[2] / "shared/data/cifar10-subset/cifar10-subset.npz"


def tiny_cifar(path="tiny-cifar.npz", n_samples=120):
    """A CIFAR-like .npz of coloured noise whose class is its brightest channel."""
    rng = np.random.default_rng(0)
    images = (rng.random((n_samples, 32, 32, 3)) * 128).astype(np.uint8)
    labels = np.arange(n_samples) % 3
    images[np.arange(n_samples), :, :, labels] += 100
    half = n_samples // 2
    np.savez(path, X_train=images[:half], y_train=labels[:half], X_test=images[half:],
             y_test=labels[half:])  # fmt: skip
    return path


def networks(epochs):
    """The three models, each trained for ``epochs`` with a cosine learning-rate schedule."""
    if QUICK:
        resnet = {"module__blocks": (1, 1, 1), "module__widths": (4, 8, 16)}
        convnet = {"module__widths": (4, 8)}
    else:
        resnet, convnet = {}, {}  # ResNet-20 (0.27 M parameters); ConvNet 32-64-128
    common = {
        "module__input_shape": (3, 32, 32), "max_epochs": epochs, "batch_size": 64, "lr": 2e-3,
        "augmentation": RandomCropFlip(), "random_state": 0,
        "callbacks": [LRScheduler(policy="CosineAnnealingLR", T_max=epochs)],
    }  # fmt: skip
    return {
        "convnet": RobustNetClassifier(ConvNet, **convnet, **common),
        "resnet": RobustNetClassifier(ResNet, **resnet, **common),
        "plain": RobustNetClassifier(ResNet, module__residual=False, **resnet, **common),
    }


def stage_probe_accuracy(clf, X, y, stage):
    """Held-out accuracy of a logistic regression on one stage's vector codes."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(
        LayerActivations(clf, stage, pooling="vector_code"),
        StandardScaler(),
        LogisticRegression(max_iter=1000),
    )
    return cross_val_score(probe, X, y, cv=3).mean()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="CIFAR-10 files (default: the subset)")
    parser.add_argument("--epochs", type=int, default=1 if QUICK else 15)
    args = parser.parse_args(argv)
    data = args.data or (tiny_cifar() if QUICK else SUBSET)
    X_train, y_train = load_cifar10(data, split="train", return_X_y=True)
    X_test, y_test = load_cifar10(data, split="test", return_X_y=True)
    n_attack, n_distance = (20, 10) if QUICK else (300, 100)
    print(f"{len(X_train)} training and {len(X_test)} test images; {args.epochs} epochs each, "
          f"{torch.get_num_threads()} torch threads")  # fmt: skip
    print("model     parameters  train s  test acc  PGD acc  median L2 dist  "
          "probe acc per stage")  # fmt: skip
    for name, clf in networks(args.epochs).items():
        start = time.perf_counter()
        clf.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        n_params = sum(p.numel() for p in clf.module_.parameters())
        Xa, ya = X_test[:n_attack], y_test[:n_attack]
        adversarial = pgd(clf, Xa, ya, eps=2 / 255, norm="linf", clip=(0, 1), random_state=0)
        distances = critical_distance(
            clf, X_test[:n_distance], y_test[:n_distance], attack="pgd", norm="l2",
            clip=(0, 1), random_state=0,
        )  # fmt: skip
        stages = clf.module_.hidden_layer_names()
        probes = [stage_probe_accuracy(clf, X_test, y_test, stage) for stage in stages]
        print(
            f"{name:<9} {n_params:>10,}  {seconds:>7.0f}  {clf.score(X_test, y_test):>8.3f}  "
            f"{clf.score(adversarial, ya):>7.3f}  {np.median(distances):>14.3f}  "
            + " ".join(f"{p:.2f}" for p in probes)
        )


if __name__ == "__main__":
    main()
