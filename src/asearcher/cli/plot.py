"""``asearcher plot RUN_DIR``: PNG curves of a run's ``metrics.jsonl`` (and ``sft/metrics.jsonl``) under
``RUN_DIR/plots/`` (matplotlib, Agg backend)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run directory of `asearcher train` or `asearcher sft`")
    parser.add_argument("--out", help="where the PNGs go (default RUN_DIR/plots)")
    parser.add_argument("--metrics", help="comma-separated metric names to plot (default: a standard set)")


def run(args: argparse.Namespace) -> int:
    from asearcher.trainer.plots import plot_run

    names = [m.strip() for m in args.metrics.split(",")] if args.metrics else None
    written = plot_run(Path(args.run_dir), Path(args.out) if args.out else None, names)
    for p in written:
        print(p)
    return 0
