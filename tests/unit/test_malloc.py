"""The allocator the ``asearcher`` command re-executes itself with (asearcher.malloc)."""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from asearcher.cli.main import main
from asearcher.malloc import LOADED, plan, settle_environment

INSTALLED = {name: ctypes.util.find_library(lib) for name, lib in (("jemalloc", "jemalloc"),
                                                                    ("tcmalloc", "tcmalloc_minimal"))}


def finder(*present: str):
    libs = {"jemalloc": "libjemalloc.so.2", "tcmalloc_minimal": "libtcmalloc_minimal.so.4"}
    return lambda name: libs[name] if name in present else None


def test_auto_prefers_jemalloc_then_tcmalloc_then_nothing():
    both = finder("jemalloc", "tcmalloc_minimal")
    assert plan({}, both, "linux") == ("jemalloc", "libjemalloc.so.2")
    assert plan({"ASEARCHER_MALLOC": "auto"}, finder("tcmalloc_minimal"), "linux") == \
        ("tcmalloc", "libtcmalloc_minimal.so.4")
    assert plan({}, finder(), "linux") is None
    assert plan({"ASEARCHER_MALLOC": "tcmalloc"}, both, "linux") == ("tcmalloc", "libtcmalloc_minimal.so.4")


@pytest.mark.parametrize("env,platform", [
    ({"ASEARCHER_MALLOC": "system"}, "linux"),
    ({}, "darwin"),
    ({"LD_PRELOAD": "/opt/lib/libjemalloc.so"}, "linux"),  # the user's own choice
    ({"LD_PRELOAD": "libtcmalloc.so.4"}, "linux"),
    ({LOADED: "jemalloc=libjemalloc.so.2"}, "linux"),  # already re-executed
])
def test_no_reexec_when_told_not_to_or_already_preloaded(env, platform):
    assert plan(env, finder("jemalloc", "tcmalloc_minimal"), platform) is None


def test_a_named_allocator_that_is_missing_or_a_bad_mode_is_an_error():
    with pytest.raises(ValueError, match="libjemalloc is not installed.*apt install libjemalloc2"):
        plan({"ASEARCHER_MALLOC": "jemalloc"}, finder("tcmalloc_minimal"), "linux")
    with pytest.raises(ValueError, match="ASEARCHER_MALLOC='mimalloc'.*auto, jemalloc, tcmalloc, system"):
        plan({"ASEARCHER_MALLOC": "mimalloc"}, finder(), "linux")


def test_the_command_reports_a_bad_mode(monkeypatch, capsys):
    monkeypatch.setenv("ASEARCHER_MALLOC", "fast")
    monkeypatch.setattr(sys, "argv", ["asearcher", "--version"])
    assert main() == 2
    assert "ASEARCHER_MALLOC='fast'" in capsys.readouterr().err


def test_the_reexecuted_process_gives_children_the_users_preload(monkeypatch):
    monkeypatch.setenv(LOADED, "jemalloc=libjemalloc.so.2")
    monkeypatch.setenv("LD_PRELOAD", "libjemalloc.so.2:/opt/user.so")
    assert settle_environment("train") == "jemalloc"
    assert os.environ["LD_PRELOAD"] == "/opt/user.so" and LOADED not in os.environ
    monkeypatch.setenv(LOADED, "jemalloc=libjemalloc.so.2")
    monkeypatch.setenv("LD_PRELOAD", "libjemalloc.so.2")
    settle_environment("train")
    assert "LD_PRELOAD" not in os.environ


PROBE = """
import os, sys
from asearcher.malloc import reexec_with_allocator, settle_environment
reexec_with_allocator(sys.argv)
name = settle_environment()
maps = open("/proc/self/maps").read()
print(name, "jemalloc" in maps or "tcmalloc" in maps, repr(os.environ.get("LD_PRELOAD", "")))
"""


@pytest.mark.skipif(sys.platform != "linux" or not any(INSTALLED.values()),
                    reason="needs Linux with jemalloc or tcmalloc installed (apt install libjemalloc2)")
def test_a_process_reexecutes_itself_with_the_allocator_loaded(tmp_path: Path):
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASEARCHER_MALLOC", LOADED)}
    run = lambda **extra: subprocess.run([sys.executable, str(script)], env={**env, **extra}, capture_output=True,  # noqa: E731
                                         text=True, check=True).stdout.split()
    expected = "jemalloc" if INSTALLED["jemalloc"] else "tcmalloc"
    assert run() == [expected, "True", "''"]
    assert run(ASEARCHER_MALLOC="system") == ["glibc", "False", "''"]
