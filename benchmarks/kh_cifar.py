"""The KH hybrid of Holzhausen et al. on the CIFAR-10 subset, on the CPU.

A Krotov-Hopfield encoder (2000 units, p=3, k=2, delta=0.4, ReLU power n=4.5,
each image scaled to unit 3-norm, as in the authors' ``llearn_CIFAR.py``) is
learned on the 4,660 training images of ``../shared/data/cifar10-subset``; a
linear read-out on the standardised hidden layer is trained on the labels and
scored on the 846 test images, next to PCA(100) + logistic regression. See the
section "KH hybrid on the CIFAR-10 subset" of benchmarks/README.md for the
settings, the deviations from the paper and the results. From the project root:

    python benchmarks/kh_cifar.py                # 200 epochs, about 13 min on 1 thread
    python benchmarks/kh_cifar.py --input raw    # pixels in [0, 1], no per-image norm
    python benchmarks/kh_cifar.py --epochs 20    # a quick run, far from converged
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from sklearn_robust import KHEncoder
from sklearn_robust.datasets import load_cifar10

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-subset"


def unit_p_norm(X, p=3.0):
    """Scale each row to unit p-norm (the authors' ``LpUnitCIFAR10`` with p=3)."""
    X = np.asarray(X, dtype=np.float32)
    norms = (np.abs(X) ** p).sum(axis=1, keepdims=True) ** (1.0 / p)
    return X / np.maximum(norms, np.finfo(np.float32).tiny)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA / "cifar10-subset.npz")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--learning-rate", type=float, default=0.15)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--input", choices=["unit-norm", "raw"], default="unit-norm")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    X_train, y_train = load_cifar10(args.data, split="train", return_X_y=True)
    X_test, y_test = load_cifar10(args.data, split="test", return_X_y=True)

    baseline = make_pipeline(PCA(100, random_state=0), LogisticRegression(max_iter=2000))
    baseline.fit(X_train, y_train)
    print(f"PCA(100) + logistic regression: test accuracy {baseline.score(X_test, y_test):.3f}")

    encoder = KHEncoder(
        n_components=2000,
        p=3.0,
        k=2,
        delta=0.4,
        power=4.5,
        learning_rate=args.learning_rate,
        n_epochs=args.epochs,
        batch_size=args.batch_size,
        device="cpu",
        random_state=args.seed,
        verbose=1,
    )
    scale = FunctionTransformer(unit_p_norm if args.input == "unit-norm" else None)
    hybrid = Pipeline(
        [
            ("norm", scale),
            ("kh", encoder),
            ("scale", StandardScaler()),
            ("clf", LogisticRegression(max_iter=2000)),
        ]
    )
    started = time.perf_counter()
    hybrid[:2].fit(X_train)
    fit_seconds = time.perf_counter() - started
    hidden_train = hybrid[:2].transform(X_train)
    hybrid[2:].fit(hidden_train, y_train)
    n_winners = int(encoder.winner_mask_.sum())
    print(
        f"KH encoder: {args.epochs} epochs in {fit_seconds:.0f} s; "
        f"{encoder.converged_fraction_:.1%} of the {n_winners} winning units converged "
        f"(winner fraction {encoder.winner_fraction_:.2f}); median deviation of all units "
        f"{np.median(encoder.unit_norm_deviation_):.3g}; "
        f"{int((encoder.unit_norm_deviation_ < encoder.norm_tol).sum())} of 2000 units "
        "within norm_tol"
    )
    print(f"KH hybrid (logistic read-out): test accuracy {hybrid.score(X_test, y_test):.3f}")
    pruned = (encoder.synapse_variance_ > 0.0015).sum()
    print(f"units with synapse variance above 0.0015 (the paper's pruning): {pruned}")


if __name__ == "__main__":
    main()
