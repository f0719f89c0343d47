"""``asearcher train``: warm start + fully asynchronous RL + before/after evaluation (see
``trainer.pipeline``). With no arguments it runs the embedded default (bundled SmolLM2-135M on the
generated world, sized for a 2-core CPU); ``--resume RUN_DIR`` continues a killed run."""

from __future__ import annotations

import argparse
from pathlib import Path

from asearcher.cli._common import add_config_args


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", help="run directory (default: the config's `out`, runs/default)")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="continue the run in RUN_DIR from its latest checkpoint (uses RUN_DIR/config.yaml; "
                             "overrides still apply, e.g. trainer.steps=40 to extend a finished run: RL goes on "
                             "and the final evaluation runs again; add max_minutes=null once the run's 45-minute "
                             "budget is spent). A run whose time cap stopped RL short of trainer.steps goes on "
                             "under a looser cap (a larger trainer.max_rl_minutes or max_minutes, or null). "
                             "Caps count the run's time in total, across resumes: raise a spent one together "
                             "with trainer.steps")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_config_args(parser)


def run(args: argparse.Namespace) -> int:
    from asearcher.config import TrainConfig, load_config, save_config
    from asearcher.errors import ConfigError

    if args.resume:
        run_dir = Path(args.resume)
        if not (run_dir / "config.yaml").is_file():
            raise ConfigError(f"--resume {run_dir}: no config.yaml there (not a run directory)")
        if args.config:
            raise ConfigError("--resume uses RUN_DIR/config.yaml; drop --config (overrides are still allowed)")
        cfg = load_config(TrainConfig, run_dir / "config.yaml", args.overrides)
    else:
        cfg = load_config(TrainConfig, args.config, args.overrides)
        run_dir = Path(args.out or cfg.out)
        if (run_dir / "config.yaml").exists():
            raise ConfigError(f"{run_dir} already holds a run; continue it with `asearcher train --resume {run_dir}` "
                              "or choose another --out")
    cfg.out = str(run_dir)
    save_config(cfg, run_dir / "config.yaml")

    from asearcher.trainer.pipeline import run_train

    report = run_train(cfg, run_dir, resume=bool(args.resume), progress=not args.no_progress)
    if report.get("markdown"):
        print(f"\nEvaluation on world:{cfg.eval.split} (greedy), {cfg.eval_metric} by hop count:\n")
        print(report["markdown"])
    print(f"run directory: {run_dir}")
    return 0
