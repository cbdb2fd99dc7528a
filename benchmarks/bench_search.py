"""README's GridSearchCV over RobustNetClassifier: serial vs n_jobs=2, and where the time goes.

The search of README.md ("Penalised networks tune like any scikit-learn
model"): ``RobustNetClassifier(penalty=IsometryPenalty(), max_epochs=20)`` over
``penalty__strength`` in (0, 1e-2, 1) and ``module__hidden_sizes`` in ((100,),
(200,)), 5-fold, on the embedded digits (1,797 x 64), with ``random_state=0``
added so that the runs can be compared. Each round times, in turn:

- ``serial``: ``n_jobs=1`` in this process (torch's default threads);
- ``loky cold``: ``n_jobs=2`` with joblib's default backend after its worker
  processes were shut down, as a script's first parallel search meets them;
- ``loky warm``: ``n_jobs=2`` again right away, reusing those workers;
- ``threading``: ``n_jobs=2`` under ``joblib.parallel_config(backend="threading")``,
  two threads of this process sharing torch's thread pool.

The fastest round of each counts (the host is shared). A skorch callback in
every fit records, where the fit runs: the process, ``torch.get_num_threads()``,
``OMP_NUM_THREADS`` and the fit's start and duration. When a worker's first fit
starts, cold vs warm, separates the workers' start-up (spawning Python and
importing torch, skorch, scikit-learn and this package) from training; the last
fit listed for this process is the search's refit. A fresh interpreter's
``import sklearn_robust.nn`` is timed on its own too.

    python benchmarks/bench_search.py [--rounds 3] [--epochs 20] [--threads N]

``--threads N`` sets torch's threads in this process (serial fits, the refit,
the threading backend); loky workers get joblib's own limit either way.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

import joblib
import numpy as np
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback

from sklearn_robust import RobustNetClassifier
from sklearn_robust.datasets import load_digits
from sklearn_robust.nn import IsometryPenalty

GRID = {"penalty__strength": [0, 1e-2, 1], "module__hidden_sizes": [(100,), (200,)]}


class FitProbe(Callback):
    """Append one JSON line per fit to ``path``: where it ran, on how many threads, when."""

    def __init__(self, path, label="?"):
        self.path = path
        self.label = label

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self._begin = time.time()
        self._threads = torch.get_num_threads()

    def on_train_end(self, net, X=None, y=None, **kwargs):
        import threading

        record = {
            "label": self.label,
            "pid": os.getpid(),
            "thread": threading.get_ident(),
            "torch_threads": self._threads,
            "omp": os.environ.get("OMP_NUM_THREADS"),
            "begin": self._begin,
            "seconds": time.time() - self._begin,
        }
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")


def shut_down_loky_workers():
    """Stop joblib's reusable worker processes, so that the next search starts new ones."""
    from joblib.externals.loky import reusable_executor

    executor = reusable_executor._executor
    if executor is not None:
        executor.shutdown(wait=True, kill_workers=True)


def run_search(search, X, y, name, n_jobs, log):
    estimator = search.estimator.set_params(callbacks=[FitProbe(log, name)])
    search = clone(search).set_params(estimator=estimator, n_jobs=n_jobs)
    if name == "loky cold":
        shut_down_loky_workers()
    backend = "threading" if name == "threading" else "loky"
    start = time.time()
    with joblib.parallel_config(backend=backend):
        search.fit(X, y)
    return start, time.time() - start, search


def read_log(path, label, start):
    with open(path) as f:
        rows = [json.loads(line) for line in f]
    rows = [r for r in rows if r["label"] == label and r["begin"] >= start]
    return sorted(rows, key=lambda r: r["begin"])


def describe_fits(rows, start, wall):
    """Per process (or thread): threads seen, start-up before its first fit, first vs later fits."""
    by_worker = defaultdict(list)
    for r in rows:
        by_worker[(r["pid"], r["thread"])].append(r)
    lines = []
    for (pid, _), fits in by_worker.items():
        first, later = fits[0], [f["seconds"] for f in fits[1:]]
        threads = sorted({f["torch_threads"] for f in fits})
        lines.append(
            f"    pid {pid}: {len(fits)} fits, torch threads {threads}, "
            f"OMP_NUM_THREADS={first['omp']}, first fit starts at "
            f"+{first['begin'] - start:.2f} s and takes {first['seconds']:.2f} s, "
            f"later fits median {np.median(later) if later else float('nan'):.2f} s"
        )
    busy = sum(r["seconds"] for r in rows)
    lines.append(f"    training (sum of fit durations): {busy:.2f} s of {wall:.2f} s wall")
    return lines


def import_seconds(repeats=3):
    """A fresh interpreter's ``import sklearn_robust.nn`` (torch, skorch, scikit-learn), fastest."""
    code = (
        "import time; t = time.perf_counter(); import sklearn_robust.nn, sklearn.model_selection; "
        "print(time.perf_counter() - t)"
    )
    times = []
    for _ in range(repeats):
        command = [sys.executable, "-c", code]
        out = subprocess.run(command, capture_output=True, text=True, check=True)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="torch threads here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    X, y = load_digits(return_X_y=True)
    search = GridSearchCV(
        RobustNetClassifier(penalty=IsometryPenalty(), max_epochs=args.epochs, random_state=0),
        GRID,
    )
    print(
        f"{os.cpu_count()} CPUs, torch {torch.__version__} ({torch.get_num_threads()} threads "
        f"here), joblib {joblib.__version__}; {len(X)} x {X.shape[1]}, "
        f"{len(search.param_grid['penalty__strength']) * 2} candidates x 5 folds, "
        f"{args.epochs} epochs"
    )
    print(f"fresh interpreter, import sklearn_robust.nn: {import_seconds():.2f} s (fastest of 3)")

    names = {"serial": 1, "loky cold": 2, "loky warm": 2, "threading": 2}
    times = defaultdict(list)
    last = {}
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "fits.jsonl")
        for round_ in range(args.rounds):
            for name, n_jobs in names.items():
                start, wall, fitted = run_search(search, X, y, name, n_jobs, log)
                times[name].append(wall)
                last[name] = fitted
                print(f"round {round_ + 1} {name:<9} {wall:6.2f} s")
                for line in describe_fits(read_log(log, name, start), start, wall):
                    print(line)
    shut_down_loky_workers()

    best = {name: min(t) for name, t in times.items()}
    print("\nfastest of each (s):", ", ".join(f"{n} {t:.2f}" for n, t in best.items()))
    for name in ("loky cold", "loky warm", "threading"):
        print(f"  {name} / serial: {best[name] / best['serial']:.2f}x")
    print(
        "  start-up of fresh workers (cold minus warm, fastest rounds): "
        f"{best['loky cold'] - best['loky warm']:.2f} s"
    )
    serial = last["serial"]
    for name in ("loky cold", "threading"):
        other = last[name]
        scores = other.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"]
        diff = np.max(np.abs(scores[0] - scores[1]))
        same = other.best_params_ == serial.best_params_
        print(
            f"  {name} vs serial: best_params_ {'equal' if same else 'DIFFER'} "
            f"({other.best_params_}), max |mean_test_score difference| {diff:.4f}"
        )


if __name__ == "__main__":
    main()
