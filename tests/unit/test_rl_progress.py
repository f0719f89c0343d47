"""The RL progress bar shows the rollout counters while a step waits for its batch."""

from __future__ import annotations

import asyncio

from asearcher.trainer.loop import _wait_for_batch


class _Bar:
    def __init__(self):
        self.postfixes: list[dict] = []

    def set_postfix(self, **kw):
        self.postfixes.append(kw)


class _Controller:
    def __init__(self):
        self.counters = {"finished_trajectories": 0, "accepted_total": 0, "rejected_groups": 0,
                         "failed_trajectories": 0}

    async def get_batch(self, timeout=None):
        for _ in range(5):
            await asyncio.sleep(0.02)
            self.counters["finished_trajectories"] += 4
            self.counters["rejected_groups"] += 1
        return ["batch"]


def test_counters_show_while_waiting_and_the_batch_comes_back():
    bar, ctl = _Bar(), _Controller()
    assert asyncio.run(_wait_for_batch(ctl, bar, every_s=0.01)) == ["batch"]
    assert bar.postfixes, "no update while waiting"
    seen = [p["finished"] for p in bar.postfixes]
    assert seen == sorted(seen) and seen[-1] > 0 and set(bar.postfixes[-1]) == {"finished", "accepted", "dropped", "failed"}


def test_cancelling_the_wait_cancels_the_batch_request():
    async def go():
        ctl = _Controller()
        task = asyncio.ensure_future(_wait_for_batch(ctl, _Bar(), every_s=0.01))
        await asyncio.sleep(0.03)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        before = ctl.counters["finished_trajectories"]
        await asyncio.sleep(0.1)
        return before, ctl.counters["finished_trajectories"]

    before, after = asyncio.run(go())
    assert before == after < 20  # get_batch stopped with the wait
