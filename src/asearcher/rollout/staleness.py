"""Staleness control by admission (pure): how many new episodes the rollout controller may start now.

Used by ``rollout.controller`` before every admission; no I/O, no torch.
"""

from __future__ import annotations


def capacity(max_concurrent: int, batch_size: int, max_staleness: int, version: int, accepted: int,
             running: int, world_size: int = 1) -> int:
    """Episodes that may start now (AReaL ``get_capacity``; paper arXiv 2505.24298 Eq. 3).

    ``capacity = min(C_max − running, (η + i + 1)·B − (accepted + running))`` with per-rank
    ``C_max = max(1, max_concurrent // ws)`` and ``B = max(1, batch_size // ws)``.

    Args:
        max_concurrent: C_max, episodes generated at once (all ranks together).
        batch_size: B, accepted episodes consumed per training step (all ranks together).
        max_staleness: η; 0 is synchronous RL.
        version: i, the rollout side's current weight version (bumped after each update completes).
        accepted: episodes accepted since the run started (cumulative; on resume at version v start at v·B).
        running: episodes in flight.
        world_size: data-parallel ranks, each running its own controller.

    Returns:
        A possibly negative number; start a new episode only while it is > 0 (and not paused).
    """
    if min(max_concurrent, batch_size, world_size) < 1 or max_staleness < 0 or version < 0:
        raise ValueError(f"bad capacity inputs: C_max={max_concurrent} B={batch_size} ws={world_size} "
                         f"eta={max_staleness} version={version}")
    c_max = max(1, max_concurrent // world_size)
    b = max(1, batch_size // world_size)
    return min(c_max - running, (max_staleness + version + 1) * b - (accepted + running))


def admits(n_r: int, batch_size: int, version: int, max_staleness: int) -> bool:
    """Paper Eq. 3: trajectory number ``n_r`` (1-based, counting all so far) may start iff
    ``floor((N_r − 1) / B) <= i + η``."""
    return (n_r - 1) // batch_size <= version + max_staleness
