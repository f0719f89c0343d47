"""Small helpers shared by command modules."""

from __future__ import annotations

import argparse
import sys


def not_implemented(parser: argparse.ArgumentParser, issue: str) -> None:
    """Mark a subcommand as not implemented yet: it says so plainly and exits non-zero."""
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.set_defaults(_not_implemented=issue)


def run_not_implemented(args: argparse.Namespace) -> int:
    print(f"asearcher {args.command}: not implemented yet ({args._not_implemented})", file=sys.stderr)
    return 2


def add_config_args(parser: argparse.ArgumentParser) -> None:
    """``--config FILE`` plus dotted ``key=value`` overrides."""
    parser.add_argument("--config", help="YAML/TOML config file")
    parser.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="dotted overrides, e.g. trainer.lr=1e-6"
    )
