"""Entry point of the ``asearcher`` console script: builds the parser from the command modules and
dispatches. Heavy imports (torch, transformers) happen inside each command's ``run``."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from asearcher import __version__
from asearcher.errors import AsearcherError
from asearcher.malloc import reexec_with_allocator, settle_environment

# name → (module, one-line help). Order is the order shown by --help.
COMMANDS: dict[str, tuple[str, str]] = {
    "ask": ("asearcher.cli.ask", "ask the search agent one question and print its trajectory"),
    "kb": ("asearcher.cli.kb", "build, query and serve local knowledge-base indexes"),
    "world": ("asearcher.cli.world", "generate and check the procedural knowledge world"),
    "train": ("asearcher.cli.train", "fully asynchronous RL training (warm start + async RL)"),
    "sft": ("asearcher.cli.sft", "supervised warm start on oracle or given trajectories"),
    "eval": ("asearcher.cli.eval", "evaluate a search agent on QA benchmarks, or score predictions"),
    "synth": ("asearcher.cli.synth", "synthesize hard, grounded QA with the QA synthesis agent"),
    "model": ("asearcher.cli.model", "inspect models of the registry (bundled, HF, tiny)"),
    "web": ("asearcher.cli.web", "web search and page fetching (check your web setup)"),
    "launch": ("asearcher.cli.launch", "launch distributed training (local, ray, slurm)"),
    "plot": ("asearcher.cli.plot", "plot training curves of a run directory to PNG"),
    "ui": ("asearcher.cli.ui", "web UI: watch an agent search live, inspect trajectories"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asearcher",
        description="Train and evaluate LLM search agents with fully asynchronous RL.",
    )
    parser.add_argument("--version", action="version", version=f"asearcher {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_parser(p)
        p.set_defaults(_module=module)
    return parser


def _quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    for name in ("httpx", "httpcore", "urllib3", "filelock"):
        logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the console script: re-executes itself once with jemalloc preloaded when it can
        try:
            reexec_with_allocator(sys.argv)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    _quiet_libraries()
    settle_environment(args.command)
    mod = importlib.import_module(args._module)
    try:
        return int(mod.run(args) or 0)
    except AsearcherError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
