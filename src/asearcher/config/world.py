"""World section: the procedurally generated knowledge world (embedded default corpus + questions)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from asearcher.config.base import Section


class WorldConfig(Section):
    seed: int = 0
    """Generator seed; the same seed gives byte-identical files."""
    entities: int = Field(default=400, ge=20)
    """Number of entities (people, places, organizations, works, events)."""
    max_hops: int = Field(default=4, ge=1, le=8)
    """Longest compositional question chain."""
    passage_words: int = Field(default=100, ge=10)
    """Target passage length in words (±15 %; filler prose pads each passage; 100 = wiki-18 style)."""
    wording: Literal["varied", "fixed"] = "varied"
    """How a relation's facts are worded: ``varied`` = one of 2–3 wordings drawn per entity (a policy cannot
    know from the question which one a passage uses); ``fixed`` = one wording per relation, so the search
    reformulation ("Who mentored P?" → "P trained under") is learnable. Both keep the twins, the wording that
    differs from the question's and the comparison questions."""
    dir: str | None = None
    """Where the world lives; ``None`` = ``$ASEARCHER_HOME/worlds/seed{seed}-n{entities}-h{max_hops}[-w{passage_words}][-fixed]`` (generated on demand)."""
