"""`asearcher eval` (not implemented yet)."""

from __future__ import annotations

import argparse

from asearcher.cli._common import not_implemented, run_not_implemented


def add_parser(parser: argparse.ArgumentParser) -> None:
    not_implemented(parser, "planned; see the issue tracker")


def run(args: argparse.Namespace) -> int:
    return run_not_implemented(args)
