"""SOMProbe against QuickSOM, MiniSom and fastersom: training speed, quantization error, BMUs.

A 20 x 20 cosine map trained for 5 epochs on N=10000 synthetic 512-d "vector
codes" (ReLU of 50 Gaussian clusters), sigma=10, in this one process with one
torch thread and one BLAS thread.

The paper's mini-batch rule (eq. 1, batches of 10, learning rate 0.1, QuickSOM's
exp decay), on the torus:

- SOMProbe(algorithm="minibatch").
- QuickSOM ``fit``, as a user calls it (its DataLoader with ``num_workers=0``,
  no log file, cosine metric passed in); the U-matrix and all-pairs distances it
  computes after training are switched off (``compute_umat`` replaced by a no-op,
  ``do_compute_all_dists=False``), as they are not training.
- QuickSOM step loop: its own update (``SOM.__call__``) driven by a plain loop over
  pre-shuffled batches, without the DataLoader: the cost of its update alone.
- MiniSom (planar, it has no torus): online (one sample per update, as it only
  does), ``5 N`` iterations in random order, its default asymptotic decay.

Kohonen's batch map (one update per epoch, sigma from 10 down to 1 geometrically):

- SOMProbe(algorithm="batch") on the torus.
- fastersom's SOM (planar, it has no torus), with ``sigma_final`` set so that its
  schedule ``sigma_t = 10 (sigma_final / 10) ** (t / 5)`` is SOMProbe's
  ``10 ** (1 - t / 4)``.

The final quantization error is the same measure for all three: the mean cosine
distance of each sample to its nearest unit. BMU search is one pass over all N
samples with each library's own vectorised distance computation.

    pip install minisom fastersom && pip install quicksom --no-deps
    python benchmarks/bench_som.py [--samples 10000] [--features 512] [--epochs 5]

Each group prints SOMProbe's speed-up over every anchor (fit time ratio).
SOMProbe's and fastersom's fits are timed 3 times and the fastest kept. Since a
map's final error depends on its random start and shuffles, the mini-batch group
ends with SOMProbe's cosine QE over ``random_state`` 0-4 (``--qe-seeds``), the
spread against which the anchors' single-run errors compare.
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


def timed(run, repeats=1):
    """Fastest of ``repeats`` runs (the least disturbed by other work), and the last result."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


# Fits under a few seconds are timed this many times and the fastest kept; the
# QuickSOM and MiniSom fits take minutes and run once.
REPEATS = 3


def _somprobe(epochs, algorithm="minibatch", random_state=0):
    return SOMProbe(
        ROWS,
        COLS,
        sigma=SIGMA,
        learning_rate=ALPHA,
        n_epochs=epochs,
        batch_size=BATCH,
        algorithm=algorithm,
        device="cpu",
        random_state=random_state,
    )


def bench_somprobe(X, epochs, algorithm="minibatch"):
    som = _somprobe(epochs, algorithm)
    seconds, _ = timed(lambda: som.fit(X), REPEATS)
    search, _ = timed(lambda: som.predict(X))
    return seconds, cosine_qe(X, som.weights_), search


def somprobe_qe_spread(X, epochs, seeds):
    """SOMProbe's mini-batch cosine QE for each random_state in ``range(seeds)``."""
    fits = (_somprobe(epochs, random_state=seed).fit(X) for seed in range(seeds))
    return np.array([cosine_qe(X, som.weights_) for som in fits])


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


def _quicksom(X):
    SOM = _import_quicksom()
    np.random.seed(0)  # noqa: NPY002 - QuickSOM draws its initial weights from the global RNG
    return SOM(
        ROWS,
        COLS,
        X.shape[1],
        alpha=ALPHA,
        sigma=SIGMA,
        sched="exp",
        periodic=True,
        metric=_cosine_metric,
    )


def _quicksom_search(som, X):
    data = torch.from_numpy(X)
    chunks = range(0, len(X), 1000)
    return timed(lambda: torch.cat([som.inference_call(data[i : i + 1000])[0] for i in chunks]))[0]


