"""Attack throughput against a plain torch loop, torchattacks and ART; bisection against a grid.

One MLP (784-256-10, ReLU) trained on the 5,000 MNIST training images; the
attacks run on 1,000 of them, in one process, taking turns round by round (the
fastest round of each counts, so background load hits all alike).

1. PGD-10 (L-inf, eps 0.1, step eps/4, random start) and FGSM (eps 0.1), in
   samples/s: this package, a plain torch loop (the floor any implementation
   pays: the same forward/backward passes and nothing else), torchattacks, ART.
   Robust accuracies are printed too: the runs must agree.
2. Critical distance (PGD-10, L2): batched bisection against attacking every
   example at each of 20 eps.

    python benchmarks/bench_attacks.py [--threads 1] [--device cpu] [--rounds 10]
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
from sklearn_robust import RobustNetClassifier
from sklearn_robust.robustness import critical_distance, fgsm, pgd, prepare_attack

EPS, N_ITER, BATCH = 0.1, 10, 500


def train_model(X, y, device):
    return RobustNetClassifier(
        module__hidden_sizes=(256,), max_epochs=5, device=device, random_state=0
    ).fit(X, y)


# ------------------------------------------------------------------ implementations
def plain_torch(module, X, y, n_iter, random_start):
    """The textbook loop: cross-entropy, sign step, projection, clamp."""
    out = []
    for start in range(0, len(X), BATCH):
        x0, target = X[start : start + BATCH], y[start : start + BATCH]
        x = x0 + torch.empty_like(x0).uniform_(-EPS, EPS) if random_start else x0
        x = x.clamp(0, 1)
        for _ in range(n_iter):
            x = x.detach().requires_grad_(True)
            loss = torch.nn.functional.cross_entropy(module(x), target)
            (grad,) = torch.autograd.grad(loss, x)
            step = EPS / 4 if random_start else EPS
            x = (x0 + (x + step * grad.sign() - x0).clamp(-EPS, EPS)).clamp(0, 1)
        out.append(x.detach())
    return torch.cat(out)


def runs(clf, X, y, device):
    import torchattacks
    from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescentPyTorch
    from art.estimators.classification import PyTorchClassifier

    module = clf.to_torch_module().eval()
    X_t, y_t = torch.tensor(X, device=device), torch.tensor(y, device=device)
    art_model = PyTorchClassifier(
        module,
        torch.nn.CrossEntropyLoss(),
        input_shape=(X.shape[1],),
        nb_classes=10,
        clip_values=(0.0, 1.0),
        device_type="gpu" if device == "cuda" else "cpu",
    )
    art_pgd = ProjectedGradientDescentPyTorch(
        art_model,
        norm=np.inf,
        eps=EPS,
        eps_step=EPS / 4,
        max_iter=N_ITER,
        batch_size=BATCH,
        verbose=False,
    )
    art_fgsm = FastGradientMethod(art_model, eps=EPS, batch_size=BATCH)
    ta_pgd = torchattacks.PGD(module, eps=EPS, alpha=EPS / 4, steps=N_ITER)
    ta_fgsm = torchattacks.FGSM(module, eps=EPS)

    def ta(attack):
        return torch.cat(
            [attack(X_t[i : i + BATCH], y_t[i : i + BATCH]) for i in range(0, len(X), BATCH)]
        )

    kw = {"clip": (0, 1), "batch_size": BATCH}
    return {
        "pgd": {
            "plain torch loop": lambda: plain_torch(module, X_t, y_t, N_ITER, True),
            "sklearn_robust": lambda: pgd(clf, X, y, EPS, random_state=0, **kw),
            "torchattacks": lambda: ta(ta_pgd),
            "ART": lambda: art_pgd.generate(X, y),
        },
        "fgsm": {
            "plain torch loop": lambda: plain_torch(module, X_t, y_t, 1, False),
            "sklearn_robust": lambda: fgsm(clf, X, y, EPS, **kw),
            "torchattacks": lambda: ta(ta_fgsm),
            "ART": lambda: art_fgsm.generate(X, y),
        },
    }


def as_array(result):
    return result.detach().cpu().numpy() if isinstance(result, torch.Tensor) else result


def interleaved_best(named, rounds):
    """Fastest of ``rounds`` runs each; the order is shuffled every round, so that no
    implementation always follows the one that leaves the caches cold."""
    best, outputs = dict.fromkeys(named, np.inf), {}
    order = np.random.default_rng(0)
    for _ in range(rounds):
        for name in order.permutation(list(named)):
            start = time.perf_counter()
            outputs[name] = as_array(named[name]())
            best[name] = min(best[name], time.perf_counter() - start)
    return best, outputs


def attack_table(clf, X, y, device, rounds):
    for attack, named in runs(clf, X, y, device).items():
        best, outputs = interleaved_best(named, rounds)
        floor = best["plain torch loop"]
        print(f"\n{attack.upper()} on {len(X)} examples (eps {EPS}, L-inf)")
        print(f"{'implementation':<18}{'samples/s':>12}{'time / plain':>14}{'robust acc':>12}")
        for name, seconds in best.items():
            accuracy = (clf.predict(outputs[name]) == y).mean()
            print(f"{name:<18}{len(X) / seconds:>12,.0f}{seconds / floor:>14.2f}{accuracy:>12.3f}")


# ---------------------------------------------------------------- critical distance
def grid_critical_distance(clf, X, y, max_eps, n_points=20):
    """The naive way: attack every example at each eps of a grid, keep the first success."""
    prepared = prepare_attack("pgd", clf, X, y, norm="l2", random_state=0, batch_size=BATCH)
    rows = np.arange(len(X))
    distance = np.full(len(X), np.inf)
    for eps in np.linspace(max_eps / n_points, max_eps, n_points):
        fooled, norms = prepared.fooled(rows, np.full(len(rows), eps))
        first = fooled & np.isinf(distance)
        distance[first] = norms[first]
    return distance


def bisection_table(clf, X, y, rounds, max_eps=8.0):
    named = {
        "grid (20 eps)": lambda: grid_critical_distance(clf, X, y, max_eps),
        # The default search: each distance to rtol = 1% of itself.
        "bisection": lambda: critical_distance(
            clf, X, y, "pgd", norm="l2", max_eps=max_eps, random_state=0, batch_size=BATCH
        ),
    }
    best, outputs = interleaved_best(named, rounds)
    grid, bisect = outputs["grid (20 eps)"], outputs["bisection"]
    both = np.isfinite(grid) & np.isfinite(bisect) & (grid > 0)
    grid_time, bisect_time = best["grid (20 eps)"], best["bisection"]
    within_a_step = np.mean(np.abs(grid - bisect)[both] <= max_eps / 20)
    print(f"\nCritical distance, PGD-10 L2, max_eps {max_eps}, {len(X)} examples")
    print(f"  grid: 20 attacks per example, resolution {max_eps / 20:.3f}: {grid_time:.2f} s")
    print(f"  search (default, each distance to 1% of itself): {bisect_time:.2f} s")
    print(
        f"  speed-up {grid_time / bisect_time:.2f}x; median distance grid "
        f"{np.median(grid[both]):.3f}, bisection {np.median(bisect[both]):.3f}; "
        f"|difference| <= one grid step for {within_a_step:.1%}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=10, help="rounds of the attack tables")
    parser.add_argument("--examples", type=int, default=1000)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    X, y, description = mnist_train(5000)
    clf = train_model(X, y, args.device)
    X_eval, y_eval = X[: args.examples], y[: args.examples]
    print(f"{description}; torch {torch.__version__}, {args.threads} thread(s), {args.device}")
    print(f"clean accuracy on the attacked examples: {(clf.predict(X_eval) == y_eval).mean():.3f}")
    attack_table(clf, X_eval, y_eval, args.device, args.rounds)
    bisection_table(clf, X_eval, y_eval, max(1, args.rounds // 3))


if __name__ == "__main__":
    main()
