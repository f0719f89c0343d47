"""Asynchronous vs synchronous RL on a long-tailed agent workload, run by the REAL rollout controller and RL
loop (``asearcher.trainer.loop.rl_loop``) with a simulated engine and trainer whose costs are proportional
to tokens (no model).

Workload: each trajectory makes 1–64 LLM calls (log-uniform, so most are short and a few are very long),
each call samples a few dozen tokens and then waits for a tool whose latency is lognormal. The simulated
engine decodes up to ``max_batch`` sequences in parallel (GPU-like: a step costs the same for any batch),
is interruptible (pause holds decoding at chunk boundaries; tokens carry the version they were sampled
with), and reuses each trajectory's prefix (only new prompt tokens cost prefill). The simulated trainer
sleeps in proportion to the tokens of each batch (π_prox recompute + update) and runs beside generation,
as on separate devices.

Reported, from one run with the same workload:
- trajectories trained per minute with η = 4 (asynchronous) and η = 0 (synchronous, same code path);
- the generation-only bound: the same engine and workload with nothing else (no trainer, no pauses, no
  staleness limit), and the scheduling efficiency = η = 4 throughput / that bound;
- without ``--quick``, also η = 4 with ``rollout.strict_staleness`` (a step waits for a group admitted η
  versions ago, so no sample's lag exceeds η) and its scheduling efficiency. The ``max`` column is the
  largest per-sample version lag.

    python bench/async_vs_sync.py --quick      # < 1 min
    python bench/async_vs_sync.py              # longer, steadier

The last line is the headline ``async_vs_sync_ratio: X``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from asearcher.config import TrainConfig, load_config
from asearcher.monitoring import Tracker
from asearcher.rollout.controller import RolloutController
from asearcher.rollout.data import QuestionStream
from asearcher.trainer.loop import RLParts, rl_loop
from asearcher.types import EpisodeStats, Example, GenerateRequest, GenerateResponse, LLMCall, Trajectory


@dataclass
class Costs:
    """Simulated seconds (before ``scale``)."""

    decode_step: float = 0.004
    """One decode step (all running sequences advance one token)."""
    prefill_token: float = 0.00005
    tool_median: float = 0.15
    tool_sigma: float = 0.8
    train_token: float = 0.00004
    prox_token: float = 0.000015
    sync: float = 0.05
    out_tokens: tuple[int, int] = (10, 30)
    obs_tokens: int = 40
    prompt_tokens: int = 60
    max_turns: int = 64


class SimEngine:
    """Interruptible, batch-parallel engine whose decode time is proportional to sampled tokens."""

    token_level = True

    def __init__(self, costs: Costs, scale: float, max_batch: int, chunk: int = 8):
        self.c, self.scale, self.chunk = costs, scale, chunk
        self._version = 0
        self._running = asyncio.Event()
        self._running.set()
        self._slots = asyncio.Semaphore(max_batch)
        self.tokens = 0
        self._cached: dict[str | None, int] = {}

    @property
    def version(self) -> int:
        return self._version

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        async with self._slots:
            await self._running.wait()
            new = len(request.input_ids) - self._cached.get(request.session_id, 0)  # prefix reuse per trajectory
            await asyncio.sleep(self.scale * self.c.prefill_token * new)
            ids: list[int] = []
            vers: list[int] = []
            while len(ids) < request.max_new_tokens:
                await self._running.wait()
                k = min(self.chunk, request.max_new_tokens - len(ids))
                await asyncio.sleep(self.scale * self.c.decode_step * k)
                ids += [7] * k
                vers += [self._version] * k
            self.tokens += len(ids)
            self._cached[request.session_id] = len(request.input_ids) + len(ids)
        return GenerateResponse(output_ids=ids, output_logprobs=[-1.0] * len(ids), output_versions=vers,
                                finish_reason="stop")

    async def pause(self) -> None:
        self._running.clear()

    async def resume(self) -> None:
        self._running.set()

    async def update_weights(self, version: int, state_dict=None, path=None) -> None:
        await asyncio.sleep(self.scale * self.c.sync)
        self._version = version


class SimTrainer:
    """``TrainEngine`` that sleeps in proportion to tokens."""

    def __init__(self, costs: Costs, scale: float):
        self.c, self.scale, self.version = costs, scale, 0

    def compute_logprobs(self, batch):
        time.sleep(self.scale * self.c.prox_token * batch.n_tokens)
        return [torch.zeros(len(x)) for x in batch.ids]

    def train_step(self, batch, loss="ppo"):
        time.sleep(self.scale * self.c.train_token * batch.n_tokens)
        self.version += 1
        return {"loss": 0.0, "tokens": float(batch.n_tokens)}

    def state_dict_for_sync(self):
        return {}

    def save_checkpoint(self, path, weights_only=False):
        Path(path).mkdir(parents=True, exist_ok=True)

    def load_checkpoint(self, path):
        pass


class SimSync:
    async def push(self, engine, version):
        await engine.update_weights(version)


def make_episode(engine: SimEngine, costs: Costs, scale: float, seed: int):
    """A long-tailed multi-turn episode: turns, tokens and tool latencies drawn from the trajectory id."""

    async def episode(example: Example, valid: bool, tid: str) -> Trajectory:
        rng = random.Random(f"{seed}:{example.id}:{tid.rsplit('#', 1)[1]}")
        turns = min(costs.max_turns, int(math.exp(rng.uniform(0, math.log(costs.max_turns + 1)))))
        ctx = [1] * costs.prompt_tokens
        calls = []
        for _ in range(turns):
            n_out = rng.randint(*costs.out_tokens)
            resp = await engine.generate(GenerateRequest(input_ids=ctx, max_new_tokens=n_out, session_id=tid))
            calls.append(LLMCall(input_ids=list(ctx), output_ids=resp.output_ids, output_logprobs=resp.output_logprobs,
                                 output_versions=resp.output_versions, finish_reason="stop"))
            await asyncio.sleep(scale * rng.lognormvariate(math.log(costs.tool_median), costs.tool_sigma))
            ctx = ctx + resp.output_ids + [3] * costs.obs_tokens
        answer = "yes" if rng.random() < 0.5 else "no"
        return Trajectory(id=tid, example=example, calls=calls, answer=answer,
                          stats=EpisodeStats(turns=turns, finish="answer"))

    return episode


class CoinReward:
    name = "coin"

    async def score(self, trajectory: Trajectory) -> float:
        return float(trajectory.answer == "yes")


def _examples(n: int = 100_000) -> list[Example]:
    return [Example(id=f"q{i}", question="?", answers=["yes"]) for i in range(n)]


def _cfg(out: Path, eta: int, steps: int, b: int, n: int, c_max: int, strict: bool) -> TrainConfig:
    return load_config(TrainConfig, None, [
        f"out={out}", f"trainer.steps={steps}", f"trainer.save_every={10**6}", f"rollout.batch_size={b}",
        f"rollout.n_trajs={n}", f"rollout.max_concurrent={c_max}", f"rollout.max_staleness={eta}",
        f"rollout.strict_staleness={str(strict).lower()}",
        "rollout.drop_zero_variance=false", "agent.valid_inst_ratio=0", "reward.format_reward=false",
        "monitoring.tensorboard=false", "monitoring.save_trajectories=0", "monitoring.stdout_every=0"])


async def run_rl(eta: int, steps: int, costs: Costs, scale: float, b: int, n: int, c_max: int, seed: int,
                 max_batch: int, strict: bool = False) -> dict:
    """Throughput of the real RL loop with simulated engine/trainer."""
    engine = SimEngine(costs, scale, max_batch=max_batch)
    trainer = SimTrainer(costs, scale)
    with tempfile.TemporaryDirectory() as d:
        cfg = _cfg(Path(d), eta, steps, b, n, c_max, strict)
        parts = RLParts(trainer, engine, make_episode(engine, costs, scale, seed), CoinReward(), _examples(),
                        SimSync())
        tracker = Tracker(d, jsonl=True)
        t0 = time.perf_counter()
        summary = await rl_loop(cfg, d, parts, tracker, progress=False)
        wall = time.perf_counter() - t0
        tracker.close()
        rows = [__import__("json").loads(x) for x in (Path(d) / "metrics.jsonl").read_text().splitlines()]
    trajs = sum(r["rollout/trajectories"] for r in rows)
    return {"mode": f"eta={eta}" + (" strict" if strict else ""), "steps": summary["steps"], "trajectories": trajs, "wall_s": wall,
            "traj_per_min": 60 * trajs / wall, "staleness_mean": sum(r["rollout/staleness_mean"] for r in rows) / len(rows),
            "staleness_max": max(r["rollout/sample_staleness_max"] for r in rows),
            "wait_s": sum(r["time/wait_rollout_s"] for r in rows), "tokens": engine.tokens}


async def run_generation_only(n_groups: int, costs: Costs, scale: float, b: int, n: int, c_max: int, seed: int,
                              max_batch: int) -> dict:
    """The same engine and workload with only generation: no staleness limit, no pauses, no trainer."""
    engine = SimEngine(costs, scale, max_batch=max_batch)
    ctrl = RolloutController(engine, make_episode(engine, costs, scale, seed), CoinReward(),
                             QuestionStream(_examples(), seed=0), batch_size=b, n_trajs=n, max_concurrent=c_max,
                             max_staleness=10**6, drop_zero_variance=False, use_format=False)
    t0 = time.perf_counter()
    ctrl.start()
    got = 0
    while got < n_groups:
        got += len(await ctrl.get_batch(b))
    wall = time.perf_counter() - t0
    await ctrl.stop()
    return {"mode": "generation-only", "steps": got // b, "trajectories": got * n, "wall_s": wall,
            "traj_per_min": 60 * got * n / wall, "staleness_mean": 0.0, "staleness_max": 0.0, "wait_s": 0.0, "tokens": engine.tokens}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small run (< 1 min)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    costs = Costs()
    # ASearcher's local config: C_max = 24 groups in flight; the engine decodes at most 64 sequences at once.
    b, n, c_max, max_batch = 8, 4, 24, 64
    if args.quick:
        scale, sync_steps, async_steps = 0.3, 3, 12
    else:
        scale, sync_steps, async_steps = 1.0, 12, 48
    common = (costs, scale, b, n, c_max, args.seed, max_batch)
    results = [asyncio.run(run_rl(4, async_steps, *common)), asyncio.run(run_rl(0, sync_steps, *common)),
               asyncio.run(run_generation_only(async_steps * b, *common))]
    if not args.quick:  # rollout.strict_staleness: the tail bound too (kept out of --quick's minute)
        results.append(asyncio.run(run_rl(4, async_steps, *common, strict=True)))
    print(f"workload: turns 1-{costs.max_turns} log-uniform, tool latency lognormal(median {costs.tool_median}s, "
          f"sigma {costs.tool_sigma}), time scale {scale}; B={b} groups x n={n}, C_max={c_max} groups, "
          f"engine batch {max_batch}")
    print(f"{'mode':16s} {'steps':>5s} {'trajs':>6s} {'wall s':>7s} {'traj/min':>9s} {'stale':>6s} {'max':>4s} {'wait s':>7s}")
    for r in results:
        print(f"{r['mode']:16s} {r['steps']:5d} {r['trajectories']:6.0f} {r['wall_s']:7.1f} {r['traj_per_min']:9.1f} "
              f"{r['staleness_mean']:6.2f} {r['staleness_max']:4.0f} {r['wait_s']:7.1f}")
    asy, syn, bound = results[:3]
    if len(results) > 3:
        print(f"strict_scheduling_efficiency: {results[3]['traj_per_min'] / bound['traj_per_min']:.3f}")
    print(f"scheduling_efficiency: {asy['traj_per_min'] / bound['traj_per_min']:.3f}")
    print(f"async_vs_sync_ratio: {asy['traj_per_min'] / syn['traj_per_min']:.2f}")


if __name__ == "__main__":
    main()
