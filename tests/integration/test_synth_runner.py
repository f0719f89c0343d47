"""The synthesis runner: outputs usable by training, resume after an interruption, concurrency limit,
reports (markdown + PNG), and errors that propagate instead of being swallowed."""

from __future__ import annotations

import asyncio
import json

import pytest

from asearcher.config.synth import SynthConfig
from asearcher.errors import EngineError
from asearcher.inference.chat import ChatModel
from asearcher.synth.agent import pick_root
from asearcher.synth.fake import ScriptedChatEngine
from asearcher.synth.llm import Role
from asearcher.synth.runner import output_paths, read_jsonl, run_synthesis
from tests.integration.test_synth_branches import (
    BASE,
    COMBINED,
    EXTRACT,
    LINK,
    PAGES,
    UNIQUE,
    VALID,
    WRONG,
    Scenario,
    graph_of,
)

BAD = {"url": "https://world.local/wiki/Bad_Page", "title": "Bad Page", "links": ["Riverton"],
       "contents": "Bad Page is a page whose extraction always fails."}


def steady() -> Scenario:
    """Order-free replies: every attempt injects Acme Labs and exits; extraction of "Bad Page" always
    fails (so attempts rooted there are rejected)."""

    def extract(messages):
        return "broken" if "Page title: Bad Page" in messages[1]["content"] else EXTRACT

    def choose(messages):
        # the prompt shows the current question: inject first, exit once it changed
        return {"action": "exit"} if COMBINED["question"] in messages[1]["content"] else \
            {"action": "inject", "entity": "Acme Labs"}

    return Scenario(extract=extract, base_qa=BASE, validity=VALID, judge=WRONG, uniqueness=UNIQUE,
                    direct_answer="Answer: Paris", choose_action=choose, link_qa=LINK,
                    covered={"covered": False}, combine=COMBINED)


class CountingEngine(ScriptedChatEngine):
    """Tracks how many requests are in flight at once."""

    def __init__(self, reply):
        super().__init__(reply)
        self.inflight = self.peak = 0

    async def generate(self, request):
        self.inflight += 1
        self.peak = max(self.peak, self.inflight)
        await asyncio.sleep(0.001)
        try:
            return await super().generate(request)
        finally:
            self.inflight -= 1


def _run(tmp_path, scenario, engine_cls=ScriptedChatEngine, pages=PAGES, **kw):
    kw = {"n_direct": 2, "max_steps": 3, **kw}
    cfg = SynthConfig(out=str(tmp_path / "out" / "qa.jsonl"), progress=False, **kw)
    engine = engine_cls(scenario)
    role = Role(ChatModel(engine, name="scripted"), 128)
    return cfg, engine, asyncio.run(run_synthesis(cfg, graph_of(tmp_path, pages), role, role))


def test_outputs_are_usable_by_training_and_reported(tmp_path):
    bad_roots = sum(pick_root(graph_of(tmp_path, [*PAGES, BAD]), 0, i) == "Bad Page" for i in range(8))
    assert 0 < bad_roots < 8  # seed 0 draws both kinds of root
    cfg, _, summary = _run(tmp_path, steady(), pages=[*PAGES, BAD], n=8, concurrency=2)
    paths = output_paths(cfg.out)
    rows = read_jsonl(paths["out"])
    good = 8 - bad_roots
    assert len(rows) == summary["accepted"] == good and summary["rejected"] == bad_roots
    for r in rows:
        assert list(r)[:4] == ["id", "question", "answer", "answers"] and r["answers"] == [r["answer"]]
        assert r["question"] == COMBINED["question"] and r["truth"]["correct"] and r["n_inject"] == 1
        assert "status" not in r and r["direct_gen_accuracy"] == 0.0
    ledger = read_jsonl(paths["attempts"])
    assert sorted(a["id"] for a in ledger) == [f"synth-0-{i:05d}" for i in range(8)]
    assert summary["rejected_by_reason"] == {"reply_error:extract": bad_roots}
    assert summary["skipped_steps"] == {"extract": bad_roots} and summary["retried"] == {"extract": 2 * bad_roots}
    assert summary["truth"]["error_rate"] == 0.0
    assert summary["stats"]["n_statements"] == {"2": good}
    assert json.loads(paths["summary"].read_text())["accepted"] == good
    assert f"| 2 | {good} | 100% |" in paths["report"].read_text()
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "max_steps: 3" in paths["config"].read_text()


def test_resume_skips_done_attempts_and_repairs_a_cut_line(tmp_path):
    scenario = steady()
    cfg, _, _ = _run(tmp_path, scenario, n=2)
    first_calls = len(scenario.log)
    paths = output_paths(cfg.out)
    with paths["attempts"].open("a") as f:
        f.write('{"id": "synth-0-00002", "sta')  # an interrupted append
    _, _, summary = _run(tmp_path, scenario, n=4)
    assert len(scenario.log) == 2 * first_calls  # only attempts 2 and 3 ran
    ids = [a["id"] for a in read_jsonl(paths["attempts"])]
    assert sorted(ids) == [f"synth-0-{i:05d}" for i in range(4)] and len(ids) == 4
    assert summary["attempts"] == 4 and summary["accepted"] == 4
    _, _, again = _run(tmp_path, scenario, n=4)
    assert len(scenario.log) == 2 * first_calls and again["accepted"] == 4


def test_concurrency_is_limited(tmp_path):
    _, engine, summary = _run(tmp_path, steady(), engine_cls=CountingEngine, n=6, concurrency=3, n_direct=4)
    assert summary["accepted"] == 6
    # 3 attempts at once, each with at most 4 direct answers in flight
    assert 3 < engine.peak <= 12


def test_engine_failure_propagates_and_keeps_finished_work(tmp_path):
    calls = {"n": 0}
    base = steady()

    def flaky(messages, request=None):
        calls["n"] += 1
        if calls["n"] > 30:
            raise EngineError("server down")
        return base(messages)

    with pytest.raises(ExceptionGroup) as e:
        _run(tmp_path, flaky, n=4, concurrency=1)
    assert e.group_contains(EngineError)
    done = read_jsonl(output_paths(tmp_path / "out" / "qa.jsonl")["attempts"])
    assert 1 <= len(done) < 4
