"""LLM calls of the synthesis agent: render a prompt (package data ``synth/prompts/*.txt``), ask a model
through ``ChatModel``, and for JSON tasks retry a bounded number of times with the parse error fed back.

Talks to: ``asearcher.inference.chat.ChatModel`` (any engine: in-process or OpenAI-compatible).
"""

from __future__ import annotations

import functools
import importlib.resources
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from string import Template
from typing import TypeVar

from asearcher.errors import AsearcherError
from asearcher.inference.chat import ChatModel
from asearcher.synth.parsing import ReplyError, parse_json_object

T = TypeVar("T")

_ECHO_CHARS = 1500  # a retry shows the model at most this much of its bad reply


@functools.cache
def load_prompt(task: str) -> Template:
    """The prompt template ``synth/prompts/{task}.txt`` (``$name`` placeholders)."""
    path = importlib.resources.files("asearcher.synth") / "prompts" / f"{task}.txt"
    return Template(path.read_text(encoding="utf-8"))


def render(task: str, **values: object) -> str:
    """Fill a prompt template; a missing value is a programming error (``KeyError``)."""
    return load_prompt(task).substitute({k: str(v) for k, v in values.items()})


class StepSkipped(AsearcherError):
    """A JSON task got no usable reply after all retries; the agent skips the step and counts it."""

    def __init__(self, task: str, error: str, tries: int, reply: str = ""):
        snippet = " ".join(reply.split())[:160]
        super().__init__(f"{task}: no usable JSON after {tries} tries (last error: {error}; last reply: {snippet!r})")
        self.task, self.error, self.tries, self.reply = task, error, tries, reply


@dataclass
class Role:
    """One model role: the chat model plus its reply budget."""

    chat: ChatModel
    max_new_tokens: int

    @property
    def name(self) -> str:
        return self.chat.name


class Caller:
    """LLM calls of one synthesis attempt, with deterministic per-call seeds and counters.

    Args:
        seed: base seed of the attempt; call ``k`` uses ``seed * 1_000_003 + k`` (mod 2³¹).
        retries: extra tries for a reply that is not the requested JSON.
        temperature: temperature of JSON tasks.
    """

    def __init__(self, seed: int, retries: int, temperature: float):
        self.seed, self.retries, self.temperature = seed, retries, temperature
        self.calls = 0
        self.retried: Counter[str] = Counter()
        """task → retries that were needed."""
        self.skipped: Counter[str] = Counter()
        """task → steps skipped after all retries failed."""

    def _next_seed(self) -> int:
        self.calls += 1
        return (self.seed * 1_000_003 + self.calls) % (2**31)

    async def text(self, role: Role, task: str, temperature: float, **values: object) -> str:
        """Free-text reply to the ``task`` prompt (no system prompt, no parsing)."""
        messages = [{"role": "user", "content": render(task, **values)}]
        return await role.chat.complete(messages, max_new_tokens=role.max_new_tokens, temperature=temperature,
                                        seed=self._next_seed())

    async def json(self, role: Role, task: str, check: Callable[[dict], T], **values: object) -> T:
        """Ask for a JSON object and return ``check(obj)``. A reply that does not parse, or that ``check``
        rejects with ``ReplyError``, is answered with the error and asked again, at most ``retries`` times;
        then ``StepSkipped`` is raised (and counted in ``skipped``)."""
        messages = [{"role": "system", "content": load_prompt("system").template.strip()},
                    {"role": "user", "content": render(task, **values)}]
        error, reply = "", ""
        for attempt in range(self.retries + 1):
            reply = await role.chat.complete(messages, max_new_tokens=role.max_new_tokens,
                                             temperature=self.temperature, seed=self._next_seed())
            try:
                return check(parse_json_object(reply))
            except ReplyError as e:
                error = str(e)
            if attempt < self.retries:
                self.retried[task] += 1
                messages = messages + [
                    {"role": "assistant", "content": reply[:_ECHO_CHARS]},
                    {"role": "user", "content": f"That reply could not be used: {error}. "
                                                "Reply again with only the requested JSON object."},
                ]
        self.skipped[task] += 1
        raise StepSkipped(task, error, self.retries + 1, reply)