def bench_quicksom_fit(X, epochs):
    som = _quicksom(X)
    som.compute_umat = lambda **kwargs: None  # post-fit analysis, not training
    seconds, _ = timed(
        lambda: som.fit(
            X,
            batch_size=BATCH,
            n_epoch=epochs,
            print_each=10**9,
            do_compute_all_dists=False,
            logfile=None,
            num_workers=0,
        )
    )
    return seconds, cosine_qe(X, som.centroids.numpy()), _quicksom_search(som, X)


def bench_quicksom_loop(X, epochs):
    som = _quicksom(X)
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
    return seconds, cosine_qe(X, som.centroids.numpy()), _quicksom_search(som, X)


def bench_fastersom(X, epochs):
    from fastersom import SOM

    # SOMProbe's batch schedule is 10 ** (1 - t / (epochs - 1)): the same geometric decay
    sigma_final = SIGMA * (1.0 / SIGMA) ** (epochs / max(epochs - 1, 1))
    som = SOM(
        ROWS,
        COLS,
        n_epochs=epochs,
        sigma_initial=SIGMA,
        sigma_final=sigma_final,
        metric="cosine",
        random_state=0,
        device="cpu",
    )
    seconds, _ = timed(lambda: som.fit(X), REPEATS)
    search, _ = timed(lambda: som.predict(X))
    return seconds, cosine_qe(X, som.weights_), search


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


def _run_group(title, runs, X):
    print(f"\n{title}")
    print(
        f"{'library':<26} {'epochs':>6} {'fit s':>8} {'samples/s':>10} {'cosine QE':>10} "
        f"{'BMU search s':>12} {'SOMProbe x':>10}"
    )
    reference = None
    for name, bench, epochs in runs:
        try:
            seconds, qe, search = bench(X, epochs)
        except ImportError as exc:
            print(f"{name:<26} skipped: {exc}")
            continue
        reference = reference or seconds  # the group's first run is SOMProbe's
        rate = epochs * len(X) / seconds
        print(
            f"{name:<26} {epochs:>6} {seconds:>8.2f} {rate:>10.0f} {qe:>10.4f} {search:>12.3f} "
            f"{seconds / reference:>10.1f}",
            flush=True,
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--features", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--minisom-epochs", type=int, default=5)
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        help="runs to leave out, by the start of their name: minisom, quicksom, quicksom-fit",
    )
    parser.add_argument(
        "--qe-seeds", type=int, default=5, help="SOMProbe fits whose QE spread is shown"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    X = vector_codes(args.samples, args.features)
    print(
        f"{ROWS}x{COLS} cosine map, N={args.samples}, D={args.features}, sigma={SIGMA}, "
        f"alpha={ALPHA}, batch {BATCH}, torch {torch.__version__}, 1 thread"
    )
    minibatch = [
        ("SOMProbe minibatch (torus)", bench_somprobe, args.epochs),
        ("QuickSOM fit (torus)", bench_quicksom_fit, args.epochs),
        ("QuickSOM step loop (torus)", bench_quicksom_loop, args.epochs),
        ("MiniSom online (planar)", bench_minisom, args.minisom_epochs),
    ]
    batch = [
        ("SOMProbe batch (torus)", lambda X, e: bench_somprobe(X, e, "batch"), args.epochs),
        ("fastersom batch (planar)", bench_fastersom, args.epochs),
    ]
    skip = [name.lower() for name in args.skip]

    def kept(runs):  # "quicksom" leaves out both QuickSOM runs, "quicksom-fit" only its fit
        return [run for run in runs if not run[0].lower().replace(" ", "-").startswith(tuple(skip))]

    with threadpool_limits(1):
        _run_group("mini-batch rule (eq. 1), exp decay", kept(minibatch), X)
        if args.qe_seeds > 0:
            errors = somprobe_qe_spread(X, args.epochs, args.qe_seeds)
            print(
                f"SOMProbe minibatch cosine QE over random_state 0-{args.qe_seeds - 1}: "
                f"{errors.min():.4f}-{errors.max():.4f} (mean {errors.mean():.4f})"
            )
        _run_group("Kohonen's batch map, sigma 10 -> 1", kept(batch), X)


if __name__ == "__main__":
    main()
