"""Whether to compute in bf16: only where the hardware does bf16 arithmetic natively.

On a CPU without bf16 instructions (AVX512-BF16 / AMX on x86, the ``bf16`` feature on Arm) torch emulates bf16
and a matmul runs several times slower than in fp32 — measured 4.7× (autocast 6×) on a 2-core AVX-512 Xeon
without AVX512-BF16, where the default warm start's step took ~110 s instead of ~20 s (docs/LOG.md,
2026-11-28 session 12). ``"auto"`` settings resolve here, once, against the device the model sits on.
"""
from __future__ import annotations

import functools
import logging
from typing import Literal

import torch

log = logging.getLogger(__name__)

Bf16Setting = bool | Literal["auto"]


@functools.cache
def _cpu_flags() -> frozenset[str]:
    """CPU feature flags from /proc/cpuinfo (x86 ``flags``, Arm ``Features``); empty where there is none."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 natively (AVX512-BF16 or AMX on x86; ``bf16`` on Arm)."""
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        fn = getattr(torch.cpu, probe, None)
        if fn is not None and fn():
            return True
    return bool({"avx512_bf16", "amx_bf16", "bf16"} & _cpu_flags())


def native_bf16(device: torch.device | str) -> bool:
    """Does ``device`` compute bf16 natively? CUDA: ``torch.cuda.is_bf16_supported()``; CPU: its instructions."""
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if kind == "cpu":
        return cpu_has_native_bf16()
    return False


def resolve_bf16(setting: Bf16Setting, device: torch.device | str, what: str = "bf16 autocast") -> bool:
    """``True``/``False`` as given; ``"auto"`` = bf16 only where ``device`` computes it natively (logged once
    per call site when it turns bf16 off, so a slow-looking run says why it runs in fp32)."""
    if setting != "auto":
        return bool(setting)
    on = native_bf16(device)
    if not on:
        log.info("%s off (auto): %s has no native bf16 arithmetic, where fp32 is faster", what,
                 torch.device(device).type)
    return on
