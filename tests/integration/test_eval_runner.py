"""``evaluate`` end to end on CPU with the real agent and episode loop, a scripted engine (real SmolLM2
tokenizer) and in-memory tools: records and summary (hand-computed), resume (incl. a torn last line),
protected benchmarks never written in plain text, the fingerprint guard, failing episodes, and the judge."""

from __future__ import annotations

import asyncio
import json

import pytest

from asearcher.agent import build_agent
from asearcher.config import AgentConfig
from asearcher.errors import ConfigError, EngineError
from asearcher.evaluation import protect
from asearcher.evaluation.datasets import Dataset
from asearcher.evaluation.runner import RECORDS, evaluate, read_records
from asearcher.evaluation.scoring import score_predictions
from asearcher.inference.fake import ScriptedEngine
from asearcher.tools import StaticTools
from asearcher.types import Example, Hit

FACTS = {  # question → (gold, what the scripted model answers)
    "Where was Ann Vell born?": ("Oslo", "Oslo"),
    "Which river flows through Brisk?": ("Amber River", "the Amber"),
    "Who founded Kettle Works?": ("Bo Lind", "Bo Lind"),
    "When did Tarn fall?": ("1802", "1803"),
}
EXAMPLES = [Example(id=f"q{i}", question=q, answers=[a], meta={"hops": 1 + i % 2, "source": "toy"})
            for i, (q, (a, _)) in enumerate(FACTS.items())]
HITS = [Hit(id=f"p{i}", title=q, contents=f"FACT {i}: {q} {a}") for i, (q, (a, _)) in enumerate(FACTS.items())]


def script(request, prompt: str) -> str:
    """Search first; once a FACT passage is in the context, answer (wrongly for two questions)."""
    q = next(q for q in FACTS if q in prompt)
    if "FACT" not in prompt:
        return f"I need to look this up.</think>\n<search>{q}</search>"
    return f"Found it.</think>\n<answer>{FACTS[q][1]}</answer>"


@pytest.fixture
def setup(tiny_tokenizer):
    agent = build_agent(AgentConfig(max_new_tokens=48, max_turns=4), tiny_tokenizer)
    return agent, ScriptedEngine(tiny_tokenizer, script), StaticTools(HITS)


def run(agent, engine, tools, out, examples=EXAMPLES, **kw):
    return asyncio.run(evaluate(examples, agent, engine, tools, out_dir=out, dataset="toy", progress=False, **kw))


def test_records_and_hand_computed_summary(setup, tmp_path):
    agent, engine, tools = setup
    s = run(agent, engine, tools, tmp_path, k=2, concurrency=3)
    recs = read_records(tmp_path / RECORDS)
    assert sorted((r["id"], r["sample"]) for r in recs) == [(e.id, j) for e in EXAMPLES for j in (0, 1)]
    r0 = next(r for r in recs if r["id"] == "q0")
    assert r0["prediction"] == "Oslo" and r0["scores"]["em"] == 1.0 and r0["finish"] == "answer"
    assert r0["stats"]["searches"] == 1 and r0["stats"]["turns"] == 2 and r0["confidence"] == pytest.approx(-0.5)
    assert [t["kind"] for t in r0["trajectory"]["turns"]][:3] == ["think", "search", "observation"]
    assert "input_ids" not in r0["trajectory"]["calls"][0] and r0["trajectory"]["calls"][0]["input_tokens"] > 0
    o = s["overall"]
    # EM: q0 1, q1 "the Amber" vs "Amber River" 0, q2 1, q3 0 → 0.5 (both samples identical: pass = avg)
    assert (o["n"], o["k"], o["answered"]) == (4, 2, 1.0)
    assert o["em"]["avg@k"] == 0.5 and o["em"]["pass@k"] == 0.5 and o["em"]["maj@k"] == 0.5
    # F1: q1 tokens [amber] vs [amber, river] → P 1, R 1/2 → 2/3; q3 0 → (1 + 2/3 + 1 + 0) / 4
    assert o["f1"]["avg@k"] == pytest.approx((2 + 2 / 3) / 4) and o["f1"]["best@k"] == pytest.approx((2 + 2 / 3) / 4)
    assert o["cem"]["avg@k"] == 0.5 and o["sub_em"]["avg@k"] == 0.5
    assert list(s["breakdowns"]) == ["hops"]  # one source → no source breakdown
    assert s["breakdowns"]["hops"]["1"]["em"]["avg@k"] == 1.0 and s["breakdowns"]["hops"]["2"]["em"]["avg@k"] == 0.0
    assert s["stats"]["searches_mean"] == 1.0 and s["stats"]["finish"] == {"answer": 8}
    assert json.loads((tmp_path / "summary.json").read_text()) == s
    md = (tmp_path / "summary.md").read_text()
    assert "| toy | 4 | 100.0 | 1.00 | 50.0 | 66.7 | 50.0 | 50.0 | 50.0 | 66.7 | 50.0 | 50.0 |" in md
    assert "toy · hops=2" in md
    assert o["tool_calls"] == 1.0 and s["breakdowns"]["hops"]["2"]["tool_calls"] == 1.0


