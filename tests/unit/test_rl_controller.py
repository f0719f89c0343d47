"""Rollout controller without a model: admission never exceeds the staleness capacity or C_max, pause
stops admission, groups come out oldest first, zero-variance groups are dropped (counted) and a stalled
run fails with advice; resume state re-queues untrained questions."""

from __future__ import annotations

import asyncio

import pytest

from asearcher.rewards.base import RewardFn
from asearcher.rollout.controller import NoSignalError, RolloutController
from asearcher.rollout.data import QuestionStream
from asearcher.types import Example, Trajectory


class FakeEngine:
    token_level = True

    def __init__(self):
        self.version, self.paused, self.log = 0, False, []

    async def pause(self):
        self.paused = True
        self.log.append("pause")

    async def resume(self):
        self.paused = False
        self.log.append("resume")

    async def update_weights(self, version, state_dict=None, path=None):
        assert self.paused
        self.version = version
        self.log.append(f"update{version}")


class IdReward:
    name = "id"

    async def score(self, trajectory: Trajectory) -> float:
        return float(trajectory.answer)


def _examples(n=50):
    return [Example(id=f"q{i}", question="?", answers=["1"]) for i in range(n)]


def make(eta=1, b=2, c_max=3, n=2, delay=0.01, answers=("1", "0"), searches=(0,), **kw):
    engine = FakeEngine()
    peak = {"running": 0}

    async def episode(ex, valid, tid):
        peak["running"] = max(peak["running"], ctrl.running)
        await asyncio.sleep(delay)
        k = int(tid.rsplit("#", 1)[1])
        traj = Trajectory(id=tid, example=ex, answer=answers[k % len(answers)])
        traj.stats.searches = searches[k % len(searches)]
        return traj

    ctrl = RolloutController(engine, episode, IdReward(), QuestionStream(_examples(), seed=3), batch_size=b,
                             n_trajs=n, max_concurrent=c_max, max_staleness=eta, use_format=False, **kw)
    return ctrl, engine, peak


def test_reward_fn_protocol():
    assert isinstance(IdReward(), RewardFn)


def test_admission_respects_capacity_and_fifo():
    async def go():
        ctrl, engine, peak = make(eta=1, b=2, c_max=3)
        ctrl.start()
        await asyncio.sleep(0.2)  # no trainer: generation may run at most (η+1)·B = 4 groups ahead
        assert ctrl.accepted == 4 and ctrl.running == 0 and len(ctrl.buffer) == 4
        assert peak["running"] <= 3
        batch = await ctrl.get_batch()
        assert [g.id for g in batch] == sorted(g.id for g in batch)  # oldest first
        async def push(e, v):
            await e.update_weights(v)
        await ctrl.update_weights(push, 1)
        assert engine.log == ["pause", "update1", "resume"] and ctrl.version == 1
        await asyncio.sleep(0.2)
        assert ctrl.accepted == 6  # (η + 1 + 1)·B
        await ctrl.stop()
    asyncio.run(go())


def test_zero_variance_groups_dropped_and_stall_fails_loudly():
    async def go():
        ctrl, _, _ = make(answers=("1",), max_rejected_in_a_row=5)
        ctrl.start()
        with pytest.raises(NoSignalError, match="Warm start"):
            await ctrl.get_batch(timeout=5)
        assert ctrl.counters["rejected_groups"] >= 5
        await ctrl.stop()
    asyncio.run(go())


def test_keeping_zero_variance_groups():
    async def go():
        ctrl, _, _ = make(answers=("1",), drop_zero_variance=False)
        ctrl.start()
        groups = await ctrl.get_batch(timeout=5)
        assert all(g.centred == [0.0, 0.0] for g in groups)
        await ctrl.stop()
    asyncio.run(go())


