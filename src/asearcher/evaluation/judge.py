"""LLM-as-judge: is a predicted answer equivalent to the gold answer? Any OpenAI-compatible endpoint (or any
``InferenceEngine``) through ``inference.chat.ChatModel``, a pinned and versioned prompt, and an on-disk cache.

Used by ``evaluation.runner`` (the ``judge`` metric) and, through ``JudgeReward`` (a ``rewards.RewardFn``), as
a training reward. The cache is SQLite keyed by ``sha256(prompt version, judge model, question, gold aliases,
prediction)``; it stores only that hash and the verdict, never question or answer text (benchmarks like xbench
and GAIA must not be stored in plain text).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asearcher.inference.chat import ChatModel
from asearcher.types import Trajectory

log = logging.getLogger(__name__)

PROMPT_VERSION = "asearcher-judge-v1"
"""Bump when ``PROMPT`` or the parsing changes: cached verdicts of another version are never reused."""

PROMPT = """You are grading the answer to a question against the gold answer.

Question: {question}
Gold answer (any one of these aliases counts): {gold}
Predicted answer: {prediction}

Decide whether the predicted answer means the same thing as the gold answer. Ignore differences in
capitalisation, punctuation, formatting, word order and extra detail that does not contradict the gold answer.
An answer that hedges between several candidates, is only partly right, or refuses to answer is incorrect.

Give a one-sentence rationale, then finish with a last line that is exactly "Verdict: correct" or
"Verdict: incorrect"."""

MAX_PREDICTION_CHARS = 1000
"""Longer predictions are cut before judging (part of the pinned prompt)."""

_VERDICT = re.compile(r"verdict\W{0,5}(correct|incorrect)\b", re.IGNORECASE)
_JSON_VERDICT = re.compile(r'"judge?ment"\s*:\s*"?(correct|incorrect)', re.IGNORECASE)


def build_prompt(question: str, golds: list[str], prediction: str) -> str:
    """The judge's user message."""
    return PROMPT.format(question=question.strip(), gold=" | ".join(golds),
                         prediction=prediction.strip()[:MAX_PREDICTION_CHARS])


def parse_verdict(reply: str) -> bool | None:
    """``Verdict: correct`` → True, ``Verdict: incorrect`` → False (last occurrence wins; a JSON
    ``"judgement"`` field or a bare one-word reply are accepted too); None when no verdict is found."""
    for pattern in (_VERDICT, _JSON_VERDICT):
        found = pattern.findall(reply)
        if found:
            return found[-1].lower() == "correct"
    word = reply.strip().strip(".\"'*` ").lower()
    return {"correct": True, "incorrect": False}.get(word)


@dataclass(frozen=True)
class Judgment:
    correct: bool | None
    """None when the judge's reply had no verdict (scored 0, not cached)."""
    cached: bool = False

    @property
    def score(self) -> float:
        return 1.0 if self.correct else 0.0


