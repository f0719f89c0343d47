"""Rollout section: asynchronous generation, groups and staleness control."""

from __future__ import annotations

from pydantic import Field, model_validator

from asearcher.config.base import Section


class CurriculumStage(Section):
    """From ``from_step`` on (until the next stage), train on questions with ``min_hops``..``max_hops`` hops."""

    from_step: int = Field(default=0, ge=0)
    """First RL step (weight version) of this stage."""
    min_hops: int = Field(default=1, ge=1)
    """Fewest hops of a question admitted in this stage."""
    max_hops: int | None = Field(default=None, ge=1)
    """Most hops of a question admitted in this stage (None = no limit)."""
    hop_shares: dict[int, float] | None = None
    """Fixed draw shares by hop count while this stage is in force, e.g. ``{1: 1, 3: 2}`` (a third of the
    groups 1-hop, two thirds 3-hop); replaces adaptive hop sampling for the stage. Every hop count must lie
    within ``min_hops``..``max_hops``; a hop count left out is not drawn (unless the epoch has run out of
    the drawn ones). None = adaptive sampling (``rollout.adaptive_hops``) or the dataset's own mix. The
    shares set what is generated, not what is trained: groups dropped for zero variance never reach a
    batch, so a hop count the policy almost never solves stays rare in training (``rollout/mixed_rate_hop*``
    shows it) — ``train_shares`` aims at the trained mix instead."""
    train_shares: dict[int, float] | None = None
    """Target shares by hop count of the *trained* (kept) groups, e.g. ``{1: 1, 2: 1, 3: 2}``: a hop count is
    drawn with weight ``share / mixed rate``, its recent share of groups with mixed rewards (the smoothed rate
    of ``rollout.adaptive_window`` groups, as adaptive sampling uses), so a hop count whose groups are rarely
    mixed is drawn more often until its kept groups reach their share. It spends generation on the hard hop
    counts (most of their groups are dropped) to keep easy and hard questions side by side in every batch.
    Same range rules as ``hop_shares``; a stage sets at most one of the two."""

    @model_validator(mode="after")
    def _shares_in_range(self) -> CurriculumStage:
        if self.hop_shares is not None and self.train_shares is not None:
            raise ValueError("a curriculum stage sets hop_shares (what is drawn) or train_shares (what is "
                             "trained), not both; keep one")
        for name in ("hop_shares", "train_shares"):
            shares = getattr(self, name)
            if shares is None:
                continue
            if not shares:
                raise ValueError(f"{name} is empty; give e.g. {{1: 1, 3: 2}}, or leave it out for adaptive "
                                 "sampling")
            for h, w in shares.items():
                if h < self.min_hops or (self.max_hops is not None and h > self.max_hops):
                    raise ValueError(f"{name} names {h} hops, outside this stage's {self.min_hops}.."
                                     f"{self.max_hops or 'any'}; widen min_hops/max_hops or drop it")
                if not w > 0:
                    raise ValueError(f"{name}[{h}] = {w}; shares must be > 0 (leave a hop count out to skip it)")
        return self


class RolloutConfig(Section):
    batch_size: int = Field(default=4, ge=1)
    """B: accepted episodes (question groups) consumed per training step."""
    n_trajs: int = Field(default=4, ge=1)
    """Trajectories per question (the GRPO group). Needs ≥ 2: single-trajectory groups are always dropped."""
    max_concurrent: int = Field(default=4, ge=1)
    """C_max: episodes (groups) generated at once."""
    max_staleness: int = Field(default=4, ge=0)
    """η: how many versions generation may run ahead of training (0 = synchronous RL). Admission (AReaL's
    ``max_head_offpolicyness``) bounds the head: a group starts only if it can be trained within η versions.
    One group much slower than the rest can still be trained later; ``strict_staleness`` bounds that too."""
    strict_staleness: bool = False
    """Also bound the tail: hold a training step back while a group admitted η versions ago is still being
    generated (it must be trained in this step), so no sample's version lag exceeds η. Costs throughput
    when episode lengths are long-tailed (``bench/async_vs_sync.py``: scheduling efficiency 0.985 → 0.82)."""
    drop_zero_variance: bool = True
    """Drop groups whose rewards are all equal (ASearcher; they carry no GRPO signal). False keeps them (their
    centred rewards are 0) — useful for smoke runs of random models that never earn a reward."""
    max_rejected_in_a_row: int = Field(default=64, ge=1)
    """Fail the run (with advice) after this many consecutive dropped groups: the policy gets no signal."""
    adaptive_hops: bool = True
    """Adaptive hop sampling within the curriculum's hop range: draw a hop count with probability ∝ the
    recent share of its groups that had mixed rewards (at least ``adaptive_floor``), so generation goes to
    groups that are kept rather than dropped for zero variance. False = the dataset's own mix of hops.
    Questions without a hop count are served only once the drawn hop count has none left in the epoch, so
    for a dataset that mixes questions with and without ``hops`` set this to false."""
    adaptive_window: int = Field(default=8, ge=1)
    """Groups per hop count that the mixed share is computed over (the most recent ones)."""
    adaptive_floor: float = Field(default=0.15, gt=0.0, le=1.0)
    """Smallest draw weight of an allowed hop count (keeps probing hop counts that are all-fail for now)."""
    max_hops: int | None = None
    """Curriculum: only train on questions with at most this many hops (None = all)."""
    curriculum: list[CurriculumStage] = Field(default_factory=lambda: [
        CurriculumStage(from_step=0, min_hops=1, max_hops=3), CurriculumStage(from_step=3, min_hops=1, max_hops=4)])
    """Hop-count stages by RL step, e.g. ``[{from_step: 0, max_hops: 2}, {from_step: 10, max_hops: 4}]``;
    overrides ``max_hops`` once a stage applies; ``[]`` = none. Questions without a hop count pass every
    stage. Default: 1–3 hops, then 1–4 hops from step 3 (a stage of 3–4 hops alone left a weak warm-started
    policy with mostly all-wrong groups, dropped for zero variance; short questions keep groups mixed)."""
