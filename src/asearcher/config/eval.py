"""Evaluation section."""

from __future__ import annotations

from pydantic import Field

from asearcher.config.base import Section


class EvalConfig(Section):
    split: str = "test"
    """World split evaluated after training."""
    limit: int | None = Field(default=None, ge=1)
    """Evaluate at most this many questions (None = all)."""
    k: int = Field(default=1, ge=1)
    """Samples per question (Avg@k, Pass@k)."""
    temperature: float = Field(default=0.0, ge=0)
    """0 = greedy (reproducible)."""
    concurrency: int = Field(default=8, ge=1)
    """Episodes evaluated at once."""