def test_call_cost_gives_all_right_groups_a_signal():
    async def go():  # both answers right, 1 and 3 searches: dropped without the charge, trained with it
        ctrl, _, _ = make(answers=("1",), searches=(1, 3), call_cost=0.1)
        ctrl.start()
        groups = await ctrl.get_batch(timeout=5)
        assert all(g.centred == pytest.approx([0.1, -0.1]) for g in groups)
        assert [t.reward for t in groups[0].trajectories] == pytest.approx([0.9, 0.7])
        await ctrl.stop()
    asyncio.run(go())


def test_pause_stops_admission_and_state_requeues():
    async def go():
        ctrl, _, _ = make(eta=3, b=2, c_max=2, delay=0.05)
        ctrl.start()
        await asyncio.sleep(0.01)
        state = ctrl.state_dict()
        assert len(state["pending"]) == 2  # two groups in flight
        ctrl._paused = True
        await asyncio.sleep(0.15)
        running_then = ctrl.accepted + ctrl.running
        await asyncio.sleep(0.15)
        assert ctrl.accepted + ctrl.running == running_then  # nothing new admitted while paused
        await ctrl.stop()
        again, _, _ = make(eta=3, b=2, c_max=2)
        again.load_state_dict(state)
        firsts = [again.stream.next()[0] for _ in range(2)]
        assert firsts == state["pending"]  # untrained questions come back first
    asyncio.run(go())


def test_controller_reports_each_groups_outcome_to_the_stream():
    async def go():
        engine = FakeEngine()
        exs = [Example(id=f"q{i}", question="?", answers=["1"], meta={"hops": 1 + i % 2}) for i in range(20)]

        async def episode(ex, valid, tid):  # 1-hop groups all right (dropped), 2-hop groups mixed (kept)
            k = int(tid.rsplit("#", 1)[1])
            return Trajectory(id=tid, example=ex, answer="1" if ex.meta["hops"] == 1 or k == 0 else "0")

        stream = QuestionStream(exs, seed=1)  # the dataset's order: both hop counts come up before 4 are kept
        ctrl = RolloutController(engine, episode, IdReward(), stream, batch_size=4, n_trajs=2, max_concurrent=2,
                                 max_staleness=0, use_format=False)
        ctrl.start()
        await ctrl.get_batch()
        await ctrl.stop()
        return ctrl, stream

    ctrl, stream = asyncio.run(go())
    assert set(stream.outcomes[2]) == {1} and set(stream.outcomes[1]) == {0}
    snap = ctrl.snapshot()
    assert snap["mixed_rate_hop2"] > 0.5 > snap["mixed_rate_hop1"]


@pytest.mark.parametrize("strict", [True, False])
def test_a_slow_group_holds_the_batch_back_instead_of_going_stale(strict):
    """Admission alone lets other groups fill batches while one slow group runs, so the version runs more
    than η past it; with strict_staleness the batch at version ``admitted + η`` waits for it and takes it."""
    async def go():
        engine = FakeEngine()
        first = {}

        async def episode(ex, valid, tid):
            first.setdefault("gid", tid.split("#")[0])
            await asyncio.sleep(0.6 if tid.startswith(first["gid"]) else 0.01)
            return Trajectory(id=tid, example=ex, answer="1" if tid.endswith("#0") else "0")

        ctrl = RolloutController(engine, episode, IdReward(), QuestionStream(_examples(), seed=0), batch_size=1,
                                 n_trajs=2, max_concurrent=4, max_staleness=1, strict_staleness=strict,
                                 use_format=False)

        async def push(e, v):
            await e.update_weights(v)

        ctrl.start()
        lags = {}
        for version in range(4):
            (g,) = await ctrl.get_batch(timeout=5)
            lags[g.id] = version - g.admitted_version
            await ctrl.update_weights(push, version + 1)
        await ctrl.stop()
        return first["gid"], lags

    slow, lags = asyncio.run(go())
    if strict:
        assert lags.get(slow) == 1  # trained at version η = 1, the last version its bound allows
        assert max(lags.values()) <= 1
    else:  # head-only bound (AReaL): four steps go by without it, or it comes in too stale
        assert lags.get(slow, 4) > 1
