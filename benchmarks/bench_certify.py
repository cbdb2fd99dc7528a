"""certify against ART's randomized smoothing (Cohen et al.'s CERTIFY) on the same torch MLP.

One RobustNetClassifier (784-256-10, 5 epochs on the 5k MNIST training images)
is certified in this one process by this package's ``certify`` and by ART's
``PyTorchRandomizedSmoothing.certify`` on the same torch module and the same
held-out images (the MNIST test split; uniform noise when MNIST is absent),
with sigma=0.25, n0=100 and alpha=0.001. The two take turns for ``--repeats``
rounds and the fastest round of each counts. They cannot share noise, so their
agreement (identical labels, radius differences) is statistical.

    python benchmarks/bench_certify.py [--threads 1] [--examples 200] [--n 1000 10000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import beta

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._data import MNIST_DIR, mnist_train
from sklearn_robust import RobustNetClassifier
from sklearn_robust.datasets import load_mnist
from sklearn_robust.robustness import certify

SIGMA, N0, ALPHA = 0.25, 100, 0.001
RADIUS = 0.5  # where the certified accuracies are compared
LARGE_N_EXAMPLES = 50  # examples for n > 1000, where ART takes ~0.4 s per example


def mnist_test(n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)``: the first MNIST test images, or uniform noise when MNIST is absent."""
    if MNIST_DIR.exists():
        X, y = load_mnist(MNIST_DIR, split="test", return_X_y=True)
        return X[:n_samples], y[:n_samples]
    rng = np.random.default_rng(1)
    return rng.random((n_samples, 784), dtype=np.float32), np.arange(n_samples) % 10


def art_smoothing(module, n_classes):
    from art.estimators.certification.randomized_smoothing import PyTorchRandomizedSmoothing

    smoothed = PyTorchRandomizedSmoothing(
        model=module,
        loss=torch.nn.CrossEntropyLoss(),
        input_shape=(784,),
        nb_classes=n_classes,
        device_type="cpu",
        sample_size=N0,
        scale=SIGMA,
        alpha=ALPHA,
    )
    try:
        import statsmodels  # noqa: F401 - ART's Clopper-Pearson bound needs it
    except ImportError:
        # The same one-sided bound (statsmodels' "beta" interval at 2 alpha), from scipy.
        def lower_bound(n_class_samples, n_total_samples):
            if n_class_samples == 0:
                return 0.0
            return beta.ppf(ALPHA, n_class_samples, n_total_samples - n_class_samples + 1)

        smoothed._lower_confidence_bound = lower_bound
        print("statsmodels is not installed: ART's bound is computed with scipy's beta.ppf")
    return smoothed


def timed(run):
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def compare(clf, smoothed, X, y, n, repeats):
    """Fastest time of each over ``repeats`` rounds (taking turns), and the last results."""
    runs = {
        "ours": lambda: certify(clf, X, SIGMA, N0, n, ALPHA, random_state=0),
        # Its best case: all n draws of an example in one forward pass.
        "ART": lambda: smoothed.certify(X, n=n, batch_size=n),
    }
    best, results = {name: float("inf") for name in runs}, {}
    for _ in range(repeats):
        for name, run in runs.items():
            seconds, results[name] = timed(run)
            best[name] = min(best[name], seconds)
    return best, results


def certified_accuracy(labels, radii, y):
    return float(np.mean((labels == y) & (radii >= RADIUS)))


def report(n, y, best, results):
    print(f"\nn={n}, {len(y)} examples")
    print(f"{'':<12}{'examples/s':>12}{'cert. acc @ 0.5':>18}{'abstained':>12}")
    for name, shown in (("ours", "certify"), ("ART", "ART")):
        labels, radii = results[name]
        rate, accuracy = len(y) / best[name], certified_accuracy(labels, radii, y)
        print(f"{shown:<12}{rate:>12.1f}{accuracy:>18.3f}{np.mean(labels == -1):>12.3f}")
    (ours, ours_radii), (art, art_radii) = results["ours"], results["ART"]
    print(f"speed-up over ART: {best['ART'] / best['ours']:.2f}x")
    print(
        f"identical labels (abstentions included): {np.mean(ours == art):.3f}; "
        f"mean |radius difference|: {np.mean(np.abs(ours_radii - art_radii)):.4f}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--n", type=int, nargs="+", default=[1000])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    X_train, y_train, source = mnist_train(5000)
    clf = RobustNetClassifier(
        module__hidden_sizes=(256,), max_epochs=5, device="cpu", random_state=0
    ).fit(X_train, y_train)
    X, y = mnist_test(args.examples)
    smoothed = art_smoothing(clf.to_torch_module(), len(clf.classes_))
    np.random.seed(0)  # noqa: NPY002 - ART draws its noise from the legacy global RNG
    print(
        f"data: {source}; certified: {len(X)} held-out images; clean accuracy {clf.score(X, y):.3f}"
    )
    print(
        f"sigma={SIGMA}, n0={N0}, alpha={ALPHA}; threads: {args.threads}, torch {torch.__version__}"
    )
    certify(clf, X[:2], SIGMA, N0, 100, ALPHA, random_state=0)  # warm-up of both paths
    smoothed.certify(X[:2], n=100, batch_size=100)
    for n in args.n:
        examples = slice(None) if n <= 1000 else slice(LARGE_N_EXAMPLES)
        best, results = compare(clf, smoothed, X[examples], y[examples], n, args.repeats)
        report(n, y[examples], best, results)


if __name__ == "__main__":
    main()
