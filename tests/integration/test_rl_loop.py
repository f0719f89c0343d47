"""CPU end-to-end RL: the real agent + ScriptedEngine + StaticTools + LocalTrainEngine on the tiny Llama,
driven by the real controller and loop. Two RL steps change every trainable parameter; version lag stays
within η; η = 0 yields only on-policy samples; failures are handled per the controller's policy."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import random

import pytest
import torch

from asearcher.agent import build_agent, run_episode
from asearcher.config import TrainConfig, load_config
from asearcher.inference.fake import ScriptedEngine
from asearcher.monitoring import Tracker
from asearcher.rewards import QAReward
from asearcher.tools import StaticTools
from asearcher.trainer import loop as loop_mod
from asearcher.trainer.local import LocalTrainEngine
from asearcher.trainer.loop import RLParts, rl_loop
from asearcher.trainer.weight_sync import InProcessSync
from asearcher.types import Example, Hit

QUESTIONS = [Example(id=f"q{i}", question=f"What is the capital of country {i}?", answers=["Paris"],
                     meta={"hops": 1 + i % 2}) for i in range(12)]
PASSAGES = [Hit(id="p1", title="France", contents="Paris is the capital of France."),
            Hit(id="p2", title="Spain", contents="Madrid is the capital of Spain.")]


def oracle_script(seed: int = 0):
    """Search once, then answer Paris or Madrid at random (so groups have reward variance)."""
    rng = random.Random(seed)

    def script(request, prompt):
        if "<information>\n" not in prompt:  # no search result shown yet
            return "I should look this up.</think>\n<search>capital of France</search>"
        return f"Found it.</think>\n<answer>{rng.choice(['Paris', 'Madrid'])}</answer>"
    return script


def rl_config(tmp_path, **over) -> TrainConfig:
    base = ["model.name=tiny-llama", "rollout.batch_size=2", "rollout.n_trajs=3", "rollout.max_concurrent=3",
            "trainer.steps=2", "trainer.lr=1e-3", "trainer.autocast_bf16=false", "trainer.save_every=1",
            "agent.max_turns=4", "agent.max_new_tokens=32", "agent.valid_inst_ratio=0.3",
            "monitoring.tensorboard=false", "monitoring.save_trajectories=3", f"out={tmp_path}"]
    return load_config(TrainConfig, None, base + [f"{k}={v}" for k, v in over.items()])


class SlowTools(StaticTools):
    """Search with a little latency, so episodes straddle weight updates."""

    async def search(self, query, topk):
        await asyncio.sleep(0.02)
        return await super().search(query, topk)


def make_parts(cfg, model, tokenizer, tools=None, engine=None) -> RLParts:
    train = LocalTrainEngine(copy.deepcopy(model), cfg.trainer)
    engine = engine or ScriptedEngine(tokenizer, oracle_script(), logprob=-10.0)
    agent = build_agent(cfg.agent, tokenizer)
    tools = tools or SlowTools(PASSAGES)

    async def episode(example, valid, tid):
        return await run_episode(agent, engine, tools, example, valid_instruction=valid, trajectory_id=tid)

    return RLParts(train, engine, episode, QAReward("f1"), QUESTIONS, InProcessSync(train))


def run(cfg, parts, resume=False):
    tracker = Tracker(cfg.out, jsonl=True)
    try:
        return asyncio.run(rl_loop(cfg, cfg.out, parts, tracker, resume=resume, progress=False))
    finally:
        tracker.close()


def metrics(run_dir):
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


class FlakyTools(SlowTools):
    """Every 4th search finds the backend down (the trajectory fails; the run goes on)."""

    def __init__(self, passages):
        super().__init__(passages)
        self.n = 0

    async def search(self, query, topk):
        self.n += 1
        if self.n % 4 == 0:
            from asearcher.errors import ToolUnavailableError
            raise ToolUnavailableError("down")
        return await super().search(query, topk)


def test_two_async_steps_change_every_parameter_and_respect_eta(tiny_llama, tmp_path, monkeypatch):
    model, tok = tiny_llama
    cfg = rl_config(tmp_path, **{"rollout.max_staleness": 1})
    parts = make_parts(cfg, model, tok, tools=FlakyTools(PASSAGES))
    before = {n: p.detach().clone() for n, p in parts.train_engine.model.named_parameters()}
    logged_at_save = []  # a checkpoint is committed only once its step's metrics row is on disk (kill-safe)
    real_save = loop_mod.ckpt.save_checkpoint

    def save(run_dir, step, *a, **k):
        logged_at_save.append((step, [r["step"] for r in metrics(tmp_path)]))
        return real_save(run_dir, step, *a, **k)
    monkeypatch.setattr(loop_mod.ckpt, "save_checkpoint", save)
    summary = run(cfg, parts)
    assert logged_at_save == [(1, [1]), (2, [1, 2])]
    assert summary["version"] == 2 and parts.engine.version == 2
    changed = [n for n, p in parts.train_engine.model.named_parameters() if p.requires_grad and not torch.equal(p, before[n])]
    assert len(changed) == len(before), set(before) - set(changed)
    rows = metrics(tmp_path)
    assert [r["step"] for r in rows] == [1, 2]
    assert all(r["rollout/sample_staleness_max"] <= 1 for r in rows)
    assert all(0 <= r["reward/mean"] <= 1 and r["rollout/searches_mean"] == 1 for r in rows)
    assert all(k in rows[0] for k in ("time/wait_rollout_s", "time/prox_s", "time/train_s", "time/sync_s", "train/loss"))
    assert "time/checkpoint_s" not in rows[0] and rows[1]["time/checkpoint_s"] > 0  # step 1's, in the next row
    # failing trajectories (tool down) were recorded and left out; the run went on
    assert summary["counters"]["failed_trajectories"] >= 1
    assert (tmp_path / "checkpoints" / "step_000002" / "COMPLETE").is_file()
    saved = (tmp_path / "trajectories" / "step_000001.jsonl").read_text().splitlines()
    assert len(saved) == 3 and json.loads(saved[0])["calls"]
    consumed = [json.loads(x) for x in (tmp_path / "consumed.jsonl").read_text().splitlines()]
    assert [len(c["questions"]) for c in consumed] == [2, 2]


class ThreadedEngine(ScriptedEngine):
    """Records the thread counts the loop gives it (as HFEngine.set_threads would apply them)."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.threads: list[int | None] = []

    def set_threads(self, n):
        self.threads.append(n)


