"""``asearcher launch``: run a distributed job described by one launch config (allocation of servers and
trainer ranks) with the ``local``, ``ray`` or ``slurm`` launcher. ``--dry-run`` prints what would run (for
Slurm: the sbatch script, which ``--write`` saves instead)."""

from __future__ import annotations

import argparse
import shlex


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="launch config (YAML/TOML/JSON; see docs/scale-out.md)")
    parser.add_argument("--launcher", choices=["local", "ray", "slurm"], help="overrides the config's launcher")
    parser.add_argument("--dry-run", action="store_true", help="print the plan / sbatch script, start nothing")
    parser.add_argument("--write", metavar="FILE", help="slurm: write the sbatch script to FILE")
    parser.add_argument("--ray-num-cpus", type=int, default=None, help="ray: CPUs of a Ray started here")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted overrides, e.g. servers.replicas=2")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from asearcher.config import load_config
    from asearcher.config.launch import LaunchConfig

    lc = load_config(LaunchConfig, args.config, args.overrides)
    launcher = args.launcher or lc.launcher
    if launcher == "slurm":
        from asearcher.launch.slurm import render_sbatch
        from asearcher.launch.worker import load_train_config
        from asearcher.models import resolve_model_dir

        model_dir = lc.servers.model or resolve_model_dir(load_train_config(lc).model.name)
        text = render_sbatch(lc, str(Path(lc.out) / "launch.yaml"), model_dir)
        if args.write:
            from asearcher.config import save_config

            save_config(lc, Path(lc.out) / "launch.yaml")
            tmp = Path(args.write + ".tmp")
            tmp.write_text(text)
            tmp.replace(args.write)
            print(f"wrote {args.write}; submit with: sbatch {shlex.quote(args.write)}")
        else:
            print(text, end="")
        return 0
    if args.dry_run:
        from asearcher.launch.servers import server_command

        for k in range(lc.servers.replicas):
            print("server", k, ":", server_command(lc.servers, "MODEL_DIR", lc.host, "PORT").shell())
        print(f"trainer: torchrun --nproc-per-node {lc.trainer.procs_per_node} -m asearcher.launch.worker "
              f"({launcher}, weight sync {lc.trainer.weight_sync}, job {lc.job})")
        return 0
    if launcher == "ray":
        from asearcher.launch.ray import run_ray

        return run_ray(lc, num_cpus=args.ray_num_cpus)
    from asearcher.launch.local import run_local

    return run_local(lc)
