"""Reward section: task score × format, invalid-question handling, shaping."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from asearcher.config.base import Section


class RewardConfig(Section):
    type: Literal["f1", "em", "cem", "judge"] = "f1"
    """Task score of the final answer against the gold aliases (``judge`` = LLM judge, see ``judge_url``)."""
    format_reward: bool = True
    """Multiply the score by the format check (balanced tags, one action per call)."""
    invalid_penalty: float = -0.5
    """Score of an answer claiming the question is invalid (ASearcher)."""
    call_cost: float = Field(default=0.0, ge=0.0, lt=1.0)
    """Share of a positive score lost per tool call (search or access): ``score × format ×
    max(0, 1 − call_cost·calls)``. A group whose answers are all right but took different numbers of calls
    then carries a signal (use no more calls than the question needs) instead of being dropped; a wrong
    answer loses nothing for searching, so exploring stays free. 0 = ASearcher's reward."""
    bias: float = -0.5
    """Shaped reward r = clip((score - group_mean + bias) * scaling, ±clip)."""
    scaling: float = 10.0
    """Reward scaling (ASearcher: 10)."""
    clip: float = Field(default=20.0, gt=0)
    """Shaped rewards are clipped to ±clip."""
    adv_norm: bool = True
    """Normalise advantages over all loss tokens of the batch (mean/std)."""
    judge_url: str | None = None
    """OpenAI-compatible base URL of the judge model (``type: judge``)."""
    judge_model: str | None = None
    """Judge model name sent to ``judge_url`` (recorded with every judgment)."""
