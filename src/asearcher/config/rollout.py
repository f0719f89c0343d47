"""Rollout section: asynchronous generation, groups and staleness control."""

from __future__ import annotations

from pydantic import Field

from asearcher.config.base import Section


class RolloutConfig(Section):
    batch_size: int = Field(default=4, ge=1)
    """B: accepted episodes (question groups) consumed per training step."""
    n_trajs: int = Field(default=4, ge=1)
    """Trajectories per question (the GRPO group). Needs ≥ 2: single-trajectory groups are always dropped."""
    max_concurrent: int = Field(default=4, ge=1)
    """C_max: episodes (groups) generated at once."""
    max_staleness: int = Field(default=4, ge=0)
    """η: how many versions generation may run ahead of training (0 = synchronous RL)."""
    max_hops: int | None = None
    """Curriculum: only train on questions with at most this many hops (None = all)."""
