"""DPGMMClassDensity against the authors' sampler (PyPI dpgmm) and BayesianGaussianMixture.

All in this one process with one torch thread and one BLAS thread:

1. Sampler speed: time per point per sweep of ``DPGMMClassDensity.fit`` on one
   class (``--sweeps`` sweeps, 100 by default, validation and saved states
   included), on (a) d=16, n=2000 rows from 5 Gaussian clusters (centres
   N(0, 36 I), unit noise) and (b) d=64, n=500 (centres N(0, 64 I)); the
   adjusted Rand index of the last state's components against the true
   clusters, and the number of components.
2. The authors' collapsed Gibbs sampler, PyPI ``dpgmm`` 0.2.0
   (``FullCovarianceCollapsedGibbsSampler``, one point at a time, its default
   ``batch_size=1``, float32 as its CPU path requires; the same prior), for
   ``--anchor-sweeps`` sweeps on the first ``--anchor-rows`` rows of each set,
   extrapolated per point per sweep. DPGMMClassDensity runs ``--sweeps`` sweeps
   on the same rows, and the speed-up is the ratio of the two per point per
   sweep. ``dpgmm`` imports ``wandb`` only to look for an API key (its W&B
   tracking is off without one); where wandb is not installed an empty
   stand-in with no key is given to it. Where ``dpgmm`` cannot be imported
   the section prints ``skipped: <reason>``.
3. Held-out log-likelihood on scikit-learn's digits: a stratified 70/30 split
   (``random_state=0``), PCA to 16 and to 32 dimensions fitted on the training
   split, and per class, on the same reduced rows:

   - DPGMMClassDensity (default 400 sweeps, ``n_components=None``): its
     posterior predictive (``score``);
   - BayesianGaussianMixture(n_components=20, dirichlet_process, full,
     max_iter=500, random_state=0): its variational posterior predictive, a
     mixture over components with weights ``weights_`` of multivariate
     Student-t ``t_{nu_k - d + 1}(m_k, (1 + beta_k) / (beta_k (nu_k - d + 1))
     Psi_k)`` with ``nu_k = degrees_of_freedom_``, ``beta_k =
     mean_precision_``, ``m_k = means_`` and the Wishart's inverse scale
     ``Psi_k = nu_k covariances_[k]`` (scikit-learn stores ``covariances_ =
     Psi_k / nu_k``); and, for reference, its own ``score_samples``, the
     plug-in Gaussian mixture, which is not a predictive density;
   - for reference, the same BayesianGaussianMixture with one component
     (``BGM(1)``): a single NIW posterior predictive under scikit-learn's
     default prior.

   Each is the mean over the test rows of the log density (nats) under the
   row's true class. Components kept: ours ``n_clusters_`` (last state), BGM's
   ``weights_ > 1e-3``.
4. Time to a converged model: CPU time (``time.process_time``) of a default
   DPGMMClassDensity fit (400 sweeps) on set (b), and the first sweep from
   which ``n_clusters_trace_`` keeps its final value.

    pip install --no-deps dpgmm==0.2.0 && pip install loguru
    python benchmarks/bench_dpgmm.py [--sweeps 100] [--anchor-rows 300] [--anchor-sweeps 5]

Targets: at least 100x dpgmm's speed per point per sweep; a higher held-out
log-likelihood than BGM's predictive on digits PCA16 and PCA32; at most 10 s of
CPU for the converged model at n=500, d=64.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import random
import sys
import time
import types
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_t
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import BayesianGaussianMixture
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn_robust import DPGMMClassDensity

# (name, d, n, centre standard deviation)
SYNTHETIC = [("(a) d=16, n=2000", 16, 2000, 6.0), ("(b) d=64, n=500", 64, 500, 8.0)]
N_CLUSTERS = 5
BGM_KEEP = 1e-3


def clusters(d, n, spread, seed=0):
    """``n`` rows of 5 Gaussian clusters: centres N(0, spread^2 I), unit noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, spread, (N_CLUSTERS, d))
    labels = rng.integers(0, N_CLUSTERS, n)
    return centres[labels] + rng.normal(size=(n, d)), labels


