"""Rewards → per-token advantages (pure; algorithm notes §4 steps 5–6).

Used by ``trainer.loop`` on every batch; works on plain lists so that it needs no torch.
"""

from __future__ import annotations

import math


def shaped_reward(centred: float, bias: float = -0.5, scaling: float = 10.0, clip: float = 20.0) -> float:
    """``r = clip((c + bias)·scale, ±clip)`` (ASearcher: bias −0.5, scale 10, clip 20)."""
    return max(-clip, min(clip, (centred + bias) * scaling))


def token_advantages(rewards: list[float], masks: list[list[int]], normalize: bool = True,
                     eps: float = 1e-5) -> list[list[float]]:
    """Every mask-1 token of row k gets ``rewards[k]`` (GAE with γ = λ = 1, values 0, KL 0); then, with
    ``normalize``, ``(A − mean)/(std + eps)`` over all mask tokens of the batch (population variance,
    float64, token-weighted). Mask-0 positions get 0.

    Example (notes §4): rewards [1.25, −3.75, −8.75, −8.75] with [2, 1, 1, 1] mask tokens →
    mean −3.75, std 4.472136 → [1.118031, 1.118031 | 0 | −1.118031 | −1.118031].

    Args:
        rewards: shaped reward per row (a trajectory's rows all carry its reward).
        masks: loss mask per row.
        normalize: batch-level advantage normalisation (``adv_norm``).
        eps: added to the std.
    """
    if len(rewards) != len(masks):
        raise ValueError(f"{len(rewards)} rewards for {len(masks)} rows")
    values = [r for r, m in zip(rewards, masks, strict=True) for x in m if x]
    mean, std = 0.0, 1.0
    if normalize and values:
        mean = math.fsum(values) / len(values)
        var = math.fsum((v - mean) ** 2 for v in values) / len(values)
        std = math.sqrt(var) + eps
    return [[(r - mean) / std if x else 0.0 for x in m] for r, m in zip(rewards, masks, strict=True)]
