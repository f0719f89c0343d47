"""Builds the configured inference engine (``EngineConfig.type``) for the CLI, rollout and evaluation.

Talks to: ``asearcher.models`` (loading the policy for the in-process engine) and the engine modules, each
imported only when chosen so that remote/HTTP engines never import torch and vice versa.
"""

from __future__ import annotations

import importlib
from typing import Any

from asearcher.config.engine import EngineConfig
from asearcher.config.model import ModelConfig
from asearcher.errors import ConfigError
from asearcher.inference.base import InferenceEngine


def build_engine(model_cfg: ModelConfig, engine_cfg: EngineConfig, tokenizer: Any = None) -> InferenceEngine:
    """An engine for ``engine_cfg.type``.

    ``hf`` loads ``model_cfg.name`` in-process (and its tokenizer unless given; the engine owns that model, so
    ``bf16_weights`` may convert it); ``openai`` is text-only;
    ``vllm``/``sglang`` are remote token-level clients of ``asearcher.inference.remote``.
    """
    kind = engine_cfg.type
    if kind == "hf":
        from asearcher.inference.hf import HFEngine
        from asearcher.models import load_model, load_tokenizer
        from asearcher.precision import resolve_bf16

        model = load_model(model_cfg.name, dtype=model_cfg.dtype, device=model_cfg.device)
        tok = tokenizer if tokenizer is not None else load_tokenizer(model_cfg.name)
        bf16 = resolve_bf16(engine_cfg.autocast_bf16, next(model.parameters()).device, "engine bf16 autocast")
        return HFEngine(model, tok, max_batch=engine_cfg.max_batch, prefix_cache=engine_cfg.prefix_cache,
                        autocast_bf16=bf16, bf16_weights=bf16 and engine_cfg.bf16_weights)
    if kind == "openai":
        return _engine_class("asearcher.inference.openai", "OpenAIEngine", kind).from_config(engine_cfg)
    if kind in ("vllm", "sglang"):
        return _engine_class("asearcher.inference.remote", "RemoteEngine", kind).from_config(engine_cfg, tokenizer)
    raise ConfigError(f"engine.type: unknown engine {kind!r}; choose hf, vllm, sglang or openai")


def _engine_class(module: str, name: str, kind: str) -> Any:
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name != module:
            raise
        raise ConfigError(f"engine.type={kind!r} needs {module}, which this installation does not have yet; "
                          "use engine.type=hf (in-process) instead") from e
    try:
        return getattr(mod, name)
    except AttributeError as e:
        raise ConfigError(f"engine.type={kind!r}: {module} has no {name}") from e
