"""``python -m sklearn_robust compare``: train the papers' models, attack them, write a report."""

from __future__ import annotations

import argparse
import os
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
    compare.add_argument("--dataset", choices=("digits", "mnist", "csv"), default="digits")
    compare.add_argument("path", nargs="?", help="the CSV file for --dataset csv")
    compare.add_argument("--data-dir", help="folder of the MNIST files (--dataset mnist)")
    compare.add_argument("--models", help="comma-separated model names (default: all)")
    compare.add_argument("--attacks", default="noise,fgsm,pgd", help="comma-separated")
    compare.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    compare.add_argument("--n-eval", type=int, help="test examples attacked and certified")
    compare.add_argument("--random-state", type=int, default=0)
    compare.add_argument("--out", default="report", help="report folder (default: report)")
    compare.add_argument("--quick", action="store_true", help="fewer models and epochs (< 1 min)")
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
    )


def _check_writable(out):
    parent = Path(out).resolve().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise ValueError(f"cannot write the report to {out}: {parent} is not a writable folder")


def main(argv=None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        config = _config(args)
        _check_writable(args.out)
        import matplotlib  # noqa: F401 - the report's figures need it; fail before any work
    except (ValueError, ImportError) as exc:
        print(f"sklearn-robust: error: {exc}", file=sys.stderr)
        return 2
    from .compare import run_comparison
    from .report import write_report

    started = time.perf_counter()
    try:
        comparison = run_comparison(config, progress=lambda line: print(line, flush=True))
        folder = write_report(comparison, args.out)
    except (OSError, ValueError) as exc:
        print(f"sklearn-robust: error: {exc}", file=sys.stderr)
        return 1
    table = comparison.results.pivot(index="measure", columns="model", values="value")
    print(table[list(dict.fromkeys(comparison.results.model))].to_string(float_format="%.4g"))
    print(f"\nReport: {folder / 'index.html'}  ({time.perf_counter() - started:.0f} s)")
    return 0
