"""``python -m sklearn_robust compare``: train the papers' models, attack them, write a report."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["main"]


def _parser():
    parser = argparse.ArgumentParser(
        prog="sklearn-robust",
        description="Robustness of neural representations, the scikit-learn way.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    compare = commands.add_parser(
        "compare",
        help="train the papers' model family on one split, attack it and write a report",
    )
    compare.add_argument(
        "--dataset", choices=("digits", "mnist", "cifar10", "csv"), default="digits"
    )
    compare.add_argument("path", nargs="?", help="the CSV file for --dataset csv")
    compare.add_argument(
        "--data-dir",
        help="the MNIST files' folder (--dataset mnist); CIFAR-10's files, folder, .tar.gz "
        "or .npz (--dataset cifar10)",
    )
    compare.add_argument("--models", help="comma-separated model names (default: all)")
    compare.add_argument("--attacks", default="noise,fgsm,pgd", help="comma-separated")
    compare.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    compare.add_argument("--n-eval", type=int, help="test examples attacked and certified")
    compare.add_argument("--random-state", type=int, default=0)
    compare.add_argument(
        "--seeds",
        type=int,
        default=1,
        metavar="N",
        help="train every model N times (random states R, R+1, ...): the summary gives mean "
        "and spread, each claim counts the seeds that agree (default 1)",
    )
    compare.add_argument(
        "--memorisation",
        action="store_true",
        help="also estimate per-class memorisation (Feldman and Zhang) of the unregularised "
        "network: 8 more trainings on random subsets (4 with --quick)",
    )
    compare.add_argument("--out", default="report", help="report folder (default: report)")
    compare.add_argument("--quick", action="store_true", help="fewer models and epochs (< 1 min)")
    compare.add_argument(
        "--n-jobs",
        type=int,
        help="models measured at once, in worker processes (default 1, and -1 with "
        "--dataset cifar10; -1: one per CPU; with --scheduler: default every worker thread "
        "of the cluster)",
    )
    compare.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="measure the models on the dask.distributed scheduler at ADDRESS "
        "(e.g. tcp://HEAD:8786), through joblib's dask backend",
    )
    compare.add_argument(
        "--scheduler-timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="how long to try to reach the scheduler (default 5)",
    )
    return parser


def _names(text):
    """``"a, b,"`` -> ``("a", "b")``."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _config(args):
    from .compare import ComparisonConfig

    data_path = args.path if args.dataset == "csv" else args.data_dir
    if args.dataset == "csv" and not args.path:
        raise ValueError("--dataset csv needs the CSV file: compare --dataset csv PATH")
    if data_path is not None and not Path(data_path).exists():
        raise ValueError(f"no such file or folder: {data_path}")
    return ComparisonConfig(
        dataset=args.dataset,
        data_path=data_path,
        models=_names(args.models) if args.models else None,
        attacks=_names(args.attacks),
        quick=args.quick,
        n_eval=args.n_eval,
        device=args.device,
        random_state=args.random_state,
        seeds=args.seeds,
        memorisation=args.memorisation,
    )


def _n_jobs(args):
    """``--n-jobs``: 1 by default; one per CPU on CIFAR-10, whose models take minutes each
    (worker start-up pays); every worker thread of the cluster with ``--scheduler``."""
    if args.n_jobs is None:
        return -1 if args.scheduler is not None or args.dataset == "cifar10" else 1
    if args.n_jobs == 0 or args.n_jobs < -1:
        raise ValueError(f"--n-jobs must be a positive integer or -1; got {args.n_jobs}")
    return args.n_jobs


def _connect(address, timeout):
    """A ``distributed.Client`` of the scheduler at ``address``, or a one-line ValueError."""
    if not timeout > 0:
        raise ValueError(f"--scheduler-timeout must be positive; got {timeout}")
    try:
        from distributed import Client
    except ImportError as exc:
        raise ImportError(
            "--scheduler needs dask.distributed: pip install 'sklearn-robust[dist]'"
        ) from exc
    import logging

    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import get_backend

    try:  # a malformed address fails here: a Client built on one hangs when collected
        scheme, location = parse_address(address)
        get_backend(scheme)
        if scheme in ("tcp", "tls"):
            host, _ = parse_host_port(location, default_port=8786)
            if not host:
                raise ValueError("no host")
    except ValueError as exc:
        raise ValueError(f"not a dask scheduler address: {address!r} ({exc})") from None
    # distributed logs every failed attempt; the one line below says it all.
    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except Exception as exc:  # OSError, TimeoutError, ValueError (a malformed address), ...
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"cannot connect to the dask scheduler at {address}: {reason}") from None
    finally:
        logger.setLevel(level)


def _forget_caught_interrupt():
    """Let the exit status be 130 although Ctrl-C landed inside ``exec``'d source.

    CPython notes a KeyboardInterrupt raised in source run by ``exec`` (dataclasses
    and torch's lazy imports do that) as unhandled even when it is caught, and then
    ends the process by SIGINT instead of with the status ``main`` returns. Each
    ``exec`` of source clears that note first.
    """
    exec("None")


def _claims_line(comparison):
    """``Claims: 11 agree, 1 disagree, 10 not measured here (the report's first table)``."""
    from .compare._claims import VERDICTS, claims_table

    counts = claims_table(comparison).verdict.value_counts()
    tally = ", ".join(f"{counts.get(verdict, 0)} {verdict}" for verdict in VERDICTS)
    return f"\nThe papers' claims: {tally} (the report's first table)"


def main(argv=None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    client = None
    try:
        config = _config(args)
        n_jobs = _n_jobs(args)
        from .compare import check_report_folder

        check_report_folder(args.out)
        import matplotlib  # noqa: F401 - the report's figures need it; fail before any work

        if args.scheduler is not None:
            client = _connect(args.scheduler, args.scheduler_timeout)
    except (ValueError, ImportError) as exc:
        print(f"sklearn-robust: error: {exc}", file=sys.stderr)
        return 2
    from .compare import run_comparison, write_report

    started = time.perf_counter()
    try:
        comparison = run_comparison(
            config,
            progress=lambda line: print(line, flush=True),
            n_jobs=n_jobs,
            client=client,
        )
        folder = write_report(comparison, args.out)
    except (OSError, ValueError) as exc:
        print(f"sklearn-robust: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        _forget_caught_interrupt()
        print(f"sklearn-robust: interrupted; {args.out} is left as it was", file=sys.stderr)
        return 130
    finally:
        if client is not None:
            client.close()
    print(comparison.summary(as_text=True).to_string())
    print(_claims_line(comparison))
    print(f"\nReport: {folder / 'index.html'}  ({time.perf_counter() - started:.0f} s)")
    return 0
