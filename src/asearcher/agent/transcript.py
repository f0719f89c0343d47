"""Transcript agents (ASearcher and Search-R1): one growing conversation kept as tokens.

The model's outputs stay in the context as the engine's exact ids; tool results follow as observation
tokens (the next user turn for chat models, inline ``<information>`` blocks for base models). Every call's
input is therefore a token prefix of the next one, except after a page chunk was read: its observation is
then replaced by a short form (``summary_chars`` characters) while the model's own notes on it stay.
Driven by ``agent.episode.run_episode``; prompts come from ``prompts/asearcher.txt`` / ``prompts/search_r1.txt``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asearcher.agent.base import CallSpec, Observation
from asearcher.agent.memory import Context, Segment, split_title
from asearcher.agent.template import TurnFormat, fill, load_prompts
from asearcher.config import AgentConfig
from asearcher.types import Example, Hit, LLMCall

ACT_STOP = ["</search>", "</access>", "</answer>"]
READ_STOP = ["</think>", "</answer>"]


@dataclass
class _Reading:
    """The page chunk waiting for its read call: where its observation sits and how to re-render it."""

    index: int
    obs: Observation
    after_id: int | None


@dataclass
class TranscriptState:
    ctx: Context
    reading: _Reading | None = None


class TranscriptAgent:
    """``name`` = ``asearcher`` (paper prompt, search or search+access) or ``search-r1`` (search only)."""

    def __init__(self, name: str, cfg: AgentConfig, tokenizer: Any, fmt: TurnFormat, topk: int = 3):
        self.name, self.cfg, self.tokenizer, self.fmt, self.topk = name, cfg, tokenizer, fmt, topk
        self.p = load_prompts("asearcher" if name == "asearcher" else "search_r1")
        self.common = load_prompts("common")
        access = name == "asearcher" and cfg.tools == "search_access"
        self.actions = frozenset({"search", "answer", *(["access"] if access else [])})
        self.stop_token_ids = fmt.stop_token_ids
        self.prefill = self.p["prefill"] + "\n" if self.p["prefill"] else ""
        self._doc_sep = "\n\n" if name == "asearcher" else "\n"

    # -- Agent protocol -------------------------------------------------------------------------------
    def start(self, example: Example, valid_instruction: bool) -> TranscriptState:
        instruction = self.common["valid_instruction" if valid_instruction else "likely_instruction"]
        if self.name == "asearcher":
            concise = "_concise" if self.cfg.prompt == "concise" else ""
            system = fill(self.p[f"system_{self.cfg.tools}{concise}"], instruction=instruction)
            user = fill(self.p["user"], question=example.question)
        else:
            system = self.common["system"]
            user = fill(self.p["user"], question=example.question, instruction=instruction)
        if self.cfg.system_prompt is not None:
            system = fill(self.cfg.system_prompt, instruction=instruction)
        text = self.fmt.prompt(system, user, self.prefill)
        msgs = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return TranscriptState(Context([Segment("prompt", self.fmt.encode(text), text, msgs)]))

    def next_call(self, state: TranscriptState) -> CallSpec:
        purpose = "read" if state.reading else "act"
        stop = READ_STOP if state.reading else ACT_STOP
        return CallSpec(state.ctx.ids, list(stop), purpose, state.ctx.messages())

    def record(self, state: TranscriptState, call: LLMCall) -> None:
        state.ctx.append(Segment("output", list(call.output_ids), call.text,
                                 [{"role": "assistant", "content": call.text}]))
        r = state.reading
        if r is None or call.purpose != "read":
            return
        state.reading = None
        short = r.obs.text[: self.cfg.summary_chars]
        short += "…" if len(r.obs.text) > len(short) else ""
        state.ctx.replace(r.index, self._segment(self._page(r.obs, short, read=False), r.after_id))
        if r.obs.chunk == r.obs.chunks - 1:
            self._append(state, fill(self.p["page_done"], parts=r.obs.chunks, url=r.obs.arg))

    def observe(self, state: TranscriptState, obs: Observation) -> str:
        if obs.kind == "search":
            body = self._doc_sep.join(self._doc(i + 1, h) for i, h in enumerate(obs.hits))
            content = fill(self.p["information"], body=body or self.p["no_results"])
        elif obs.kind == "page":
            content = self._page(obs, obs.text, read=True)
        else:
            content = fill(self.p["information"], body=obs.text)
        after = state.ctx.last_id
        index = self._append(state, content)
        if obs.kind == "page":
            state.reading = _Reading(index, obs, after)
        return content

    def final_call(self, state: TranscriptState) -> CallSpec:
        content = fill(self.p["information"], body=self.cfg.final_note)
        state.ctx.append(self._segment(content, state.ctx.last_id, self.prefill + self.cfg.final_prefill))
        state.reading = None
        return CallSpec(state.ctx.ids, list(ACT_STOP), "act", state.ctx.messages())

    # -- rendering --------------------------------------------------------------------------------------
    def _doc(self, i: int, hit: Hit) -> str:
        title, body = split_title(hit.title, hit.contents)
        body = body[: self.cfg.chunk_chars]
        text = f"{title}\n{body}" if title and self.name == "asearcher" else body
        return fill(self.p["doc"], i=i, url=hit.url or hit.id, title=title, text=text)

    def _page(self, obs: Observation, text: str, read: bool) -> str:
        page = fill(self.p["page"], part=obs.chunk + 1, parts=obs.chunks, url=obs.arg, text=text)
        content = fill(self.p["information"], body=page)
        return content + "\n\n" + self.p["read"] if read else content

    def _segment(self, content: str, after_id: int | None, prefill: str | None = None) -> Segment:
        text = self.fmt.observation(content, self.prefill if prefill is None else prefill, after_id)
        return Segment("observation", self.fmt.encode(text), text, [{"role": "user", "content": content}])

    def _append(self, state: TranscriptState, content: str) -> int:
        return state.ctx.append(self._segment(content, state.ctx.last_id))
