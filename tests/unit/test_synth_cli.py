"""``asearcher synth`` configuration: file, overrides and flags; clear errors; roles share engines."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from asearcher.cli.synth import add_parser, build_config, resolve_pages
from asearcher.config.synth import SynthConfig, SynthRoleConfig
from asearcher.errors import ConfigError


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_parser(parser)
    return parser.parse_args(argv)


def test_flags_override_file_and_overrides(tmp_path):
    cfg_file = tmp_path / "s.yaml"
    cfg_file.write_text("n: 5\nmax_steps: 2\nreasoning: null\ninstruct:\n  max_new_tokens: 64\n")
    cfg = build_config(_args(["--config", str(cfg_file), "--n", "7", "--world", "123", "--base-url", "http://h/v1",
                              "--reasoning-model", "r1", "--no-progress", "n_direct=3", "max_steps=4"]))
    assert (cfg.n, cfg.max_steps, cfg.n_direct, cfg.progress) == (7, 4, 3, False)
    assert cfg.world.dir == "123"  # a flag value is never re-parsed as YAML
    assert cfg.instruct == SynthRoleConfig(base_url="http://h/v1", max_new_tokens=64)
    assert cfg.reasoning is not None and cfg.reasoning.model == "r1" and cfg.reasoning.base_url is None


def test_bad_values_are_named():
    with pytest.raises(ConfigError, match="unknown key 'n_directs'"):
        build_config(_args(["n_directs=3"]))
    with pytest.raises(ConfigError, match="'max_final_accuracy'"):
        build_config(_args(["max_final_accuracy=2"]))
    with pytest.raises(SystemExit):
        _args(["--model", "m", "--base-url", "http://h"])


def test_resolve_pages_prefers_pages_then_world_dir(tmp_path):
    assert resolve_pages(SynthConfig(pages="x.jsonl")) == Path("x.jsonl")
    (tmp_path / "pages.jsonl").write_text("{}\n")
    assert resolve_pages(SynthConfig(world={"dir": str(tmp_path)})) == tmp_path / "pages.jsonl"


def test_every_config_field_is_documented():
    for model in (SynthConfig, SynthRoleConfig):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no docstring"


def test_synth_config_imports_without_torch():
    code = "import sys, asearcher.config.synth, asearcher.cli.synth; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_roles_on_one_endpoint_share_the_engine():
    from asearcher.synth.roles import build_roles

    cfg = SynthConfig(instruct={"base_url": "http://127.0.0.1:9/v1", "max_new_tokens": 32},
                      reasoning={"base_url": "http://127.0.0.1:9/v1", "max_new_tokens": 300})
    instruct, reasoning = build_roles(cfg)
    assert instruct.chat is reasoning.chat and (instruct.max_new_tokens, reasoning.max_new_tokens) == (32, 300)
    other = SynthConfig(instruct={"base_url": "http://127.0.0.1:9/v1"}, reasoning={"base_url": "http://127.0.0.1:8"})
    a, b = build_roles(other)
    assert a.chat.engine is not b.chat.engine and b.name == "http://127.0.0.1:8"


def test_world_dir_is_generated_when_missing(tmp_path):
    cfg = SynthConfig(world={"dir": str(tmp_path / "w"), "entities": 20, "max_hops": 2})
    pages = resolve_pages(cfg)
    assert pages == tmp_path / "w" / "pages.jsonl" and pages.is_file()
    assert (tmp_path / "w" / "entities.jsonl").is_file()
