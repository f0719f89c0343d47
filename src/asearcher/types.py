"""Plain typed records that cross module boundaries (no logic, no torch).

Data flow: ``Example`` → agent episode (``LLMCall`` + ``Turn`` records) → ``Trajectory`` →
``TrainSample`` rows → trainer. Knowledge tools return ``Hit`` and ``Page``.

Per-token arrays always have equal length inside one record:

- ``mask`` / ``loss_mask``: 1 = sampled by the policy and trained on; 0 = prompt or tool tokens.
- ``logprobs``: log-probability the engine assigned to the sampled token (of the temperature-scaled
  distribution); 0.0 where mask is 0.
- ``versions``: weight version that produced the token; -1 for prompt/tool tokens.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Example(_Record):
    """One question with its gold answers (any dataset, any split)."""

    id: str
    question: str
    answers: list[str]
    """Gold answer aliases; scoring takes the max over them."""
    meta: dict[str, Any] = Field(default_factory=dict)
    """Free-form extras: ``hops``, ``source``, ``supporting`` passage ids, ``level`` …"""


class Hit(_Record):
    """One search result: a KB passage or a web search result, in one shape."""

    id: str
    """Passage id from the corpus file (KB) or the URL (web)."""
    title: str
    contents: str
    """Passage text (KB) or snippet (web)."""
    url: str | None = None
    score: float | None = None


class Page(_Record):
    """A whole page the agent can ``<access>``."""

    url: str
    title: str
    contents: str


FinishReason = Literal["stop", "length", "abort", "eos"]


class GenerateRequest(_Record):
    """Token-in request to an inference engine (see ``asearcher.inference.base``)."""

    input_ids: list[int]
    max_new_tokens: int = Field(gt=0)
    temperature: float = Field(default=1.0, ge=0.0)
    """0 means greedy."""
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    top_k: int = -1
    """-1 disables top-k."""
    stop: list[str] = Field(default_factory=list)
    """Stop strings; the matched string is kept at the end of the output."""
    stop_token_ids: list[int] = Field(default_factory=list)
    """Stop tokens (e.g. eos); the token is kept in the output ids."""
    session_id: str | None = None
    """Trajectory key: engines use it for sticky routing and KV prefix reuse across turns."""
    messages: list[dict[str, str]] | None = None
    """Chat messages for text-only engines (OpenAI-compatible); token engines ignore it."""
    seed: int | None = None


class GenerateResponse(_Record):
    """Engine output; the three per-token lists have equal length (empty for text-only engines)."""

    output_ids: list[int]
    output_logprobs: list[float]
    output_versions: list[int]
    finish_reason: FinishReason
    """``stop`` (stop string/token), ``eos``, ``length`` (max_new_tokens) or ``abort`` (interrupted)."""
    text: str = ""
    """Decoded output (for text-only engines the only payload)."""

    @model_validator(mode="after")
    def _equal_lengths(self) -> GenerateResponse:
        n = len(self.output_ids)
        if len(self.output_logprobs) != n or len(self.output_versions) != n:
            raise ValueError(
                f"per-token lists differ in length: ids={n} logprobs={len(self.output_logprobs)} "
                f"versions={len(self.output_versions)}"
            )
        return self


class LLMCall(_Record):
    """One engine call inside an episode, kept token-exact (never re-tokenised)."""

    input_ids: list[int]
    """The exact prompt ids sent to the engine."""
    output_ids: list[int]
    output_logprobs: list[float]
    output_versions: list[int]
    finish_reason: FinishReason
    text: str = ""
    """Decoded output, for display."""
    purpose: str = "act"
    """``act`` (think + tool call), ``read`` (summarise a page chunk), ``answer`` …"""


class Turn(_Record):
    """A readable event of an episode, for printing, the UI and evaluation outputs."""

    kind: Literal["think", "search", "access", "answer", "observation", "invalid", "summary"]
    text: str
    """Thought text, query, URL, answer, or observation text."""
    hits: list[Hit] = Field(default_factory=list)
    chunk: int | None = None
    """For page reading: which chunk (0-based) of the accessed page."""
    ok: bool = True
    """False when the tool call failed (dead URL, empty query, tool error)."""


EpisodeFinish = Literal["answer", "max_turns", "token_budget", "eos_without_answer", "aborted", "error"]


class EpisodeStats(_Record):
    turns: int = 0
    """Number of LLM calls."""
    searches: int = 0
    accesses: int = 0
    tool_failures: int = 0
    invalid_actions: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    finish: EpisodeFinish = "max_turns"
    search_latency_s: list[float] = Field(default_factory=list)


class Trajectory(_Record):
    """A whole episode: what the model saw and produced, token-exact, plus a readable log."""

    id: str
    example: Example
    calls: list[LLMCall] = Field(default_factory=list)
    turns: list[Turn] = Field(default_factory=list)
    answer: str | None = None
    """Content of the last ``<answer>`` (None if the episode ended without one)."""
    stats: EpisodeStats = Field(default_factory=EpisodeStats)
    agent: str = "asearcher"
    valid_instruction: bool = True
    """True if the prompt asked the model to reply "the question is invalid" when it cannot answer."""
    reward: float | None = None
    score: float | None = None
    """Task score (F1/EM/judge) before format and invalid-question handling."""
    format_ok: bool | None = None
    error: str | None = None
    """Set when the episode failed on our side (tool down past retries); such episodes are not trained on."""


class TrainSample(_Record):
    """One token sequence (a batch row) built from a trajectory by prefix merging."""

    ids: list[int]
    loss_mask: list[int]
    logprobs: list[float]
    versions: list[int]
    reward: float
    """The trajectory's shaped reward (before batch normalisation)."""
    trajectory_id: str
    group_id: str
    begin_of_trajectory: bool = True

    @model_validator(mode="after")
    def _equal_lengths(self) -> TrainSample:
        n = len(self.ids)
        if not (len(self.loss_mask) == len(self.logprobs) == len(self.versions) == n):
            raise ValueError(
                f"TrainSample arrays differ in length: ids={n} loss_mask={len(self.loss_mask)} "
                f"logprobs={len(self.logprobs)} versions={len(self.versions)}"
            )
        return self
