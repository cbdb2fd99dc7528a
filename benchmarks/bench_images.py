"""ResNet-20 on CIFAR-10: a training epoch and PGD-10, against plain torch, skorch and torchattacks.

All in one process on the CIFAR-10 subset (channel-first rows in [0, 1]), the
implementations taking turns round by round (the fastest round of each counts,
so that background load hits all alike). Each run's wall and CPU seconds are
printed per round before its table: the CPU time of the process is the steadier
measure on a shared host.

1. One training epoch of ResNet-20 (``ResNet()``: blocks (3, 3, 3), widths
   (16, 32, 64)) on ``--n-train`` training images, batch 128, Adam lr 1e-3,
   shuffled minibatches, the same initial weights for all: this package's
   ``RobustNetClassifier.fit`` (``max_epochs=1``, validation and set-up
   included); a plain torch loop (permute, slice, forward, cross-entropy,
   backward, Adam step: the floor); skorch's ``NeuralNetClassifier`` on the
   same module returning logits only.
2. PGD-10 (L-inf, eps 8/255, step 2/255, random start, clip (0, 1)) on
   ``--n-attack`` test images, batches of 128, against a ResNet-20 trained for
   ``--attack-epochs`` epochs on the same training images: this package's
   ``pgd`` (NumPy in, NumPy out), a plain torch loop and torchattacks 3.5.1's
   ``PGD``, all given the same module (rows in, logits out). Robust accuracies
   are printed: they must agree up to the random starts.

    python benchmarks/bench_images.py [--threads 1] [--device cpu] [--rounds 3]
        [--n-train 1024] [--n-attack 512] [--attack-epochs 2] [--skip-attack]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._data import cifar
from sklearn_robust import RobustNetClassifier
from sklearn_robust._torch import seed_from
from sklearn_robust.nn import ResNet
from sklearn_robust.robustness import pgd

INPUT_SHAPE, BATCH, LR, RANDOM_STATE = (3, 32, 32), 128, 1e-3, 0
EPS, STEP, N_ITER = 8 / 255, 2 / 255, 10
# pgd's own defaults are norm "linf", n_iter 10 and random_start True; its step_size
# defaults to 2.5 * eps / n_iter (2/255 here), and clip to None: all given explicitly.
PGD_KWARGS = {
    "eps": EPS,
    "norm": "linf",
    "n_iter": N_ITER,
    "step_size": STEP,
    "random_start": True,
    "clip": (0, 1),
}


def synchronize(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def initial_resnet(device):
    """ResNet-20 as RobustNetClassifier(random_state=0) builds it: same seed, same weights."""
    torch.manual_seed(seed_from(RANDOM_STATE))
    return ResNet(n_features=3072, n_classes=10, input_shape=INPUT_SHAPE).to(device)


class Logits(torch.nn.Module):
    """The module's logits alone, for skorch's NeuralNetClassifier and torchattacks."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, x):
        return self.module(x)[0]


# ------------------------------------------------------------------ training
def fit_package(X, y, device, epochs=1):
    return RobustNetClassifier(
        module=ResNet,
        module__input_shape=INPUT_SHAPE,
        max_epochs=epochs,
        batch_size=BATCH,
        lr=LR,
        device=device,
        random_state=RANDOM_STATE,
    ).fit(X, y)


