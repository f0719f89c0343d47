"""Model section: which policy model to load and how."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import field_validator

from asearcher.config.base import Section


class ModelConfig(Section):
    name: str = "smollm2-135m"
    """Registry name (``smollm2-135m``, ``tiny-llama``, ``tiny-qwen2``), a Hugging Face model name, or a local path."""
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    """Weight dtype in memory. Keep float32 for training (bf16 weights silently lose updates)."""
    chat_template: Literal["auto", "chat", "base"] = "auto"
    """``chat`` uses the tokenizer's chat template, ``base`` the raw "User: … Assistant:" format; ``auto`` picks
    ``chat`` when the tokenizer has a template."""
    device: str = "auto"
    """Where the in-process model (trainer and ``hf`` engine) lives: ``cpu``, ``cuda``, ``cuda:N``, or ``auto``
    (the first CUDA GPU when there is one, else the CPU)."""

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if v in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", v):
            return v
        raise ValueError(f"{v!r} is not a device; use auto, cpu, cuda or cuda:N")