def load():
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


# ---------------------------------------------------------------- our sampler
def fit_ours(X, n_iter, seed=0):
    model = DPGMMClassDensity(n_iter=n_iter, device="cpu", random_state=seed)
    y = np.zeros(len(X), dtype=int)
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(X, y)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return model, wall, cpu


def converged_sweep(trace):
    """First sweep (1-based) from which the trace keeps its final value."""
    changed = np.flatnonzero(trace != trace[-1])
    return 1 if len(changed) == 0 else int(changed[-1]) + 2


# ------------------------------------------------------------------ dpgmm 0.2.0
def import_dpgmm():
    """The authors' full-covariance sampler class and its version, or None and why not."""
    stand_in = None
    try:
        import wandb  # noqa: F401
    except ImportError:
        # dpgmm only reads wandb.api.api_key (no key: no W&B tracking).
        stand_in = types.ModuleType("wandb")
        stand_in.api = types.SimpleNamespace(api_key=None)
        sys.modules["wandb"] = stand_in
    try:
        from dpgmm.samplers import FullCovarianceCollapsedGibbsSampler
        from loguru import logger
    except Exception as error:  # ImportError, or anything its import runs into
        if stand_in is not None:
            del sys.modules["wandb"]
        return None, f"{type(error).__name__}: {error}"
    logger.disable("dpgmm")  # its per-run INFO lines
    version = importlib.metadata.version("dpgmm")
    note = ", wandb stand-in (no API key)" if stand_in is not None else ""
    return FullCovarianceCollapsedGibbsSampler, f"dpgmm {version}{note}"


