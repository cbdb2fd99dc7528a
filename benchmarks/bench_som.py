"""SOMProbe against MiniSom and QuickSOM: training throughput, quantization error, BMU search.

A 20 x 20 cosine map (toroidal for SOMProbe and QuickSOM; MiniSom has no torus, so
its map is planar) trained for 5 epochs on N=10000 synthetic 512-d "vector
codes" (ReLU of 50 Gaussian clusters), sigma=10, learning rate 0.1, in this one
process with one torch thread and one BLAS thread.

- SOMProbe: mini-batches of 10, QuickSOM's exp decay.
- QuickSOM: its own mini-batch step (``SOM.__call__``, batches of 10, exp decay,
  cosine metric passed in), driven by the same loop its ``fit`` runs but without
  its DataLoader and its post-fit U-matrix and clustering, which are not training.
- MiniSom: online (one sample per update, as it only does), ``5 N`` iterations
  in random order, its default asymptotic decay.

The final quantization error is the same measure for all three: the mean cosine
distance of each sample to its nearest unit. BMU search is one pass over all N
samples with each library's own vectorised distance computation.

    python benchmarks/bench_som.py [--samples 10000] [--epochs 5] [--minisom-epochs 5]
"""

from __future__ import annotations

import argparse
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn_robust import SOMProbe
from sklearn_robust.som import decay_factor

ROWS = COLS = 20
SIGMA, ALPHA, BATCH = 10.0, 0.1, 10


def vector_codes(n_samples, n_features, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(50, n_features))
    labels = rng.integers(0, 50, n_samples)
    X = np.maximum(centres[labels] + 0.7 * rng.normal(size=(n_samples, n_features)), 0)
    return X.astype(np.float32)


def cosine_qe(X, weights):
    """Mean cosine distance from each sample to its nearest unit (float64)."""
    W = weights.reshape(-1, X.shape[1]).astype(np.float64)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    Wn = W / np.linalg.norm(W, axis=1, keepdims=True)
    return float((1.0 - (Xn @ Wn.T).max(axis=1)).mean())


def timed(run):
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def bench_somprobe(X, epochs):
    som = SOMProbe(
        ROWS,
        COLS,
        sigma=SIGMA,
        learning_rate=ALPHA,
        n_epochs=epochs,
        batch_size=BATCH,
        device="cpu",
        random_state=0,
    )
    seconds, _ = timed(lambda: som.fit(X))
    search, _ = timed(lambda: som.predict(X))
    return seconds, cosine_qe(X, som.weights_), search


def _cosine_metric(x, centroids):
    """QuickSOM's metric interface: ``(BS, 1, dim), (units, dim) -> (BS, 1, units)``."""
    xn = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    cn = centroids / centroids.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return 1.0 - xn @ cn.T


def _import_quicksom():
    try:
        import skimage.feature
    except ImportError:  # only its post-fit clustering uses scikit-image
        skimage = types.ModuleType("skimage")
        skimage.feature = types.ModuleType("skimage.feature")
        skimage.feature.peak_local_max = None
        sys.modules.update({"skimage": skimage, "skimage.feature": skimage.feature})
    from quicksom.som import SOM

    return SOM


def bench_quicksom(X, epochs):
    SOM = _import_quicksom()
    np.random.seed(0)  # noqa: NPY002 - QuickSOM draws its initial weights from the global RNG
    som = SOM(
        ROWS,
        COLS,
        X.shape[1],
        alpha=ALPHA,
        sigma=SIGMA,
        sched="exp",
        periodic=True,
        metric=_cosine_metric,
    )
    data = torch.from_numpy(X)
    rng = np.random.default_rng(0)
    total = len(X) * epochs

    def train():
        for _ in range(epochs):
            shuffled = data[torch.from_numpy(rng.permutation(len(X)))]
            for start in range(0, len(X), BATCH):
                factor = som.scheduler(som.step, total)
                som(shuffled[start : start + BATCH], learning_rate_op=factor)
                som.step += BATCH

    seconds, _ = timed(train)

    def search():
        chunks = range(0, len(X), 1000)
        return torch.cat([som.inference_call(data[i : i + 1000])[0] for i in chunks])

    search_seconds, _ = timed(search)
    return seconds, cosine_qe(X, som.centroids.numpy()), search_seconds


def bench_minisom(X, epochs):
    from minisom import MiniSom

    som = MiniSom(
        ROWS,
        COLS,
        X.shape[1],
        sigma=SIGMA,
        learning_rate=ALPHA,
        activation_distance="cosine",
        random_seed=0,
    )
    seconds, _ = timed(lambda: som.train(X, epochs * len(X), random_order=True))
    search, _ = timed(lambda: som._distance_from_weights(X).argmin(axis=1))
    return seconds, cosine_qe(X, som.get_weights()), search


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--features", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--minisom-epochs", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    X = vector_codes(args.samples, args.features)
    print(
        f"{ROWS}x{COLS} cosine map, N={args.samples}, D={args.features}, sigma={SIGMA}, "
        f"alpha={ALPHA}, batch {BATCH}, torch {torch.__version__}, 1 thread"
    )
    print(f"exp decay ends at {decay_factor(1, 1, 'exp'):.4f} of the initial values")
    print(
        f"{'library':<22} {'epochs':>6} {'fit s':>8} {'samples/s':>10} {'cosine QE':>10} "
        f"{'BMU search s':>12}"
    )
    runs = [
        ("SOMProbe (torus)", bench_somprobe, args.epochs),
        ("QuickSOM (torus)", bench_quicksom, args.epochs),
        ("MiniSom (planar)", bench_minisom, args.minisom_epochs),
    ]
    with threadpool_limits(1):
        for name, bench, epochs in runs:
            try:
                seconds, qe, search = bench(X, epochs)
            except ImportError as exc:
                print(f"{name:<22} skipped: {exc}")
                continue
            rate = epochs * len(X) / seconds
            print(
                f"{name:<22} {epochs:>6} {seconds:>8.2f} {rate:>10.0f} {qe:>10.4f} {search:>12.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
