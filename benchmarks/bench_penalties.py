"""Epoch time of each penalty against plain cross-entropy on the same model and data.

The anchor is what the penalty is added to: RobustNetClassifier with no penalty,
the same MLP, data, batch size and device. Every configuration trains in this one
process, taking turns round by round, and the median epoch time of each counts.

Two settings, the papers' own:
- holzhausen: CIFAR-10 images (the subset in ../shared/data), one ReLU hidden
  layer of 1000 units, minibatches of 1000 (Holzhausen et al., methods);
- isometric: MNIST (the 5k training images), four tanh layers of 100 units,
  minibatches of 100 (the isometric-representations paper, section 2.2).

    python benchmarks/bench_penalties.py [--setting holzhausen|isometric|both] [--device cpu]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._data import cifar_train, mnist_train
from sklearn_robust.nn import (
    IsometryPenalty,
    JacobianPenalty,
    L2Penalty,
    RobustNetClassifier,
    SpectralPenalty,
)

# The budgets: epoch time relative to plain cross-entropy.
TARGETS = {"isometry": 1.3, "jacobian (n_proj=1)": 2.0, "spectral": 1.5}


def configurations():
    return {
        "cross-entropy (anchor)": None,
        "l2": L2Penalty(1e-4),
        "jacobian (n_proj=1)": JacobianPenalty(1e-2, n_proj=1),
        "jacobian (n_proj=3)": JacobianPenalty(1e-2, n_proj=3),
        "spectral": SpectralPenalty(1e-2),
        "isometry": IsometryPenalty(1e-2),
    }


SETTINGS = {
    "holzhausen": {"data": "cifar", "hidden": (1000,), "activation": "relu", "batch": 1000},
    "isometric": {"data": "mnist", "hidden": (100,) * 4, "activation": "tanh", "batch": 100},
}


def epoch_times(X, y, penalty, setting, args) -> list[float]:
    clf = RobustNetClassifier(
        penalty=penalty,
        max_epochs=args.epochs,
        batch_size=setting["batch"],
        device=args.device,
        random_state=0,
        module__hidden_sizes=setting["hidden"],
        module__activation=setting["activation"],
    )
    started = time.perf_counter()
    clf.fit(X, y)
    if args.device == "cuda":
        torch.cuda.synchronize()
    total = time.perf_counter() - started
    # skorch's per-epoch durations include the epoch hooks (the spectral
    # penalty's eigenvectors); the first epoch carries warm-up, so it is dropped.
    durations = list(clf.history_[:, "dur"])[1:]
    return durations or [total]


def run_setting(name, args):
    setting = SETTINGS[name]
    X, y, source = cifar_train() if setting["data"] == "cifar" else mnist_train(5000)
    configs = configurations()
    times = {config: [] for config in configs}
    for _ in range(args.rounds):
        for config, penalty in configs.items():
            times[config] += epoch_times(X, y, penalty, setting, args)

    anchor = np.median(times["cross-entropy (anchor)"])
    widths = "-".join(str(w) for w in (X.shape[1], *setting["hidden"], 10))
    print(f"\n[{name}] {source}, MLP {widths} ({setting['activation']}), batch {setting['batch']}")
    print(f"{'loss':<26}{'epoch (s)':>10}{'ratio':>8}{'target':>8}")
    for config in configs:
        median = np.median(times[config])
        target = f"<={TARGETS[config]:.1f}x" if config in TARGETS else ""
        print(f"{config:<26}{median:>10.3f}{median / anchor:>7.2f}x{target:>8}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=[*SETTINGS, "both"], default="both")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"device: {args.device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    for name in SETTINGS if args.setting == "both" else [args.setting]:
        run_setting(name, args)


if __name__ == "__main__":
    main()