class JudgeCache:
    """Verdicts on disk (SQLite): hash → verdict, judge model, prompt version, time. Safe to share between
    runs; one process writes at a time (SQLite locking)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), timeout=30.0, check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS judgments (key TEXT PRIMARY KEY, correct INTEGER NOT NULL, "
                         "model TEXT NOT NULL, prompt_version TEXT NOT NULL, created REAL NOT NULL)")
        self._db.commit()

    def get(self, key: str) -> bool | None:
        row = self._db.execute("SELECT correct FROM judgments WHERE key = ?", (key,)).fetchone()
        return None if row is None else bool(row[0])

    def put(self, key: str, correct: bool, model: str, prompt_version: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO judgments VALUES (?, ?, ?, ?, ?)",
                         (key, int(correct), model, prompt_version, time.time()))
        self._db.commit()

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM judgments").fetchone()[0])

    def close(self) -> None:
        self._db.close()


def cache_key(model: str, question: str, golds: list[str], prediction: str,
              prompt_version: str = PROMPT_VERSION) -> str:
    """sha256 of everything that determines a verdict."""
    blob = json.dumps([prompt_version, model, question, list(golds), prediction], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class LLMJudge:
    """``await judge.judge(question, golds, prediction)`` → ``Judgment``.

    Args:
        chat: the judge model (``ChatModel`` over any engine); ``chat.name`` is recorded as the judge model.
        cache_path: SQLite cache file (None = no cache).
        max_new_tokens: judge reply budget.
        concurrency: judge calls in flight at once.
    """

    def __init__(self, chat: ChatModel, cache_path: str | Path | None = None, *, max_new_tokens: int = 256,
                 concurrency: int = 8):
        if not chat.name:
            raise ValueError("the judge ChatModel needs a name (the judge model is recorded with every result)")
        self.chat = chat
        self.model = chat.name
        self.prompt_version = PROMPT_VERSION
        self.max_new_tokens = max_new_tokens
        self.cache = JudgeCache(cache_path) if cache_path else None
        self._concurrency = concurrency
        self._sem: tuple[Any, asyncio.Semaphore] | None = None
        self.stats = {"calls": 0, "cache_hits": 0, "no_verdict": 0}

    @classmethod
    def from_url(cls, base_url: str, model: str, cache_path: str | Path | None = None, *,
                 api_key_env: str = "OPENAI_API_KEY", timeout_s: float = 120.0, **kw: Any) -> LLMJudge:
        """A judge served by an OpenAI-compatible endpoint."""
        from asearcher.inference.openai import OpenAIEngine

        engine = OpenAIEngine(base_url, model=model, api_key_env=api_key_env, timeout_s=timeout_s)
        return cls(ChatModel(engine, name=model), cache_path, **kw)

    def info(self) -> dict[str, str]:
        """What to record next to judged results."""
        return {"model": self.model, "prompt_version": self.prompt_version}

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._sem is None or self._sem[0] is not loop:
            self._sem = (loop, asyncio.Semaphore(self._concurrency))
        return self._sem[1]

    async def judge(self, question: str, golds: list[str], prediction: str | None) -> Judgment:
        """Verdict for one prediction; no prediction is incorrect without a call."""
        if prediction is None or not prediction.strip():
            return Judgment(False)
        key = cache_key(self.model, question, golds, prediction, self.prompt_version)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self.stats["cache_hits"] += 1
                return Judgment(hit, cached=True)
        async with self._semaphore():
            self.stats["calls"] += 1
            reply = await self.chat.complete([{"role": "user", "content": build_prompt(question, golds, prediction)}],
                                             max_new_tokens=self.max_new_tokens, temperature=0.0)
        verdict = parse_verdict(reply)
        if verdict is None:
            self.stats["no_verdict"] += 1
            log.warning("judge %s gave no verdict (reply of %d chars); scored 0, not cached", self.model, len(reply))
            return Judgment(None)
        if self.cache is not None:
            self.cache.put(key, verdict, self.model, self.prompt_version)
        return Judgment(verdict)

    async def aclose(self) -> None:
        close = getattr(self.chat.engine, "aclose", None)
        if close is not None:
            await close()
        if self.cache is not None:
            self.cache.close()


class JudgeReward:
    """The judge as a training reward (``asearcher.rewards.RewardFn``): 1.0 when the judge accepts
    ``trajectory.answer`` for ``trajectory.example``, else 0.0."""

    name = "judge"

    def __init__(self, judge: LLMJudge):
        self.judge = judge

    async def score(self, trajectory: Trajectory) -> float:
        ex = trajectory.example
        return (await self.judge.judge(ex.question, ex.answers, trajectory.answer)).score


def judge_from_reward_config(reward_cfg: Any, cache_path: str | Path | None = None) -> JudgeReward:
    """``JudgeReward`` from ``RewardConfig`` (``judge_url``, ``judge_model``) for ``reward.type: judge``."""
    from asearcher.errors import ConfigError

    if not reward_cfg.judge_url or not reward_cfg.judge_model:
        raise ConfigError("reward.type=judge needs reward.judge_url and reward.judge_model "
                          "(an OpenAI-compatible endpoint and the model name it serves)")
    return JudgeReward(LLMJudge.from_url(reward_cfg.judge_url, reward_cfg.judge_model, cache_path))