def fit_plain(X, y, device, initial):
    """The floor: permute the indices, slice the tensors, forward, loss, backward, step."""
    model = copy.deepcopy(initial).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    X_t, y_t = torch.from_numpy(X).to(device), torch.from_numpy(y).to(device)
    losses = []
    order = torch.randperm(len(X_t), device=device)
    for start in range(0, len(X_t), BATCH):
        rows = order[start : start + BATCH]
        loss = F.cross_entropy(model(X_t[rows])[0], y_t[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    return float(torch.stack(losses).mean())


def fit_skorch(X, y, device, initial):
    from skorch import NeuralNetClassifier

    net = NeuralNetClassifier(
        Logits(copy.deepcopy(initial)),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=LR,
        max_epochs=1,
        batch_size=BATCH,
        iterator_train__shuffle=True,
        train_split=None,
        device=device,
        verbose=0,
    )
    return net.fit(X, y)


def training_table(X, y, device, rounds):
    initial = initial_resnet(device)
    n_parameters = sum(p.numel() for p in initial.parameters())
    named = {
        "plain torch loop": lambda: fit_plain(X, y, device, initial),
        "sklearn_robust": lambda: fit_package(X, y, device).history_[-1, "train_loss"],
        "skorch": lambda: fit_skorch(X, y, device, initial).history[-1, "train_loss"],
    }
    fit_skorch(X[:BATCH], y[:BATCH], device, initial)  # one-off costs (lazy imports, kernels)
    best, losses = interleaved_best(named, rounds, device)
    floor, skorch_time = best["plain torch loop"], best["skorch"]
    print(
        f"\nTraining epoch: ResNet-20 ({n_parameters:,} parameters) on {len(X):,} images, "
        f"batch {BATCH}, Adam lr {LR}"
    )
    header = ("implementation", "samples/s", "time / plain", "time / skorch", "epoch loss")
    print("{:<18}{:>11}{:>14}{:>15}{:>12}".format(*header))
    for name, seconds in best.items():
        print(
            f"{name:<18}{len(X) / seconds:>11.1f}{seconds / floor:>14.3f}"
            f"{seconds / skorch_time:>15.3f}{losses[name]:>12.3f}"
        )
    return best


# ------------------------------------------------------------------ attacks
def pgd_plain(module, X, y):
    """The textbook PGD-10: uniform start, cross-entropy, sign step, projection, clamp."""
    out = []
    for start in range(0, len(X), BATCH):
        x0, target = X[start : start + BATCH], y[start : start + BATCH]
        x = (x0 + torch.empty_like(x0).uniform_(-EPS, EPS)).clamp(0, 1)
        for _ in range(N_ITER):
            x = x.detach().requires_grad_(True)
            loss = F.cross_entropy(module(x), target)
            (grad,) = torch.autograd.grad(loss, x)
            x = (x0 + (x + STEP * grad.sign() - x0).clamp(-EPS, EPS)).clamp(0, 1)
        out.append(x.detach())
    return torch.cat(out)


def attack_table(clf, X, y, device, rounds):
    import torchattacks

    module = clf.to_torch_module().eval()  # rows in, logits out; shared by all three
    X_t, y_t = torch.from_numpy(X).to(device), torch.from_numpy(y).to(device)
    ta_pgd = torchattacks.PGD(module, eps=EPS, alpha=STEP, steps=N_ITER, random_start=True)

    def ta():
        return torch.cat(
            [ta_pgd(X_t[i : i + BATCH], y_t[i : i + BATCH]) for i in range(0, len(X), BATCH)]
        )

    named = {
        "plain torch loop": lambda: pgd_plain(module, X_t, y_t),
        "sklearn_robust": lambda: pgd(clf, X, y, **PGD_KWARGS, random_state=0, batch_size=BATCH),
        "torchattacks": ta,
    }
    best, outputs = interleaved_best(named, rounds, device)
    floor, ta_time = best["plain torch loop"], best["torchattacks"]
    clean = (clf.predict(X) == y).mean()
    print(
        f"\nPGD-{N_ITER} (L-inf, eps 8/255, step 2/255, random start) on {len(X)} test images, "
        f"batch {BATCH}; clean accuracy {clean:.3f}"
    )
    header = ("implementation", "samples/s", "time / plain", "time / torchattacks")
    print("{:<18}{:>11}{:>14}{:>21}{:>12}{:>14}".format(*header, "robust acc", "max |dx|*255"))
    for name, seconds in best.items():
        X_adv = outputs[name]
        accuracy = (clf.predict(X_adv) == y).mean()
        linf = np.abs(X_adv - X).max() * 255
        print(
            f"{name:<18}{len(X) / seconds:>11.1f}{seconds / floor:>14.3f}"
            f"{seconds / ta_time:>21.3f}{accuracy:>12.3f}{linf:>14.3f}"
        )
    return best


# ------------------------------------------------------------------ common
def as_array(result):
    return result.detach().cpu().numpy() if isinstance(result, torch.Tensor) else result


def interleaved_best(named, rounds, device):
    """Fastest of ``rounds`` runs each; the order is shuffled every round, so that no
    implementation always follows the one that leaves the caches cold."""
    times, cpu, outputs = {name: [] for name in named}, {name: [] for name in named}, {}
    order = np.random.default_rng(0)
    for _ in range(rounds):
        for name in order.permutation(list(named)):
            torch.manual_seed(0)  # the same shuffles and random starts in every round
            start, start_cpu = time.perf_counter(), time.process_time()
            result = named[name]()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
            outputs[name] = as_array(result)
    # The spread shows how loaded the machine was; the process's CPU time (all its
    # threads) is less sensitive to other work than the wall time.
    for name in named:
        wall = ", ".join(f"{t:.2f}" for t in times[name])
        print(f"  {name}: wall {wall} s; CPU {', '.join(f'{t:.2f}' for t in cpu[name])} s")
    best_cpu = {name: min(seconds) for name, seconds in cpu.items()}
    reference = next(iter(named))
    print(
        f"  fastest CPU time / {reference}: "
        + ", ".join(f"{name} {best_cpu[name] / best_cpu[reference]:.3f}" for name in named)
    )
    return {name: min(seconds) for name, seconds in times.items()}, outputs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n-train", type=int, default=1024, help="training images per epoch")
    parser.add_argument("--n-attack", type=int, default=512, help="test images attacked")
    parser.add_argument("--attack-epochs", type=int, default=2, help="of the attacked model")
    parser.add_argument("--skip-attack", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    X, y, description = cifar("train")
    X, y = X[: args.n_train], y[: args.n_train]
    print(f"{description}; torch {torch.__version__}, {args.threads} thread(s), {args.device}")
    training_table(X, y, args.device, args.rounds)
    if args.skip_attack:
        return
    X_test, y_test, _ = cifar("test")
    X_test, y_test = X_test[: args.n_attack], y_test[: args.n_attack]
    clf = fit_package(X, y, args.device, epochs=args.attack_epochs)
    attack_table(clf, X_test, y_test, args.device, args.rounds)


if __name__ == "__main__":
    main()
