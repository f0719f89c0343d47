"""``build_engine``: the configured engine type picks the implementation; missing modules give ConfigError."""

from __future__ import annotations

import asyncio
import sys

import pytest

from asearcher.config.engine import EngineConfig
from asearcher.config.model import ModelConfig
from asearcher.errors import ConfigError
from asearcher.inference.base import InferenceEngine
from asearcher.inference.factory import build_engine


def test_hf_engine_from_config(tiny_tokenizer):
    from asearcher.inference.hf import HFEngine

    engine = build_engine(ModelConfig(name="tiny-llama"), EngineConfig(type="hf", max_batch=3, prefix_cache=False),
                          tokenizer=tiny_tokenizer)
    assert isinstance(engine, HFEngine) and isinstance(engine, InferenceEngine)
    assert engine.max_batch == 3 and engine.prefix_cache is False and engine.tokenizer is tiny_tokenizer
    asyncio.run(engine.aclose())


@pytest.mark.parametrize(("autocast", "bf16_weights", "want"), [
    (True, True, "bfloat16"), (True, False, "float32"), (False, True, "float32")])
def test_hf_engine_keeps_bf16_weights_only_under_autocast(tiny_tokenizer, autocast, bf16_weights, want):
    import torch

    engine = build_engine(ModelConfig(name="tiny-llama"),
                          EngineConfig(type="hf", autocast_bf16=autocast, bf16_weights=bf16_weights),
                          tokenizer=tiny_tokenizer)
    linears = [m for m in engine.model.modules() if isinstance(m, torch.nn.Linear)]
    assert {str(m.weight.dtype) for m in linears} == {f"torch.{want}"}
    assert engine.model.get_input_embeddings().weight.dtype == torch.float32
    asyncio.run(engine.aclose())


def test_remote_engines_missing_module_is_a_config_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "asearcher.inference.remote", None)  # as if not installed
    with pytest.raises(ConfigError, match="asearcher.inference.remote"):
        build_engine(ModelConfig(name="tiny-llama"), EngineConfig(type="vllm"))


def test_openai_engine_is_built_lazily(monkeypatch):
    pytest.importorskip("asearcher.inference.openai")
    from asearcher.inference.openai import OpenAIEngine

    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    engine = build_engine(ModelConfig(), EngineConfig(type="openai", base_urls=["http://127.0.0.1:9/v1"]))
    assert isinstance(engine, OpenAIEngine) and engine.token_level is False
