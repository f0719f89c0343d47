"""World section: the procedurally generated knowledge world (embedded default corpus + questions)."""

from __future__ import annotations

from pydantic import Field

from asearcher.config.base import Section


class WorldConfig(Section):
    seed: int = 0
    """Generator seed; the same seed gives byte-identical files."""
    entities: int = Field(default=400, ge=20)
    """Number of entities (people, places, organizations, works, events)."""
    max_hops: int = Field(default=4, ge=1, le=8)
    """Longest compositional question chain."""
    dir: str | None = None
    """Where the world lives; ``None`` = ``$ASEARCHER_HOME/worlds/seed{seed}-n{entities}-h{max_hops}`` (generated on demand)."""
