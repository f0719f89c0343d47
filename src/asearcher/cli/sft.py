"""``asearcher sft``: supervised warm start only — oracle trajectories from the world's train split (or a
trajectories JSONL via ``sft.trajectories=FILE``), loss on assistant tokens; writes ``OUT/sft/model`` (a
Hugging Face model dir usable as ``model.name``), ``OUT/sft/metrics.jsonl`` and the imitated trajectories."""

from __future__ import annotations

import argparse
from pathlib import Path

from asearcher.cli._common import add_config_args


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", help="output directory (default: the config's `out`)")
    parser.add_argument("--oracle-only", action="store_true",
                        help="only write the oracle trajectories (OUT/sft/trajectories.jsonl), no training")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_config_args(parser)


def run(args: argparse.Namespace) -> int:
    from asearcher.config import TrainConfig, load_config, save_config

    cfg = load_config(TrainConfig, args.config, args.overrides)
    out = Path(args.out or cfg.out)
    cfg.out = str(out)
    save_config(cfg, out / "sft" / "config.yaml")

    from asearcher.trainer.sft import run_sft_command

    result = run_sft_command(cfg, out, oracle_only=args.oracle_only, progress=not args.no_progress)
    for k, v in result.items():
        print(f"{k:24s} {v}")
    return 0
