"""The reasoning agent (after ASearcher's reasoning agent): separate think-and-act, read-search-results
and read-page calls, each a fresh prompt built from the question and a text history.

Search results and page chunks are read by their own LLM call; only a short form of what was read plus
the model's notes enter the history that the next prompt shows (the most recent entries that fit the
token budget). Calls are therefore not token-prefix extensions of each other (each becomes its own
training sequence). Driven by ``agent.episode.run_episode``; prompts come from ``prompts/reasoning.txt``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from asearcher.agent.base import CallSpec, Observation
from asearcher.agent.memory import split_title
from asearcher.agent.parsing import parse_action, thought_of
from asearcher.agent.template import TurnFormat, fill, load_prompts
from asearcher.agent.transcript import ACT_STOP, READ_STOP
from asearcher.config import AgentConfig
from asearcher.types import Example, LLMCall


@dataclass
class ReasoningState:
    question: str
    instruction: str
    history: list[tuple[str, int]] = field(default_factory=list)
    """Entries (oldest first) with their token counts."""
    pending: Observation | None = None
    """Search results or a page chunk that the next (read) call reads."""


class ReasoningAgent:
    name = "reasoning"

    def __init__(self, cfg: AgentConfig, tokenizer: Any, fmt: TurnFormat, topk: int = 3):
        self.cfg, self.tokenizer, self.fmt, self.topk = cfg, tokenizer, fmt, topk
        self.p = load_prompts("reasoning")
        self.common = load_prompts("common")
        self.actions = frozenset({"search", "answer", *(["access"] if cfg.tools == "search_access" else [])})
        self.stop_token_ids = fmt.stop_token_ids

    def start(self, example: Example, valid_instruction: bool) -> ReasoningState:
        instruction = self.common["valid_instruction" if valid_instruction else "likely_instruction"]
        return ReasoningState(example.question, instruction)

    def next_call(self, state: ReasoningState) -> CallSpec:
        obs = state.pending
        values = {"question": state.question, "instruction": state.instruction}
        if obs is None:
            template = self.p[f"act_{self.cfg.tools}"]
        elif obs.kind == "search":
            template = self.p["read_search"]
            values |= {"query": obs.arg, "content": self._docs(obs, short=False)}
        else:
            template = self.p["read_page"]
            values |= {"url": obs.arg, "part": obs.chunk + 1, "parts": obs.chunks, "content": obs.text}
        return self._spec(state, template, values, "read" if obs else "act")

    def final_call(self, state: ReasoningState) -> CallSpec:
        state.pending = None
        self._add(state, fill(self.p["history_note"], note=self.cfg.final_note))
        values = {"question": state.question, "instruction": state.instruction}
        return self._spec(state, self.p[f"act_{self.cfg.tools}"], values, "act",
                          prefill="<think>\n" + self.cfg.final_prefill)

    def _spec(self, state: ReasoningState, template: str, values: dict[str, Any], purpose: str,
              prefill: str = "") -> CallSpec:
        system = self.common["system"]
        if self.cfg.system_prompt is not None:
            system = fill(self.cfg.system_prompt, instruction=state.instruction)
        fixed = len(self.fmt.encode(self.fmt.prompt(system, fill(template, **values, history=""), prefill)))
        user = fill(template, **values, history=self._history(state, fixed))
        text = self.fmt.prompt(system, user, prefill)
        msgs = [{"role": "system", "content": system}, {"role": "user", "content": self.fmt.defuse(user)}]
        return CallSpec(self.fmt.encode(text), list(ACT_STOP if purpose == "act" else READ_STOP),
                        purpose, msgs)  # type: ignore[arg-type]

    def _history(self, state: ReasoningState, fixed: int) -> str:
        """The most recent history entries that fit the token budget next to ``fixed`` prompt tokens."""
        room = self.cfg.max_total_tokens - self.cfg.max_new_tokens - fixed
        kept: list[str] = []
        for entry, n_tokens in reversed(state.history):
            room -= n_tokens + 2
            if room < 0:
                break
            kept.append(entry)
        return "\n\n".join(reversed(kept)) or self.p["empty_history"]

    def record(self, state: ReasoningState, call: LLMCall) -> None:
        thought = thought_of(call.text)
        obs = state.pending
        if obs is None or call.purpose != "read":
            action = parse_action(call.text)
            done = "" if action.kind == "invalid" else f"\n<{action.kind}> {action.arg} </{action.kind}>"
            self._add(state, f"<think>{thought}</think>{done}")
            return
        state.pending = None
        if obs.kind == "search":
            self._add(state, fill(self.p["history_search"], query=obs.arg, content=self._docs(obs, short=True)))
        else:
            short = obs.text[: self.cfg.summary_chars] + ("…" if len(obs.text) > self.cfg.summary_chars else "")
            self._add(state, fill(self.p["history_page"], url=obs.arg, part=obs.chunk + 1, parts=obs.chunks,
                                      content=short))
        self._add(state, fill(self.p["history_summary"], summary=thought or call.text.strip()))

    def observe(self, state: ReasoningState, obs: Observation) -> str:
        if obs.kind == "error":
            self._add(state, fill(self.p["history_error"], error=obs.text))
            return obs.text
        if obs.kind == "search" and not obs.hits:
            self._add(state, fill(self.p["history_search"], query=obs.arg, content=self.p["no_results"]))
            return self.p["no_results"]
        state.pending = obs
        return self._docs(obs, short=False) if obs.kind == "search" else obs.text

    def _add(self, state: ReasoningState, entry: str) -> None:
        state.history.append((entry, len(self.fmt.encode(entry))))

    def _docs(self, obs: Observation, short: bool) -> str:
        limit = self.cfg.summary_chars if short else self.cfg.chunk_chars
        out = []
        for i, hit in enumerate(obs.hits):
            title, body = split_title(hit.title, hit.contents)
            text = (f"{title}: " if title else "") + body[:limit] + ("…" if len(body) > limit else "")
            out.append(fill(self.p["doc"], i=i + 1, url=hit.url or hit.id, text=text))
        return "\n".join(out)
