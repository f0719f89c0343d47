"""CLI skeleton: subcommands are listed and each has --help."""

from __future__ import annotations

import subprocess
import sys

import pytest

from asearcher.cli.main import COMMANDS, main

REQUIRED = ["ask", "kb", "world", "train", "eval", "synth", "model", "ui"]


def test_help_lists_required_subcommands():
    out = subprocess.run([sys.executable, "-m", "asearcher.cli.main", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for name in REQUIRED:
        assert f"    {name} " in out, name


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as e:
        main([name, "--help"])
    assert e.value.code == 0
    assert "usage: asearcher" in capsys.readouterr().out


def test_help_does_not_import_torch():
    code = ("import sys; from asearcher.cli.main import build_parser; build_parser(); "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
