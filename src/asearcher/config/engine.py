"""Engine section: which inference engine serves the policy."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from asearcher.config.base import Section


class EngineConfig(Section):
    type: Literal["hf", "vllm", "sglang", "openai"] = "hf"
    """``hf``: in-process transformers engine with continuous batching (CPU default); ``vllm``/``sglang``: remote
    servers (token ids + logprobs); ``openai``: any OpenAI-compatible endpoint (text only, eval/judge/synth)."""
    max_batch: int = Field(default=8, ge=1)
    """In-process engine: maximum sequences decoded together."""
    prefix_cache: bool = True
    """In-process engine: reuse a trajectory's KV cache across turns instead of re-prefilling."""
    base_urls: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:30000"])
    """Remote engines: server base URLs (several servers = data-parallel replicas, sticky per trajectory)."""
    model: str | None = None
    """``openai``: model name sent in requests (default: the served model)."""
    api_key_env: str = "OPENAI_API_KEY"
    """``openai``: environment variable that holds the API key (never logged)."""
    timeout_s: float = Field(default=600.0, gt=0)
    """Remote engines: per-request timeout."""
    autocast_bf16: bool | Literal["auto"] = False
    """In-process engine: run the forward pass under bf16 autocast (the trainer's fp32 weights stay fp32).
    ``auto``: only where the model's device computes bf16 natively (``asearcher.precision``)."""
    bf16_weights: bool = True
    """In-process engine with ``autocast_bf16``: keep its own copy's linear-layer weights in bf16, the values
    autocast computes with (same outputs), instead of re-casting them on every forward — 2× faster decode of
    one sequence on 2 CPU cores (docs/benchmarks.md). No effect without ``autocast_bf16``."""