def test_resume_skips_done_samples_and_drops_torn_line(setup, tiny_tokenizer, tmp_path):
    agent, engine, tools = setup
    full = run(agent, engine, tools, tmp_path / "full", k=2)
    lines = (tmp_path / "full" / RECORDS).read_text().splitlines(keepends=True)
    part = tmp_path / "part"
    part.mkdir()
    (part / RECORDS).write_text("".join(lines[:3]) + lines[3][:25])  # 3 records + a torn one
    engine2 = ScriptedEngine(tiny_tokenizer, script)
    resumed = run(agent, engine2, StaticTools(HITS), part, k=2)
    assert resumed == full
    assert len(engine2.requests) == 5 * 2  # 5 samples re-run, 2 calls each
    assert len(read_records(part / RECORDS)) == 8
    assert json.loads((part / "run.json").read_text())["resumed_samples"] == 3
    # nothing left to do: no engine call at all, same summary
    engine3 = ScriptedEngine(tiny_tokenizer, script)
    assert run(agent, engine3, StaticTools(HITS), part, k=2) == full and engine3.requests == []
    # --limit style subset of a finished run summarizes only those questions
    assert run(agent, engine3, StaticTools(HITS), part, examples=EXAMPLES[:2], k=2)["overall"]["n"] == 2


def test_protected_outputs_are_encrypted(setup, tmp_path):
    agent, engine, tools = setup
    key = "xbench-canary-for-test"
    exs = [e.model_copy(update={"meta": {**e.meta, "protected": "xbench", "canary": key}}) for e in EXAMPLES]
    s = run(agent, engine, tools, tmp_path, examples=exs)
    files = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for q, (gold, pred) in FACTS.items():
        for text in (q, gold, pred, q.split()[-1].rstrip("?")):
            assert text.encode() not in files, text
    rec = read_records(tmp_path / RECORDS)[0]
    assert rec["protected"] == "xbench" and "prediction" not in rec and "trajectory" not in rec
    body = json.loads(protect.decrypt(rec["enc"], key))
    assert body["prediction"] in {p for _, p in FACTS.values()}
    # eval score reads the encrypted records back (decrypting in memory) and agrees
    ds = Dataset(name="toy", examples=exs, format="xbench", protected=True)
    scored = asyncio.run(score_predictions(ds, tmp_path / RECORDS))
    assert scored["overall"] == s["overall"]


def test_fingerprint_guard(setup, tmp_path):
    agent, engine, tools = setup
    run(agent, engine, tools, tmp_path, examples=EXAMPLES[:1], fingerprint={"model": "a", "k": 1})
    with pytest.raises(ConfigError, match=r"different configuration \(differs in \['model'\]\)"):
        run(agent, engine, tools, tmp_path, examples=EXAMPLES[:1], fingerprint={"model": "b", "k": 1})


def test_failing_episode_fails_the_run_and_keeps_finished_records(setup, tiny_tokenizer, tmp_path):
    agent, _, tools = setup

    def flaky(request, prompt):
        if "Tarn" in prompt:
            raise EngineError("engine down")
        return script(request, prompt)

    with pytest.raises(EngineError, match="engine down"):
        run(agent, ScriptedEngine(tiny_tokenizer, flaky), tools, tmp_path, concurrency=1)
    assert {r["id"] for r in read_records(tmp_path / RECORDS)} == {"q0", "q1", "q2"}
    assert not (tmp_path / "summary.json").exists()


def test_judge_metric_recorded(setup, tmp_path):
    from asearcher.evaluation.judge import LLMJudge
    from tests.integration.test_eval_judge import rule_judge
    from tests.integration.test_openai_engine import OpenAIStub

    agent, engine, tools = setup
    with OpenAIStub(rule_judge, model="jm") as srv:
        judge = LLMJudge.from_url(srv.url, "jm", tmp_path / "cache.sqlite")
        s = run(agent, engine, tools, tmp_path / "out", judge=judge)
        # rule: gold alias inside the prediction → q0, q2 (q1 "the Amber" lacks "Amber River")
        assert s["overall"]["judge"]["avg@k"] == 0.5 and s["judge"]["model"] == "jm"
        assert s["metrics"] == ["em", "f1", "cem", "sub_em", "judge"] and len(srv.requests) == 4
        assert "judge: jm" in (tmp_path / "out" / "summary.md").read_text()


def test_agent_served_by_an_openai_compatible_server(tiny_tokenizer, tmp_path):
    """The agent itself on a hosted (text-only) model: chat messages over HTTP, answers scored as usual."""
    from asearcher.inference.openai import OpenAIEngine
    from tests.integration.test_openai_engine import OpenAIStub

    def chat(path, body):
        prompt = "\n".join(m["content"] for m in body["messages"])
        return script(None, prompt)  # stop strings are stripped by the server, as OpenAI does

    def strip_stop(path, body):
        text = chat(path, body)
        for s in body.get("stop", []):
            if text.endswith(s):
                return text[: -len(s)]
        return text

    agent = build_agent(AgentConfig(max_new_tokens=48, max_turns=4), tiny_tokenizer)
    with OpenAIStub(strip_stop, model="hosted") as srv:
        engine = OpenAIEngine(srv.url, model="hosted")
        s = run(agent, engine, StaticTools(HITS), tmp_path)
        assert all(p == "/v1/chat/completions" for p, _, _ in srv.requests) and len(srv.requests) == 8
    assert s["overall"]["em"]["avg@k"] == 0.5 and s["stats"]["searches_mean"] == 1.0
    rec = read_records(tmp_path / RECORDS)[0]
    assert rec["confidence"] is None and "best@k" not in s["overall"]["em"]  # no real logprobs from a text API
