"""Agent section: prompt format, turn limits, page reading and token budgets."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from asearcher.config.base import Section


class AgentConfig(Section):
    type: Literal["asearcher", "search-r1", "reasoning"] = "asearcher"
    """Agent variant (all share one episode interface)."""
    tools: Literal["search", "search_access"] = "search_access"
    """Prompt variant: search only, or search + page access."""
    max_turns: int = Field(default=32, ge=1)
    """Maximum LLM calls per episode (plus the forced final call with ``final_answer``)."""
    final_answer: bool = False
    """When the ``max_turns`` LLM calls are used up without an answer, make one more call that must answer:
    the context gets ``final_note`` as a tool result and the reply is pre-filled with ``final_prefill``
    (after the usual ``<think>``), so the model states its best answer from what it found instead of
    ending with none (an episode that loops on one search would otherwise score 0 however much it found).
    Its ``<answer>`` counts as any other; without one the episode still ends ``max_turns``."""
    final_note: str = "No searches are left. Give your final answer now."
    """What the forced final call is told (shown as a tool result)."""
    final_prefill: str = "No searches are left, so"
    """Start of the forced final call's reasoning, continued by the model (e.g. "… the answer is X.")."""
    max_new_tokens: int = Field(default=256, ge=1)
    """Maximum tokens generated per LLM call."""
    max_total_tokens: int = Field(default=8192, ge=64)
    """Token budget for the whole trajectory context; the episode ends cleanly before exceeding it."""
    prompt: Literal["paper", "concise"] = "paper"
    """``asearcher`` system prompt: the paper's (~200 tokens) or a concise one with the same tags (~55)."""
    system_prompt: str | None = None
    """Replaces the agent's system prompt (None = the variant's own, e.g. the paper's for ``asearcher``).
    ``{instruction}`` in it is filled with the valid/invalid-question sentence; the action tags stay the
    variant's. Evaluate a policy with the system prompt it was trained with."""
    temperature: float = Field(default=1.0, ge=0.0)
    """Sampling temperature (0 = greedy). `asearcher train` samples at 0.7 by default."""
    chunk_chars: int = Field(default=25_000, ge=100)
    """Accessed pages are split into chunks of this many characters, read one at a time."""
    max_chunks: int = Field(default=10, ge=1)
    """At most this many chunks of one page are read."""
    summary_chars: int = Field(default=100, ge=0)
    """After reading, the context keeps only this many characters of each chunk."""
    valid_inst_ratio: float = Field(default=0.3, ge=0.0, le=1.0)
    """Training only: fraction of questions whose prompt says "find the most likely answer" instead of
    allowing "the question is invalid"."""
