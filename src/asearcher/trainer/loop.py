"""The asynchronous RL loop (algorithm notes §0): per step, take B accepted groups from the rollout
controller, build token rows and advantages, recompute π_prox, take one decoupled-PPO step, push the
weights under an engine pause, log, checkpoint. Generation keeps running while the trainer computes.

Talks to: ``rollout.controller`` (groups, weight-update bracket), a ``TrainEngine``, a ``WeightSync``,
``monitoring.Tracker`` and ``trainer.checkpoint``. Components are injected (``RLParts``) so tests and
benches can use fakes; ``trainer.pipeline`` builds the real ones.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asearcher.config import TrainConfig
from asearcher.inference.base import InferenceEngine
from asearcher.monitoring import Tracker, next_step_overruns
from asearcher.rewards.base import RewardFn
from asearcher.rollout.controller import BatchTimeout, EpisodeFn, Group, RolloutController
from asearcher.rollout.data import QuestionStream, stage_for
from asearcher.rollout.to_samples import trajectory_to_samples
from asearcher.trainer import checkpoint as ckpt
from asearcher.trainer.advantages import shaped_reward, token_advantages
from asearcher.trainer.engine import Batch, TrainEngine
from asearcher.trainer.weight_sync import WeightSync
from asearcher.types import Example, TrainSample

log = logging.getLogger(__name__)


@dataclass
class RLParts:
    """What the RL loop runs on."""

    train_engine: TrainEngine
    engine: InferenceEngine
    episode_fn: EpisodeFn
    reward_fn: RewardFn
    examples: list[Example]
    weight_sync: WeightSync


def build_samples(groups: list[Group], cfg: TrainConfig) -> tuple[list[TrainSample], list[list[float]]]:
    """Rows of all trajectories of ``groups`` with shaped rewards (§4.5) and batch-normalised advantages (§4.6)."""
    rc = cfg.reward
    samples: list[TrainSample] = []
    for g in groups:
        for traj, c in zip(g.trajectories, g.centred, strict=True):
            r = shaped_reward(c, rc.bias, rc.scaling, rc.clip)
            samples += trajectory_to_samples(traj, r, g.id)
    adv = token_advantages([s.reward for s in samples], [s.loss_mask for s in samples], normalize=rc.adv_norm)
    return samples, adv


def _rows(groups: list[Group], cfg: TrainConfig) -> tuple[list[TrainSample], Batch]:
    samples, adv = build_samples(groups, cfg)
    return samples, Batch.from_samples(samples, adv)


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def rollout_metrics(groups: list[Group], samples: list[TrainSample], version: int) -> dict[str, float]:
    """Reward, behaviour and staleness statistics of one consumed batch. Staleness of a token is
    ``version − token_version`` (version = the weights being trained, before this step's update)."""
    trajs = [t for g in groups for t in g.trajectories]
    st = [t.stats for t in trajs]
    lags = [version - v for s in samples for v, m in zip(s.versions, s.loss_mask, strict=True) if m]
    sample_lag = [max(version - v for v, m in zip(s.versions, s.loss_mask, strict=True) if m) for s in samples]
    m = {
        "reward/mean": _mean([t.reward or 0.0 for t in trajs]),
        "reward/score_mean": _mean([t.score or 0.0 for t in trajs]),
        "reward/format_mean": _mean([float(bool(t.format_ok)) for t in trajs]),
        "reward/answered": _mean([float(t.answer is not None) for t in trajs]),
        "reward/shaped_mean": _mean([s.reward for s in samples if s.begin_of_trajectory]),
        "rollout/trajectories": float(len(trajs)),
        "rollout/rows": float(len(samples)),
        "rollout/turns_mean": _mean([x.turns for x in st]),
        "rollout/turns_max": float(max((x.turns for x in st), default=0)),
        "rollout/searches_mean": _mean([x.searches for x in st]),
        "rollout/accesses_mean": _mean([x.accesses for x in st]),
        "rollout/tool_failures": float(sum(x.tool_failures for x in st)),
        "rollout/invalid_actions_mean": _mean([x.invalid_actions for x in st]),
        "rollout/output_tokens_mean": _mean([x.output_tokens for x in st]),
        "rollout/seq_len_mean": _mean([len(s.ids) for s in samples]),
        "rollout/seq_len_max": float(max((len(s.ids) for s in samples), default=0)),
        "rollout/staleness_mean": _mean(lags),
        "rollout/staleness_max": float(max(lags, default=0)),
        "rollout/sample_staleness_max": float(max(sample_lag, default=0)),
        "rollout/failed_in_batch": float(sum(g.failed for g in groups)),
        "data/hops_mean": _mean([float(g.example.meta.get("hops", 0) or 0) for g in groups]),
    }
    for kind in ("answer", "max_turns", "token_budget", "eos_without_answer"):
        m[f"rollout/finish_{kind}"] = _mean([float(x.finish == kind) for x in st])
    return m


class RunLog:
    """Per-step files of a run: ``consumed.jsonl`` (which questions each step trained on) and sampled
    trajectories under ``trajectories/``."""

    def __init__(self, run_dir: Path, save_trajectories: int):
        self.run_dir = run_dir
        self.save_trajectories = save_trajectories
        (run_dir / "trajectories").mkdir(parents=True, exist_ok=True)

    def record(self, step: int, groups: list[Group]) -> None:
        entry = {"step": step, "groups": [g.id for g in groups], "questions": [g.example.id for g in groups],
                 "indices": [g.index for g in groups]}
        with (self.run_dir / "consumed.jsonl").open("a") as f:
            f.write(json.dumps(entry) + "\n")
        if self.save_trajectories:
            picked = [t for k in range(max(len(g.trajectories) for g in groups))
                      for g in groups if k < len(g.trajectories) for t in [g.trajectories[k]]]
            path = self.run_dir / "trajectories" / f"step_{step:06d}.jsonl"
            tmp = path.with_suffix(".tmp")
            tmp.write_text("".join(t.model_dump_json() + "\n" for t in picked[: self.save_trajectories]))
            tmp.replace(path)

    def truncate(self, step: int) -> None:
        """Forget everything logged after ``step`` (resume)."""
        ckpt.truncate_jsonl(self.run_dir / "consumed.jsonl", step)
        ckpt.truncate_jsonl(self.run_dir / "metrics.jsonl", step)
        for p in (self.run_dir / "trajectories").glob("step_*.jsonl"):
            if int(p.stem.split("_")[1]) > step:
                p.unlink()


class CoreShare:
    """Torch intra-op threads of the trainer and of an in-process engine during async RL.

    Torch keeps its thread count per thread once a thread has run parallel work, so the count is set where
    the work runs: the trainer's calls run through ``run`` (in their worker thread), and the engine's loop
    is told with ``set_threads``. While the trainer computes, each gets ``train_threads``; while it waits
    for rollouts the engine gets ``idle_engine_threads`` (all cores by default: otherwise one of two cores
    idles for the larger part of a step on a CPU)."""

    def __init__(self, engine: Any, train_threads: int | None, idle_engine_threads: int | None,
                 after_threads: int | None = None):
        self.engine = engine if hasattr(engine, "set_threads") else None
        self.train_threads, self.idle_engine_threads = train_threads, idle_engine_threads
        self.after_threads = after_threads

    @classmethod
    def from_config(cls, cfg: TrainConfig, engine: Any) -> CoreShare:
        cores = os.cpu_count() or 2
        in_process = hasattr(engine, "set_threads")
        train = cfg.trainer.rl_torch_threads or (max(1, cores // 2) if in_process else None)
        idle = cores if cfg.trainer.rl_lend_idle_cores else train
        return cls(engine, train, idle, after_threads=cores)

    def run(self, fn: Any, *args: Any) -> Any:
        """Call ``fn(*args)`` with ``train_threads`` in the calling thread (then restore its count)."""
        if self.train_threads is None:
            return fn(*args)
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(self.train_threads)
        try:
            return fn(*args)
        finally:
            torch.set_num_threads(before)

    def training(self, busy: bool) -> None:
        """The trainer starts (``busy``) or stops computing: size the engine's loop accordingly."""
        if self.engine is not None:
            self.engine.set_threads(self.train_threads if busy else self.idle_engine_threads)

    def done(self) -> None:
        """RL is over: the engine's loop gets all cores again (evaluations follow)."""
        if self.engine is not None:
            self.engine.set_threads(self.after_threads)


def make_controller(cfg: TrainConfig, parts: RLParts) -> RolloutController:
    rc = cfg.rollout
    stream = QuestionStream(parts.examples, seed=cfg.seed, curriculum=rc.curriculum, max_hops=rc.max_hops,
                            adaptive=rc.adaptive_hops, window=rc.adaptive_window, floor=rc.adaptive_floor)
    return RolloutController(
        parts.engine, parts.episode_fn, parts.reward_fn, stream, batch_size=rc.batch_size, n_trajs=rc.n_trajs,
        max_concurrent=rc.max_concurrent, max_staleness=rc.max_staleness, strict_staleness=rc.strict_staleness,
        valid_inst_ratio=cfg.agent.valid_inst_ratio, use_format=cfg.reward.format_reward,
        invalid_penalty=cfg.reward.invalid_penalty, call_cost=cfg.reward.call_cost, seed=cfg.seed,
        drop_zero_variance=rc.drop_zero_variance, max_rejected_in_a_row=rc.max_rejected_in_a_row)


async def rl_loop(cfg: TrainConfig, run_dir: str | Path, parts: RLParts, tracker: Tracker,
                  resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Run RL steps until ``cfg.trainer.steps`` (continuing from the latest checkpoint with ``resume``), or
    until ``trainer.max_rl_minutes`` would be exceeded: no step starts that would end past it at the mean pace,
    and a step whose rollouts come too late to train before it is abandoned (the last step is checkpointed).
    The cap counts the run's RL time in total: each checkpoint records the time spent up to it, and a resume
    goes on from there (the first step of each invocation always runs).

    Returns a summary (steps reached, final version, last metrics, RL time in total)."""
    run_dir = Path(run_dir)
    tc = cfg.trainer
    controller = make_controller(cfg, parts)
    runlog = RunLog(run_dir, cfg.monitoring.save_trajectories)
    cores = CoreShare.from_config(cfg, parts.engine)
    cores.training(False)
    start, prior_s, pace_from = 0, 0.0, 0
    if resume and (path := ckpt.latest_checkpoint(run_dir)) is not None:
        state = ckpt.load_checkpoint(path, parts.train_engine)
        start = state["step"]
        # the time cap counts the run's RL time in total, across resumes; checkpoints written before it was
        # recorded (2026-12-07) lack it, and their cap and pace count from the resume
        prior_s = float(state.get("rl_elapsed_s", 0.0))
        pace_from = 0 if "rl_elapsed_s" in state else start
        controller.load_state_dict(state["controller"])
        runlog.truncate(start)
        await controller.update_weights(parts.weight_sync.push, parts.train_engine.version)
        log.info("resumed from %s (step %d, %d questions re-queued)", path, start, len(state["controller"]["pending"]))
    elif parts.train_engine.version != controller.version:
        # e.g. after a warm start: the rollout side restarts counting at the trainer's version
        controller.version = parts.train_engine.version
        controller.accepted = controller.version * cfg.rollout.batch_size
    bar = _progress(tc.steps, start, progress)
    last: dict[str, float] = {}
    done = start
    ckpt_s: float | None = None
    t_run = time.perf_counter() - prior_s  # when RL would have begun, run without a break
    controller.start()
    try:
        saved = start
        after_wait_s = 0.0  # the longest rows + π_prox + train + sync (+ checkpoint) of a step so far
        for step in range(start + 1, tc.steps + 1):
            t0 = time.perf_counter()
            timeout = None
            if tc.max_rl_minutes is not None and done > start:  # a slow step (its groups mostly dropped) must
                # not overrun the cap; the first step always runs (nothing tells yet how long training takes)
                timeout = max(0.0, 60 * tc.max_rl_minutes - (t0 - t_run) - after_wait_s)
            try:
                groups = await _wait_for_batch(controller, bar, timeout=timeout)
            except BatchTimeout:
                log.info("RL stops waiting for step %d's rollouts: %.1f min used of an RL time cap of %.1f min, "
                         "and training a step takes ~%.0f s", step, (time.perf_counter() - t_run) / 60,
                         tc.max_rl_minutes, after_wait_s)
                if done > saved:
                    state = {"controller": controller.state_dict(), "rl_elapsed_s": time.perf_counter() - t_run}
                    await asyncio.to_thread(ckpt.save_checkpoint, run_dir, done, parts.train_engine, state,
                                            tc.keep_checkpoints)
                break
            t1 = time.perf_counter()
            version = parts.train_engine.version
            # row building is pure Python over every token: keep it off the event loop that drives generation
            samples, batch = await asyncio.to_thread(_rows, groups, cfg)
            t1b = time.perf_counter()
            cores.training(True)
            try:
                if tc.decoupled and tc.prox_logp not in ("loglinear", "train_forward"):
                    batch.prox_logprobs = await asyncio.to_thread(cores.run, parts.train_engine.compute_logprobs,
                                                                  batch)
                t2 = time.perf_counter()
                stats = await asyncio.to_thread(cores.run, parts.train_engine.train_step, batch)
            finally:
                cores.training(False)
            t3 = time.perf_counter()
            await controller.update_weights(parts.weight_sync.push, parts.train_engine.version)
            t4 = time.perf_counter()
            runlog.record(step, groups)
            metrics = rollout_metrics(groups, samples, version)
            metrics.update({f"train/{k}": v for k, v in stats.items()})
            metrics.update({f"rollout/{k}": v for k, v in controller.snapshot().items()})
            lo, hi = stage_for(cfg.rollout.curriculum, controller.version, cfg.rollout.max_hops)
            metrics.update({"curriculum/max_hops": float(hi or 0), "curriculum/min_hops": float(lo),
                            "version": float(parts.train_engine.version),
                            "time/wait_rollout_s": t1 - t0, "time/rows_s": t1b - t1, "time/prox_s": t2 - t1b, "time/train_s": t3 - t2,
                            "time/sync_s": t4 - t3, "time/step_s": t4 - t0,
                            "time/elapsed_s": time.perf_counter() - t_run})
            if ckpt_s is not None:
                metrics["time/checkpoint_s"] = ckpt_s  # the checkpoint written after the previous step
                ckpt_s = None
            elapsed = time.perf_counter() - t_run
            out_of_time = step < tc.steps and next_step_overruns(elapsed, step - pace_from, tc.max_rl_minutes)
            # the step's row is written (and flushed) before its checkpoint is committed: a run killed between
            # the two resumes from the previous checkpoint and drops the row, never the other way round (a
            # checkpoint whose metrics row was lost)
            tracker.log(step, metrics)
            last = metrics
            if step % tc.save_every == 0 or step == tc.steps or out_of_time:
                t5 = time.perf_counter()
                # taken now, consistent with the weights
                state = {"controller": controller.state_dict(), "rl_elapsed_s": time.perf_counter() - t_run}
                await asyncio.to_thread(ckpt.save_checkpoint, run_dir, step, parts.train_engine, state,
                                        tc.keep_checkpoints)
                ckpt_s = time.perf_counter() - t5
                saved = step
            after_wait_s = max(after_wait_s, time.perf_counter() - t1)
            bar.update(1)
            bar.set_postfix(reward=f"{metrics['reward/mean']:.3f}", stale=f"{metrics['rollout/staleness_mean']:.2f}",
                            wait=f"{metrics['time/wait_rollout_s']:.1f}s", train=f"{metrics['time/train_s']:.1f}s")
            done = step
            if out_of_time:
                log.info("RL stops after step %d of %d: %.1f min used of an RL time cap of %.1f min",
                         step, tc.steps, elapsed / 60, tc.max_rl_minutes)
                break
    finally:
        bar.close()
        await controller.stop()
        cores.done()
    return {"steps": done, "version": parts.train_engine.version, "last": last,
            "rl_seconds": time.perf_counter() - t_run, "counters": dict(controller.counters)}


async def _wait_for_batch(controller: Any, bar: Any, every_s: float = 5.0, timeout: float | None = None) -> Any:
    """``controller.get_batch(timeout=...)``, showing the rollout counters on the progress bar while it waits
    (on a CPU one step's rollouts can take minutes, most of them in groups dropped for zero variance)."""
    task = asyncio.ensure_future(controller.get_batch(timeout=timeout))
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=every_s)
            if done:
                return task.result()
            c = controller.counters
            bar.set_postfix(finished=c["finished_trajectories"], accepted=c["accepted_total"],
                            dropped=c["rejected_groups"], failed=c["failed_trajectories"])
    except asyncio.CancelledError:
        task.cancel()
        raise


def _progress(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="RL", unit="step", disable=not enabled, dynamic_ncols=True)