def fit_dpgmm(sampler_class, X, n_iter, seed=0):
    """The authors' collapsed Gibbs sampler for ``n_iter`` sweeps: seconds, components, labels."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (dpgmm draws from NumPy's global state)
    torch.manual_seed(seed)
    sampler = sampler_class(init_strategy="init_data_stats", max_clusters_num=6, verbose=False)
    data = torch.as_tensor(X, dtype=torch.float32)  # its float64 path fails on CPU
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.cholesky deprecation, singular t draws
        wall, cpu = time.perf_counter(), time.process_time()
        result = sampler.fit(n_iter, data)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    labels = np.asarray(sampler.get_examples_assignment(result["cluster_assignment"]))
    return wall, cpu, len(result["cluster_assignment"]), labels


# ----------------------------------------------------------- BGM's predictive
def bgm_predictive_log_density(bgm, X):
    """Log density of X under the variational posterior predictive (a Student-t mixture)."""
    d = X.shape[1]
    columns = []
    for k in range(bgm.n_components):
        nu, beta = bgm.degrees_of_freedom_[k], bgm.mean_precision_[k]
        df = nu - d + 1.0
        psi = bgm.covariances_[k] * nu  # the Wishart's inverse scale
        shape = psi * (1.0 + beta) / (beta * df)
        log_t = multivariate_t(loc=bgm.means_[k], shape=shape, df=df).logpdf(X)
        columns.append(np.log(bgm.weights_[k]) + np.atleast_1d(log_t))
    return logsumexp(np.stack(columns, axis=1), axis=1)


def fit_bgm(X, n_components=20, seed=0):
    bgm = BayesianGaussianMixture(
        n_components=n_components,
        weight_concentration_prior_type="dirichlet_process",
        covariance_type="full",
        max_iter=500,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        bgm.fit(X)
    return bgm


# -------------------------------------------------------------------- sections
def speed_section(args, summary):
    print(f"\n1. DPGMMClassDensity, {args.sweeps} sweeps on one class ({load()})")
    print(
        f"{'set':<18} {'wall s':>7} {'CPU s':>7} {'us/point/sweep':>15} {'components':>11} "
        f"{'ARI':>6}"
    )
    ours = {}
    for name, d, n, spread in SYNTHETIC:
        X, truth = clusters(d, n, spread)
        model, wall, cpu = fit_ours(X, args.sweeps)
        per = wall / (args.sweeps * n)
        ari = adjusted_rand_score(truth, model.component_labels_[0])
        print(
            f"{name:<18} {wall:>7.2f} {cpu:>7.2f} {per * 1e6:>15.2f} "
            f"{int(model.n_clusters_[0]):>11} {ari:>6.3f}",
            flush=True,
        )
        ours[name] = per
        summary.append((f"ours {name}: us per point per sweep", f"{per * 1e6:.2f}", ""))
        found = f"{model.n_clusters_[0]} / {ari:.3f}"
        summary.append((f"ours {name}: components / ARI", found, ""))
    return ours


def anchor_section(args, ours_full, summary):
    rows, sweeps = args.anchor_rows, args.anchor_sweeps
    print(f"\n2. The authors' sampler, {sweeps} sweeps on the first {rows} rows ({load()})")
    sampler_class, detail = (None, "--skip-dpgmm") if args.skip_dpgmm else import_dpgmm()
    if sampler_class is None:
        print(f"skipped: {detail}")
        summary.append(("dpgmm 0.2.0 speed-up", f"skipped ({detail})", ">= 100x"))
        return
    print(detail)
    print(
        f"{'set':<18} {'sampler':<26} {'sweeps':>6} {'wall s':>8} {'ms/point/sweep':>15} "
        f"{'components':>11} {'ARI':>6} {'dpgmm / ours':>13}"
    )
    for name, d, n, spread in SYNTHETIC:
        X, truth = clusters(d, n, spread)
        X, truth = X[:rows], truth[:rows]
        wall, _, k, labels = fit_dpgmm(sampler_class, X, sweeps)
        theirs = wall / (sweeps * len(X))
        model, ours_wall, _ = fit_ours(X, args.sweeps)
        ours = ours_wall / (args.sweeps * len(X))
        ours_ari = adjusted_rand_score(truth, model.component_labels_[0])
        print(
            f"{name:<18} {'dpgmm (collapsed Gibbs)':<26} {sweeps:>6} {wall:>8.2f} "
            f"{theirs * 1e3:>15.3f} {k:>11} {adjusted_rand_score(truth, labels):>6.3f}",
            flush=True,
        )
        print(
            f"{'':<18} {'DPGMMClassDensity':<26} {args.sweeps:>6} {ours_wall:>8.2f} "
            f"{ours * 1e3:>15.3f} {int(model.n_clusters_[0]):>11} {ours_ari:>6.3f} "
            f"{theirs / ours:>12.0f}x",
            flush=True,
        )
        full = theirs / ours_full[name]
        print(f"{'':<18} vs ours on all {n} rows (section 1): {full:.0f}x")
        met = "met" if theirs / ours >= 100 else "not met"
        summary.append(
            (
                f"speed-up over dpgmm {name} (same {len(X)} rows / all {n})",
                f"{theirs / ours:.0f}x / {full:.0f}x",
                f">= 100x: {met}",
            )
        )


def digits_section(args, summary):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    classes = np.unique(y_train)
    for dims in (16, 32):
        print(
            f"\n3. Digits, PCA{dims} (fitted on the {len(X_train)} training rows), held-out "
            f"log-likelihood per test row (nats), {len(X_test)} test rows ({load()})"
        )
        pca = PCA(dims, random_state=0).fit(X_train)
        Z_train, Z_test = pca.transform(X_train), pca.transform(X_test)
        wall = time.perf_counter()
        ours = DPGMMClassDensity(n_iter=args.digits_sweeps, device="cpu", random_state=0)
        ours.fit(Z_train, y_train)
        ours_seconds = time.perf_counter() - wall
        ours_ll = ours.log_density(Z_test, y_test)
        predictive, plug_in, single = (np.empty(len(Z_test)) for _ in range(3))
        kept, iterations = [], []
        wall = time.perf_counter()
        for label in classes:
            bgm = fit_bgm(Z_train[y_train == label])
            test = y_test == label
            predictive[test] = bgm_predictive_log_density(bgm, Z_test[test])
            plug_in[test] = bgm.score_samples(Z_test[test])
            kept.append(int(np.sum(bgm.weights_ > BGM_KEEP)))
            iterations.append(bgm.n_iter_)
        bgm_seconds = time.perf_counter() - wall
        for label in classes:  # reference: one component, a single NIW predictive
            one = fit_bgm(Z_train[y_train == label], n_components=1)
            single[y_test == label] = bgm_predictive_log_density(one, Z_test[y_test == label])
        print(
            f"{'class':>5} {'test rows':>9} {'ours':>9} {'BGM pred.':>10} {'BGM plug-in':>12} "
            f"{'BGM(1) pred.':>13} {'ours K':>7} {'BGM K':>6}"
        )
        for index, label in enumerate(classes):
            test = y_test == label
            print(
                f"{label:>5} {int(test.sum()):>9} {ours_ll[test].mean():>9.2f} "
                f"{predictive[test].mean():>10.2f} {plug_in[test].mean():>12.2f} "
                f"{single[test].mean():>13.2f} {int(ours.n_clusters_[index]):>7} "
                f"{kept[index]:>6}"
            )
        gap = ours_ll.mean() - predictive.mean()
        print(
            f"{'all':>5} {len(Z_test):>9} {ours_ll.mean():>9.2f} {predictive.mean():>10.2f} "
            f"{plug_in.mean():>12.2f} {single.mean():>13.2f} {ours.n_clusters_.mean():>7.1f} "
            f"{np.mean(kept):>6.1f}"
        )
        print(
            f"ours - BGM predictive: {gap:+.2f} nats per row; fit of the 10 classes: ours "
            f"{ours_seconds:.1f} s ({args.digits_sweeps} sweeps), BGM {bgm_seconds:.1f} s "
            f"(variational iterations per class {min(iterations)}-{max(iterations)}); "
            f"BGM(1): n_components=1"
        )
        met = "met" if gap > 0 else "not met"
        summary.append(
            (
                f"digits PCA{dims}: held-out nats/row, ours / BGM pred. / plug-in / BGM(1)",
                f"{ours_ll.mean():.2f} / {predictive.mean():.2f} / {plug_in.mean():.2f} / "
                f"{single.mean():.2f}",
                f"ours > BGM pred.: {met}",
            )
        )
        summary.append(
            (
                f"digits PCA{dims}: components per class, ours / BGM",
                f"{ours.n_clusters_.mean():.1f} / {np.mean(kept):.1f}",
                "",
            )
        )


def convergence_section(summary):
    name, d, n, spread = SYNTHETIC[1]
    X, truth = clusters(d, n, spread)
    model, wall, cpu = fit_ours(X, 400)
    trace = model.n_clusters_trace_[0]
    first = converged_sweep(trace)
    ari = adjusted_rand_score(truth, model.component_labels_[0])
    print(f"\n4. A default fit (400 sweeps) on {name} ({load()})")
    print(
        f"CPU {cpu:.2f} s (wall {wall:.2f} s); components {int(trace[-1])} from sweep {first} on "
        f"(about {cpu * first / 400:.2f} s of CPU); ARI {ari:.3f}"
    )
    met = "met" if cpu <= 10 else "not met"
    what = f"default fit {name}: CPU s (stable from sweep)"
    summary.append((what, f"{cpu:.2f} ({first})", f"<= 10 s: {met}"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweeps", type=int, default=100, help="our sweeps in sections 1-2")
    parser.add_argument("--anchor-rows", type=int, default=300)
    parser.add_argument("--anchor-sweeps", type=int, default=5)
    parser.add_argument("--digits-sweeps", type=int, default=400)
    parser.add_argument("--skip-dpgmm", action="store_true", help="leave out the authors' sampler")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, CPU; {load()}")
    summary = []
    started = time.perf_counter()
    with threadpool_limits(1):
        ours = speed_section(args, summary)
        anchor_section(args, ours, summary)
        digits_section(args, summary)
        convergence_section(summary)
    print(f"\nSummary ({time.perf_counter() - started:.0f} s in all; {load()})")
    width = max(len(row[0]) for row in summary)
    for what, value, target in summary:
        print(f"{what:<{width}}  {value:<34} {target}")


if __name__ == "__main__":
    main()
