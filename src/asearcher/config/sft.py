"""SFT section: supervised warm start on oracle (or given) trajectories."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from asearcher.config.base import Section


class SFTConfig(Section):
    enabled: bool = True
    """Run a warm start before RL (the bundled model never emits tool tags on its own)."""
    steps: int = Field(default=44, ge=0)
    """Optimizer steps of the warm start (44 × 8 trajectories: about 15.5 min on 2 cores with jemalloc, run
    r22; under glibc's malloc steps slow down and ``max_minutes`` stops it earlier). 28 steps left RL more
    minutes but no 2-hop chaining to build on (runs r12, w0 in docs/LOG.md)."""
    max_minutes: float | None = Field(default=18, gt=0)
    """Stop the warm start early when the next step would end past this many minutes (None = no limit), so
    that a slower machine still finishes the default run in 45 minutes; with the default constant learning rate
    (``trainer.lr_schedule``), a shortened warm start is the same recipe with fewer steps."""
    batch_size: int = Field(default=8, ge=1)
    """Trajectories per SFT step."""
    lr: float = Field(default=2e-4, gt=0)
    """SFT learning rate (AdamW): the peak, when ``lr_schedule`` decays."""
    lr_schedule: Literal["constant", "cosine", "linear"] = "constant"
    """SFT learning-rate schedule, decaying to 0 at ``steps`` or at ``max_minutes``, whichever comes first
    (the trainer section's schedule is RL's)."""
    min_hops: int = Field(default=1, ge=1)
    """Warm start on questions with at least this many hops."""
    max_hops: int = Field(default=2, ge=1)
    """Warm start on questions with at most this many hops."""
    trajectories: str | None = None
    """A trajectories JSONL to imitate instead of generated oracle trajectories."""
    min_reward: float | None = None
    """With ``trajectories``: imitate only those whose recorded reward is at least this (None = all)."""
    balance_relations: bool = False
    """Pick the warm-start questions so that every relation of the world is imitated about equally often
    (within each kind of question: hop count × chain/comparison, in their natural proportions), not in
    proportion to how common it is. Off by default: on the default world it fixed most rare-relation query
    wordings but lowered greedy EM on 2-hop chain questions from 12/28 to 2/28 (60 test questions per hop,
    docs/LOG.md 2026-11-26 night) — the natural mix lets a small policy stop when it finds a year or a
    number, a shortcut that holds on the (equally natural) test split. Questions without a recorded chain
    are taken as sampled."""
    max_examples: int | None = Field(default=None, ge=1)
    """Oracle trajectories generated (a seeded sample of the eligible train questions; None = steps ×
    batch_size, i.e. every trajectory is seen once)."""
