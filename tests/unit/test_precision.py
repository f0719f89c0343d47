"""``autocast_bf16: auto`` turns bf16 on only where the device computes it natively (``asearcher.precision``)."""

from __future__ import annotations

import asyncio
import copy

import pytest
import torch

from asearcher import precision
from asearcher.config import TrainerConfig
from asearcher.config.engine import EngineConfig
from asearcher.config.model import ModelConfig
from asearcher.inference.factory import build_engine
from asearcher.trainer.local import LocalTrainEngine


def _cpu(monkeypatch, *, avx512_bf16=False, amx=False, flags=()):
    """Pretend to be a CPU with the given bf16 features (torch's probes and /proc/cpuinfo flags)."""
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(precision, "_cpu_flags", lambda: frozenset(flags))


@pytest.mark.parametrize(("features", "want"), [
    ({}, False),
    ({"avx512_bf16": True}, True),
    ({"amx": True}, True),
    ({"flags": ("fp", "asimd", "bf16")}, True),  # an Arm CPU's Features line
    ({"flags": ("avx2", "avx512f", "avx512_vnni")}, False),  # AVX-512 without its bf16 extension
])
def test_auto_follows_the_cpu_features(monkeypatch, features, want):
    _cpu(monkeypatch, **features)
    assert precision.native_bf16("cpu") is want
    assert precision.resolve_bf16("auto", torch.device("cpu")) is want


@pytest.mark.parametrize("setting", [True, False])
def test_an_explicit_setting_is_kept_whatever_the_cpu(monkeypatch, setting):
    _cpu(monkeypatch, avx512_bf16=not setting)
    assert precision.resolve_bf16(setting, "cpu") is setting


def test_cpu_flags_are_read_from_proc_cpuinfo(tmp_path, monkeypatch):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: X\nflags\t\t: fpu avx512f avx512_bf16\n\n")
    real_open = open
    monkeypatch.setattr("builtins.open", lambda p, *a, **k: real_open(info if p == "/proc/cpuinfo" else p, *a, **k))
    precision._cpu_flags.cache_clear()
    try:
        assert {"avx512f", "avx512_bf16"} <= precision._cpu_flags()
    finally:
        precision._cpu_flags.cache_clear()


def test_config_defaults_are_auto_and_accept_booleans():
    from asearcher.config import TrainConfig

    cfg = TrainConfig()
    assert cfg.trainer.autocast_bf16 == "auto" and cfg.engine.autocast_bf16 == "auto"
    assert TrainerConfig(autocast_bf16=False).autocast_bf16 is False
    with pytest.raises(ValueError):
        TrainerConfig(autocast_bf16="sometimes")


@pytest.mark.parametrize("native", [False, True])
def test_trainer_and_engine_resolve_auto(monkeypatch, tiny_llama, tiny_tokenizer, native):
    _cpu(monkeypatch, avx512_bf16=native)
    trainer = LocalTrainEngine(copy.deepcopy(tiny_llama[0]), TrainerConfig(autocast_bf16="auto"))
    assert trainer.bf16 is native
    assert isinstance(trainer._autocast(), torch.autocast) is native
    engine = build_engine(ModelConfig(name="tiny-llama"), EngineConfig(type="hf", autocast_bf16="auto"),
                          tokenizer=tiny_tokenizer)
    linears = {m.weight.dtype for m in engine.model.modules() if isinstance(m, torch.nn.Linear)}
    assert linears == {torch.bfloat16 if native else torch.float32}
    asyncio.run(engine.aclose())
