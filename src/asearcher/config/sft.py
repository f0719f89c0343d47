"""SFT section: supervised warm start on oracle (or given) trajectories."""

from __future__ import annotations

from pydantic import Field

from asearcher.config.base import Section


class SFTConfig(Section):
    enabled: bool = True
    """Run a warm start before RL (the bundled model never emits tool tags on its own)."""
    steps: int = Field(default=24, ge=0)
    """Optimizer steps of the warm start."""
    batch_size: int = Field(default=8, ge=1)
    """Trajectories per SFT step."""
    lr: float = Field(default=2e-4, gt=0)
    """SFT learning rate (AdamW)."""
    min_hops: int = Field(default=1, ge=1)
    """Warm start on questions with at least this many hops."""
    max_hops: int = Field(default=2, ge=1)
    """Warm start on questions with at most this many hops."""
    trajectories: str | None = None
    """A trajectories JSONL to imitate instead of generated oracle trajectories."""
    min_reward: float | None = None
    """With ``trajectories``: imitate only those whose recorded reward is at least this (None = all)."""
    balance_relations: bool = True
    """Pick the warm-start questions so that every relation of the world is imitated about equally often
    (within each kind of question: hop count × chain/comparison, in their natural proportions), not in
    proportion to how common it is: a seeded sample of 192 of the default world's questions held one "genre"
    and two "setting" hops against 41 "birth year" ones, and the rare relations' query wordings were the
    warm-started policy's most common 1-hop failure. Questions without a recorded chain are taken as
    sampled."""
    max_examples: int | None = Field(default=None, ge=1)
    """Oracle trajectories generated (a seeded sample of the eligible train questions; None = steps ×
    batch_size, i.e. every trajectory is seen once)."""