def test_eta_zero_is_on_policy_and_curriculum_filters(tiny_llama, tmp_path):
    model, tok = tiny_llama
    cfg = rl_config(tmp_path, **{"rollout.max_staleness": 0, "rollout.curriculum": "[{from_step: 0, max_hops: 1}]",
                                 "trainer.rl_torch_threads": 1})
    engine = ThreadedEngine(tok, oracle_script(), logprob=-10.0)
    parts = make_parts(cfg, model, tok, engine=engine)
    seen = []  # the trainer computes with rl_torch_threads in its own thread, whatever the caller's count
    for name in ("compute_logprobs", "train_step"):
        fn = getattr(parts.train_engine, name)
        setattr(parts.train_engine, name, lambda *a, fn=fn, name=name: (seen.append((name, torch.get_num_threads())), fn(*a))[1])
    before = torch.get_num_threads()
    run(cfg, parts)
    assert [n for n, _ in seen].count("train_step") == 2 and {k for _, k in seen} == {1}
    assert torch.get_num_threads() == before
    # the engine: all cores while the trainer waits, rl_torch_threads while it computes, all cores after RL
    cores = os.cpu_count() or 2
    assert engine.threads == [cores, 1, cores, 1, cores, cores]
    rows = metrics(tmp_path)
    assert len(rows) == 2
    assert all(r["rollout/staleness_max"] == 0 and r["train/ratio_mean"] == pytest.approx(1, abs=1e-4) for r in rows)
    assert all(r["data/hops_mean"] == 1 for r in rows)


def test_engine_failure_kills_the_run(tiny_llama, tmp_path):
    model, tok = tiny_llama

    class BrokenEngine(ScriptedEngine):
        async def generate(self, request):
            raise RuntimeError("engine exploded")

    cfg = rl_config(tmp_path)
    with pytest.raises(RuntimeError, match="engine exploded"):
        run(cfg, make_parts(cfg, model, tok, engine=BrokenEngine(tok, [])))


def test_time_budget_stops_after_a_checkpointed_step(tiny_llama, tmp_path):
    model, tok = tiny_llama
    # a budget far below one step: the first step still runs, then no new step starts
    cfg = rl_config(tmp_path, **{"trainer.steps": 5, "trainer.save_every": 10, "trainer.max_rl_minutes": 1e-4})
    summary = run(cfg, make_parts(cfg, model, tok))
    assert summary["steps"] == 1 and summary["version"] == 1
    assert [r["step"] for r in metrics(tmp_path)] == [1]
    assert (tmp_path / "checkpoints" / "step_000001" / "COMPLETE").is_file()


@pytest.mark.timeout(60)  # without the deadline the loop waits for step 2 forever
def test_a_step_whose_rollouts_come_too_late_is_abandoned(tiny_llama, tmp_path, monkeypatch):
    """Step 2's searches never return: instead of overrunning the RL time cap waiting for them, the loop stops
    and checkpoints step 1 (the pace check alone would let step 2 start)."""
    model, tok = tiny_llama

    class HangAfterUpdate(SlowTools):
        engine = None

        async def search(self, query, topk):
            if self.engine.version >= 1:
                await asyncio.Event().wait()
            return await super().search(query, topk)

    monkeypatch.setattr(loop_mod, "next_step_overruns", lambda *a: False)
    cfg = rl_config(tmp_path, **{"trainer.steps": 5, "trainer.save_every": 10, "trainer.max_rl_minutes": 0.01,
                                 "rollout.max_staleness": 0})
    tools = HangAfterUpdate(PASSAGES)
    parts = make_parts(cfg, model, tok, tools=tools)
    tools.engine = parts.engine
    summary = run(cfg, parts)
    assert summary["steps"] == 1 and summary["version"] == 1
    assert (tmp_path / "checkpoints" / "step_000001" / "COMPLETE").is_file()
