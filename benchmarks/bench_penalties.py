"""Epoch time of each penalty against plain cross-entropy on the same model and data.

The anchor is what the penalty is added to: RobustNetClassifier with no penalty,
the same MLP, data, batch size and device. Every configuration trains in this one
process, taking turns round by round, and the median epoch time of each counts.

    python benchmarks/bench_penalties.py [--device cpu] [--hidden 1000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._data import mnist_train
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


def epoch_times(X, y, penalty, args) -> list[float]:
    clf = RobustNetClassifier(
        penalty=penalty,
        max_epochs=args.epochs,
        batch_size=args.batch,
        device=args.device,
        random_state=0,
        module__hidden_sizes=(args.hidden,),
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--hidden", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    X, y, source = mnist_train(5000)
    configs = configurations()
    times = {name: [] for name in configs}
    for _ in range(args.rounds):
        for name, penalty in configs.items():
            times[name] += epoch_times(X, y, penalty, args)

    anchor = np.median(times["cross-entropy (anchor)"])
    print(f"data: {source}, {X.shape}, MLP 784-{args.hidden}-10, batch {args.batch}")
    print(f"device: {args.device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"{'loss':<26}{'epoch (s)':>10}{'ratio':>8}{'target':>8}")
    for name in configs:
        median = np.median(times[name])
        target = f"<={TARGETS[name]:.1f}x" if name in TARGETS else ""
        print(f"{name:<26}{median:>10.3f}{median / anchor:>7.2f}x{target:>8}")


if __name__ == "__main__":
    main()
