"""The agent seam: one episode interface shared by the ASearcher, Search-R1 and reasoning agents.

``agent.episode.run_episode`` drives any ``Agent``: it asks for the next call, sends it to the engine,
hands the output back, runs the tool the output asks for and hands the result back as an ``Observation``.
Agents own prompts and context; the episode loop owns engines, tools, limits, stats and events. An agent
object is stateless across episodes (all per-episode data lives in the state ``start`` returns), so one
agent serves many concurrent episodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from asearcher.config import AgentConfig
from asearcher.types import Example, Hit, LLMCall

Purpose = Literal["act", "read"]
"""``act``: think, then search / access / answer. ``read``: summarise search results or a page chunk."""


@dataclass(frozen=True)
class CallSpec:
    """The next LLM call an agent wants."""

    input_ids: list[int]
    stop: list[str]
    purpose: Purpose
    messages: list[dict[str, str]] = field(default_factory=list)
    """The same context as chat messages, for text-only engines."""


@dataclass(frozen=True)
class Observation:
    """A tool result handed to the agent.

    ``search``: ``hits`` for ``arg`` (the query). ``page``: chunk ``chunk`` (0-based) of ``chunks`` of the page
    at ``arg``, its text in ``text``. ``error``: ``text`` tells the model what went wrong (invalid action,
    empty query, unknown URL); ``arg`` is the query/URL when there was one.
    """

    kind: Literal["search", "page", "error"]
    arg: str = ""
    hits: tuple[Hit, ...] = ()
    text: str = ""
    chunk: int = 0
    chunks: int = 1


@runtime_checkable
class Agent(Protocol):
    name: str
    """``asearcher``, ``search-r1`` or ``reasoning`` (recorded on the trajectory)."""
    cfg: AgentConfig
    tokenizer: Any
    actions: frozenset[str]
    """Tool calls this agent may make (``search``, ``access``, ``answer``); others are invalid actions."""
    stop_token_ids: list[int]
    topk: int
    """Hits per search."""

    def start(self, example: Example, valid_instruction: bool) -> Any:
        """A fresh per-episode state holding the first prompt."""
        ...

    def next_call(self, state: Any) -> CallSpec:
        """The prompt ids, stop strings and purpose of the next LLM call."""
        ...

    def record(self, state: Any, call: LLMCall) -> None:
        """Take in the call's output (its exact ids). After a ``read`` call, compress what was read."""
        ...

    def observe(self, state: Any, obs: Observation) -> str:
        """Take in a tool result; returns the text shown to the model (for display)."""
        ...

    def final_call(self, state: Any) -> CallSpec:
        """The call that must answer once the LLM-call limit is used up (``AgentConfig.final_answer``):
        ``cfg.final_note`` shown as a tool result, the reply pre-filled with ``cfg.final_prefill``."""
        ...
