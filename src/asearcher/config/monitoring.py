"""Monitoring section: where metrics go."""

from __future__ import annotations

from pydantic import Field

from asearcher.config.base import Section


class MonitoringConfig(Section):
    jsonl: bool = True
    """Write ``metrics.jsonl`` in the run directory."""
    tensorboard: bool = True
    """Write TensorBoard event files under ``tb/`` in the run directory."""
    stdout_every: int = Field(default=1, ge=0)
    """Log a one-line summary every N steps (0 = never)."""
    save_trajectories: int = Field(default=8, ge=0)
    """Sampled trajectories written per step to ``trajectories/`` (0 = none)."""
