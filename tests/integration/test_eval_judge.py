"""The LLM judge end to end against a real local OpenAI-compatible server (``OpenAIStub``) whose "model" grades
by a rule: the pinned prompt goes over HTTP, verdicts are parsed, cached on disk (no plain text in the cache),
reused on a second run without any request, and the judge plugs in as a training ``RewardFn``."""

from __future__ import annotations

import asyncio
import re
import sqlite3

import pytest

from asearcher.evaluation.judge import (
    PROMPT_VERSION,
    JudgeReward,
    LLMJudge,
    build_prompt,
    judge_from_reward_config,
    parse_verdict,
)
from asearcher.rewards import RewardFn
from asearcher.types import Example, Trajectory
from tests.integration.test_openai_engine import OpenAIStub

CASES = [  # (question, golds, prediction, rule verdict)
    ("Capital of France?", ["Paris"], "It is Paris.", True),
    ("Capital of Italy?", ["Rome", "Roma"], "Milan", False),
    ("Year?", ["1990"], "nineteen ninety", False),
    ("Secret 数据?", ["密码"], "密码", True),
]


def rule_judge(path: str, body: dict) -> str:
    """A deterministic grader reading the pinned prompt: correct iff a gold alias occurs in the prediction."""
    prompt = body["messages"][-1]["content"]
    gold = re.search(r"^Gold answer.*?: (.*)$", prompt, re.M).group(1).split(" | ")
    pred = re.search(r"^Predicted answer: (.*)$", prompt, re.M).group(1)
    ok = any(g.lower() in pred.lower() for g in gold)
    return f"The prediction {'matches' if ok else 'does not match'}.\nVerdict: {'correct' if ok else 'incorrect'}"


def judge_all(judge: LLMJudge) -> list[float]:
    async def go() -> list[float]:
        js = await asyncio.gather(*(judge.judge(q, g, p) for q, g, p, _ in CASES))
        return [j.score for j in js]

    return asyncio.run(go())


def test_judge_end_to_end_with_disk_cache(tmp_path):
    cache = tmp_path / "judge.sqlite"
    with OpenAIStub(rule_judge, model="judge-m") as s:
        judge = LLMJudge.from_url(s.url, "judge-m", cache)
        assert judge_all(judge) == [1.0 if ok else 0.0 for *_, ok in CASES]
        assert len(s.requests) == len(CASES) and judge.stats["calls"] == len(CASES)
        path, body, _ = s.requests[0]
        assert path == "/v1/chat/completions" and body["model"] == "judge-m" and body["temperature"] == 0.0
        assert body["messages"][0]["content"] in {build_prompt(q, g, p) for q, g, p, _ in CASES}
        assert judge.info() == {"model": "judge-m", "prompt_version": PROMPT_VERSION}
        asyncio.run(judge.aclose())

        # a second run (new judge object, same cache file): all hits, no HTTP request
        again = LLMJudge.from_url(s.url, "judge-m", cache)
        assert judge_all(again) == [1.0 if ok else 0.0 for *_, ok in CASES]
        assert len(s.requests) == len(CASES) and again.stats == {"calls": 0, "cache_hits": 4, "no_verdict": 0}
        # another judge model does not reuse those verdicts
        other = LLMJudge.from_url(s.url, "judge-m", cache)
        other.model = "judge-2"
        judge_all(other)
        assert other.stats["calls"] == 4
    raw = cache.read_bytes()
    assert b"Paris" not in raw and "密码".encode() not in raw  # only hashes and verdicts on disk
    rows = sqlite3.connect(cache).execute("SELECT model, prompt_version FROM judgments").fetchall()
    assert set(rows) == {("judge-m", PROMPT_VERSION), ("judge-2", PROMPT_VERSION)} and len(rows) == 8


def test_missing_prediction_and_unparseable_reply(tmp_path):
    with OpenAIStub(lambda p, b: "I am not sure.", model="j") as s:
        judge = LLMJudge.from_url(s.url, "j", tmp_path / "c.sqlite")

        async def go():
            return (await judge.judge("q", ["a"], None), await judge.judge("q", ["a"], "a"),
                    await judge.judge("q", ["a"], "a"))

        none, unparsed, again = asyncio.run(go())
        assert none.correct is False and len(s.requests) == 2  # no call for a missing answer
        assert unparsed.correct is None and unparsed.score == 0.0 and again.cached is False  # not cached
        assert judge.stats["no_verdict"] == 2


@pytest.mark.parametrize("reply, verdict", [
    ("rationale...\nVerdict: correct", True),
    ("Verdict: Incorrect.", False),
    ("first Verdict: incorrect, on reflection **Verdict: correct**", True),
    ('```json\n{"rationale": "x", "judgement": "Correct"}\n```', True),
    ("Incorrect", False),
    ("It is correct that Paris...", None),
])
def test_parse_verdict(reply, verdict):
    assert parse_verdict(reply) is verdict


def test_judge_reward_is_a_reward_fn(tmp_path):
    from asearcher.config import RewardConfig

    with OpenAIStub(rule_judge, model="jm") as s:
        reward = judge_from_reward_config(RewardConfig(type="judge", judge_url=s.url, judge_model="jm"),
                                          tmp_path / "c.sqlite")
        assert isinstance(reward, JudgeReward) and isinstance(reward, RewardFn) and reward.name == "judge"
        ex = Example(id="1", question="Capital of France?", answers=["Paris"])
        good = Trajectory(id="t", example=ex, answer="Paris, France")
        bad = Trajectory(id="u", example=ex, answer="Lyon")
        assert asyncio.run(reward.score(good)) == 1.0 and asyncio.run(reward.score(bad)) == 0.0
    with pytest.raises(Exception, match="judge_url"):
        judge_from_reward_config(RewardConfig(type="judge"))
