"""Asynchronous rollout controller: keeps up to ``max_concurrent`` question groups generating, admits new
ones only within the staleness capacity, scores finished groups, drops zero-variance groups and hands
accepted groups to the trainer oldest first. It also brackets every weight update (stop admitting →
pause engine → sync → resume → bump version).

Talks to: an ``InferenceEngine`` (pause/resume/update), an episode function (the agent), a ``RewardFn``,
a ``QuestionStream`` and a ``WeightSync``. Used by ``trainer.loop`` and ``bench/async_vs_sync.py``.

Failure policy: an episode whose trajectory has ``error`` set (a tool backend down past its retries) is
recorded (``failed_trajectories``) and its group is completed without it — centring uses the remaining
trajectories, and a group left with fewer than 2 is dropped. Any exception raised by the episode function,
the reward function or the engine kills the run: ``get_batch`` re-raises it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from asearcher.errors import AsearcherError
from asearcher.inference.base import InferenceEngine
from asearcher.rewards.base import RewardFn, group_centre, score_trajectory
from asearcher.rollout.data import QuestionStream
from asearcher.rollout.staleness import capacity
from asearcher.types import Example, Trajectory

log = logging.getLogger(__name__)

class NoSignalError(AsearcherError):
    """Every recent group was dropped for zero reward variance: training would wait forever."""


EpisodeFn = Callable[[Example, bool, str], Awaitable[Trajectory]]
"""``(example, valid_instruction, trajectory_id) -> Trajectory``."""


class BatchTimeout(TimeoutError):
    """``get_batch`` ran out of its time (not a failure of the run)."""


@dataclass
class Group:
    """One accepted question group (a GRPO group): its trajectories and their centred rewards."""

    id: str
    index: int
    """Position of the question in the dataset (for resume bookkeeping)."""
    example: Example
    trajectories: list[Trajectory]
    centred: list[float]
    """``reward − group mean`` per trajectory."""
    admitted_version: int
    failed: int = 0
    """Trajectories of this group that failed (tool down) and were left out."""
    finished_at: float = field(default_factory=time.monotonic)


class RolloutController:
    """Staleness-controlled asynchronous group generation (AReaL ``WorkflowExecutor`` semantics).

    Args:
        engine: the inference engine (paused around weight updates).
        episode_fn: runs one trajectory.
        reward_fn: task score of a finished trajectory.
        stream: where questions come from.
        batch_size: B, groups per training step. n_trajs: trajectories per group.
        max_concurrent: C_max. max_staleness: η.
        strict_staleness: also hold a batch back for a group admitted η versions ago (see ``get_batch``).
        valid_inst_ratio: probability that a group's prompt says "find the most likely answer" instead of
            allowing "the question is invalid" (then claiming invalid scores ``invalid_penalty``).
        use_format: multiply scores by the format check. invalid_penalty: see above.
        call_cost: share of a positive score lost per tool call (``rewards.base.shape_score``).
        seed: seeds the per-group valid-instruction switch (deterministic per question draw).
    """

    def __init__(self, engine: InferenceEngine, episode_fn: EpisodeFn, reward_fn: RewardFn,
                 stream: QuestionStream, *, batch_size: int, n_trajs: int, max_concurrent: int,
                 max_staleness: int, strict_staleness: bool = False, valid_inst_ratio: float = 0.0, use_format: bool = True,
                 invalid_penalty: float = -0.5, call_cost: float = 0.0, seed: int = 0,
                 drop_zero_variance: bool = True, max_rejected_in_a_row: int | None = None):
        self.engine, self.episode_fn, self.reward_fn, self.stream = engine, episode_fn, reward_fn, stream
        self.batch_size, self.n_trajs = batch_size, n_trajs
        self.max_concurrent, self.max_staleness = max_concurrent, max_staleness
        self.strict_staleness = strict_staleness
        self.valid_inst_ratio, self.use_format, self.invalid_penalty = valid_inst_ratio, use_format, invalid_penalty
        self.call_cost = call_cost
        self.seed = seed
        self.drop_zero_variance, self.max_rejected_in_a_row = drop_zero_variance, max_rejected_in_a_row
        self._rejected_in_a_row = 0
        self.version = 0
        self.accepted = 0
        """Cumulative accepted groups (AReaL counts it from the run start; on resume: version · B)."""
        self.running = 0
        self.counters = {"rejected_groups": 0, "failed_trajectories": 0, "failed_groups": 0,
                         "finished_trajectories": 0, "accepted_total": 0, "stale_groups": 0}
        self.buffer: deque[Group] = deque()
        self.in_flight: dict[str, int] = {}
        """group id → question index, for groups being generated."""
        self._running_versions: dict[str, int] = {}
        """group id → version it was admitted at, for groups being generated."""
        self._paused = False
        self._failure: BaseException | None = None
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._admitter: asyncio.Task | None = None

    # ---- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Start admitting (needs a running event loop)."""
        if self._admitter is None:
            self._admitter = asyncio.create_task(self._admit_loop(), name="rollout-admission")
            self._admitter.add_done_callback(self._on_admitter_done)

    async def stop(self) -> None:
        """Stop admitting and cancel groups in flight (their questions stay in ``in_flight``)."""
        self._paused = True
        tasks = [t for t in (self._admitter, *self._tasks) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._admitter = None

    def _on_admitter_done(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._fail(task.exception())

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = exc
            log.error("rollout failed: %r", exc)
        self._changed.set()

    def _capacity(self) -> int:
        return capacity(self.max_concurrent, self.batch_size, self.max_staleness, self.version,
                        self.accepted, self.running)

    async def _admit_loop(self) -> None:
        while True:
            while not self._paused and self._failure is None and self._capacity() > 0:
                self._launch()
            self._changed.clear()
            await self._changed.wait()

    def _launch(self) -> None:
        index, example = self.stream.next(self.version)
        gid = f"g{self.stream.draws:06d}-{example.id}"
        self.running += 1
        self.in_flight[gid] = index
        self._running_versions[gid] = self.version
        task = asyncio.create_task(self._run_group(gid, index, example, self.version), name=gid)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- one group -----------------------------------------------------------------------------------
    async def _run_group(self, gid: str, index: int, example: Example, version: int) -> None:
        try:
            rng = random.Random(f"{self.seed}:{gid}")
            valid = rng.random() >= self.valid_inst_ratio
            trajs = await asyncio.gather(*(self.episode_fn(example, valid, f"{gid}#{k}")
                                           for k in range(self.n_trajs)))
            ok = [t for t in trajs if t.error is None]
            failed = len(trajs) - len(ok)
            self.counters["failed_trajectories"] += failed
            self.counters["finished_trajectories"] += len(trajs)
            for t in trajs:
                if t.error is not None:
                    log.warning("trajectory %s failed (left out of its group): %s", t.id, t.error)
            rewards = [await score_trajectory(t, self.reward_fn, self.use_format, self.invalid_penalty,
                                                self.call_cost)
                       for t in ok]
            centred = group_centre(rewards)
            if len(ok) >= 2:  # a group that lost trajectories to tool failures says nothing about difficulty
                self.stream.record(index, centred is not None)
            if centred is None and not self.drop_zero_variance and rewards:
                centred = [r - sum(rewards) / len(rewards) for r in rewards]
            if centred is None:
                self.counters["failed_groups" if len(ok) < 2 and failed else "rejected_groups"] += 1
                self._rejected_in_a_row += 1
                if self.max_rejected_in_a_row and self._rejected_in_a_row >= self.max_rejected_in_a_row:
                    raise NoSignalError(
                        f"{self._rejected_in_a_row} groups in a row had identical rewards (mean reward "
                        f"{sum(rewards) / max(1, len(rewards)):.3f}): the policy gets no learning signal. Warm start "
                        "it first (sft.enabled=true), use easier questions (rollout.curriculum), a larger "
                        "rollout.n_trajs, or keep such groups with rollout.drop_zero_variance=false")
            else:
                self._rejected_in_a_row = 0
                self.accepted += 1
                self.counters["accepted_total"] += 1
                self.buffer.append(Group(gid, index, example, ok, centred, version, failed))
        except asyncio.CancelledError:
            raise
        except BaseException as e:  # noqa: BLE001 — engine/agent/reward bugs kill the run, loudly
            self._fail(e)
        else:
            self.in_flight.pop(gid, None)
        finally:
            self.running -= 1
            self._running_versions.pop(gid, None)
            self._changed.set()

    # ---- trainer side --------------------------------------------------------------------------------
    async def get_batch(self, n: int | None = None, timeout: float | None = None) -> list[Group]:
        """Wait until ``n`` (default B) accepted groups are buffered and take them, oldest admission first.

        Admission alone lets the version run ahead of one slow group (other groups fill the batches). With
        ``strict_staleness`` η holds for every sample: a batch is also held back while a group admitted at
        ``version − η`` or earlier is still being generated (it must be trained in this step), and groups
        that could still not be trained in time (more than ``n`` that old) are dropped and counted
        (``stale_groups``).
        """
        n = n or self.batch_size
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._failure is not None:
                raise self._failure
            oldest_due = self.version - self.max_staleness if self.strict_staleness else -1
            waiting_for_old = any(v <= oldest_due for v in self._running_versions.values())
            if len(self.buffer) >= n and not waiting_for_old:
                return self._take(n, oldest_due)
            self._changed.clear()
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if wait == 0.0:
                old = " (waiting for a group admitted η versions ago)" if waiting_for_old else ""
                raise BatchTimeout(f"only {len(self.buffer)} of {n} groups ready after {timeout}s{old}")
            try:
                await asyncio.wait_for(self._changed.wait(), wait)
            except TimeoutError:
                continue

    def _take(self, n: int, oldest_due: int) -> list[Group]:
        order = sorted(range(len(self.buffer)), key=lambda i: (self.buffer[i].admitted_version, i))
        taken = [self.buffer[i] for i in order[:n]]
        rest = [self.buffer[i] for i in sorted(order[n:])]
        stale = [g for g in rest if g.admitted_version <= oldest_due]
        if stale:
            self.counters["stale_groups"] += len(stale)
            log.warning("dropping %d groups admitted at version <= %d: more than a batch would exceed "
                        "max_staleness=%d", len(stale), oldest_due, self.max_staleness)
        self.buffer = deque(g for g in rest if g.admitted_version > oldest_due)
        return taken

    async def update_weights(self, push: Callable[[InferenceEngine, int], Awaitable[None]], version: int) -> None:
        """Stop admitting, pause the engine, ``push(engine, version)``, resume, bump the version, admit again."""
        self._paused = True
        await self.engine.pause()
        try:
            await push(self.engine, version)
        finally:
            await self.engine.resume()
        self.version = version
        self._paused = False
        self._changed.set()

    # ---- resume ----------------------------------------------------------------------------------------
    def pending_questions(self) -> list[int]:
        """Questions drawn but not yet trained: buffered groups, then groups in flight."""
        return [g.index for g in self.buffer] + list(self.in_flight.values())

    def state_dict(self) -> dict[str, Any]:
        return {"version": self.version, "counters": dict(self.counters), "stream": self.stream.state_dict(),
                "pending": self.pending_questions()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore at a checkpoint: version, counters, data position; untrained questions are served first;
        ``accepted = version · B`` so that admission does not burst (AReaL ``on_version_recovered``)."""
        self.version = state["version"]
        self.counters.update(state["counters"])
        self.stream.load_state_dict(state["stream"])
        self.stream.requeue(state["pending"])
        self.accepted = self.version * self.batch_size
        self.running = 0
        self.buffer.clear()
        self.in_flight.clear()
        self._running_versions.clear()

    def snapshot(self) -> dict[str, float]:
        """Live counters for metrics."""
        return {"running": float(self.running), "buffered": float(len(self.buffer)),
                "capacity": float(self._capacity()), **{k: float(v) for k, v in self.counters.items()},
                **{f"mixed_rate_hop{h}": self.stream.mixed_rate(h) for h in sorted(self.stream.outcomes)}}
