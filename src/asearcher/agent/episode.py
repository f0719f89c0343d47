"""``run_episode``: drives any ``Agent`` through one question with an inference engine and the tools.

Talks to: ``inference.base.InferenceEngine`` (``generate``, ``release``), ``tools.Tools`` (``search``,
``access``), the agent (prompts and context). Owns the limits (``max_turns`` LLM calls, the token budget),
page chunking, stats and readable events. What the model caused (malformed output, empty query, unknown
URL) becomes an observation; a tool backend that stays down (``ToolUnavailableError``) ends the episode
with finish ``error``; engine errors propagate.
"""

from __future__ import annotations

import inspect
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from asearcher.agent.base import Agent, CallSpec, Observation
from asearcher.agent.memory import chunk_text
from asearcher.agent.parsing import Action, extract_answer, parse_action, thought_of
from asearcher.errors import ToolError, ToolUnavailableError
from asearcher.inference.base import InferenceEngine, release_session
from asearcher.tools import Tools
from asearcher.types import EpisodeFinish, Example, GenerateRequest, LLMCall, Trajectory, Turn

OnEvent = Callable[[Turn], Awaitable[None] | None]


async def run_episode(
    agent: Agent,
    engine: InferenceEngine,
    tools: Tools,
    example: Example,
    max_turns: int | None = None,
    *,
    valid_instruction: bool = True,
    temperature: float | None = None,
    trajectory_id: str | None = None,
    on_event: OnEvent | None = None,
) -> Trajectory:
    """Run one episode and return its token-exact ``Trajectory``.

    Args:
        max_turns: maximum LLM calls (read calls included); default ``agent.cfg.max_turns``.
        valid_instruction: True = the prompt allows "the question is invalid"; False = "find the most
            likely answer".
        temperature: sampling temperature; default ``agent.cfg.temperature``.
        trajectory_id: also the engine session id (KV prefix reuse); default a fresh uuid.
        on_event: called (sync or async) with each readable ``Turn`` as it happens.
    """
    tid = trajectory_id or uuid.uuid4().hex
    traj = Trajectory(id=tid, example=example, agent=agent.name, valid_instruction=valid_instruction)
    ep = _Episode(agent, engine, tools, traj, on_event,
                  agent.cfg.temperature if temperature is None else temperature)
    try:
        traj.stats.finish = await ep.run(agent.cfg.max_turns if max_turns is None else max_turns)
    except ToolUnavailableError as e:
        traj.stats.finish, traj.error = "error", f"tool backend unavailable: {e}"
    finally:
        release_session(engine, tid)
    return traj


class _Episode:
    def __init__(self, agent: Agent, engine: InferenceEngine, tools: Tools, traj: Trajectory,
                 on_event: OnEvent | None, temperature: float):
        self.agent, self.engine, self.tools, self.traj = agent, engine, tools, traj
        self.on_event, self.temperature = on_event, temperature
        self.stats = traj.stats
        self._reading_chunk: int | None = None
        """Chunk index of the page part being read (for the summary event)."""

    async def run(self, max_turns: int) -> EpisodeFinish:
        agent, cfg = self.agent, self.agent.cfg
        state = agent.start(self.traj.example, self.traj.valid_instruction)
        chunks: deque[Observation] = deque()
        while True:
            if self.stats.turns >= max_turns:
                return await self._final_answer(state) if cfg.final_answer else "max_turns"
            spec = agent.next_call(state)
            if len(spec.input_ids) + cfg.max_new_tokens > cfg.max_total_tokens:
                return "token_budget"
            call = await self._generate(spec)
            agent.record(state, call)
            if call.finish_reason == "abort":
                return "aborted"
            if spec.purpose == "read":
                summary = thought_of(call.text) or call.text.strip()
                await self._emit(Turn(kind="summary", text=summary, chunk=self._reading_chunk))
                answer = extract_answer(call.text)
                if answer is not None:
                    return await self._answer(answer)
                if chunks:
                    await self._observe(state, chunks.popleft())
                continue
            action = self._validate(parse_action(call.text))
            thought = thought_of(call.text)
            if thought:
                await self._emit(Turn(kind="think", text=thought))
            if action.kind == "invalid":
                ended = bool(call.output_ids) and call.output_ids[-1] in agent.stop_token_ids
                if ended or call.finish_reason == "eos":
                    return "eos_without_answer"
                self.stats.invalid_actions += 1
                await self._emit(Turn(kind="invalid", text=action.error, ok=False))
                agent.observe(state, Observation("error", text=action.error))
            elif action.kind == "answer":
                return await self._answer(action.arg)
            elif action.kind == "search":
                self.stats.searches += 1
                await self._emit(Turn(kind="search", text=action.arg))
                await self._observe(state, await self._search(action.arg))
            else:
                self.stats.accesses += 1
                await self._emit(Turn(kind="access", text=action.arg))
                chunks.extend(await self._access(action.arg))
                await self._observe(state, chunks.popleft())

    async def _final_answer(self, state: Any) -> EpisodeFinish:
        """The call limit is used up: one more call that is told to answer (``AgentConfig.final_answer``)."""
        spec = self.agent.final_call(state)
        if len(spec.input_ids) + self.agent.cfg.max_new_tokens > self.agent.cfg.max_total_tokens:
            return "max_turns"
        await self._emit(Turn(kind="observation", text=self.agent.cfg.final_note))
        call = await self._generate(spec)
        self.agent.record(state, call)
        if call.finish_reason == "abort":
            return "aborted"
        thought = thought_of(self.agent.cfg.final_prefill + call.text)
        if thought:
            await self._emit(Turn(kind="think", text=thought))
        answer = extract_answer(call.text)
        return await self._answer(answer) if answer is not None else "max_turns"

    def _validate(self, action: Action) -> Action:
        if action.kind == "invalid" or action.kind in self.agent.actions:
            return action
        allowed = ", ".join(f"<{a}>" for a in sorted(self.agent.actions))
        return Action("invalid", error=f"no valid action found: <{action.kind}> is not available here; "
                                       f"use one of {allowed}.")

    async def _answer(self, answer: str) -> EpisodeFinish:
        self.traj.answer = answer
        await self._emit(Turn(kind="answer", text=answer))
        return "answer"

    async def _generate(self, spec: CallSpec) -> LLMCall:
        agent, token_level = self.agent, self.engine.token_level
        req = GenerateRequest(
            input_ids=spec.input_ids, max_new_tokens=agent.cfg.max_new_tokens, temperature=self.temperature,
            stop=spec.stop, stop_token_ids=agent.stop_token_ids, session_id=self.traj.id,
            messages=None if token_level else spec.messages,
        )
        resp = await self.engine.generate(req)
        if token_level:
            ids, lps, vers = resp.output_ids, resp.output_logprobs, resp.output_versions
            text = agent.tokenizer.decode(ids, skip_special_tokens=True)
        else:  # text-only engines: the only tokens are our tokenisation (not trainable: no logprobs)
            text = resp.text
            ids = list(agent.tokenizer.encode(text, add_special_tokens=False))
            lps, vers = [0.0] * len(ids), [-1] * len(ids)
        call = LLMCall(input_ids=list(spec.input_ids), output_ids=list(ids), output_logprobs=list(lps),
                       output_versions=list(vers), finish_reason=resp.finish_reason, text=text,
                       purpose=spec.purpose)
        self.traj.calls.append(call)
        self.stats.turns += 1
        self.stats.input_tokens += len(call.input_ids)
        self.stats.output_tokens += len(call.output_ids)
        return call

    async def _search(self, query: str) -> Observation:
        if not query:
            return self._failure(query, "search failed: the query is empty; put a query inside <search> </search>.")
        t0 = time.perf_counter()
        try:
            hits = await self.tools.search(query, self.agent.topk)
        except ToolError as e:
            return self._failure(query, f"search failed: {e}")
        finally:
            self.stats.search_latency_s.append(time.perf_counter() - t0)
        return Observation("search", arg=query, hits=tuple(hits))

    async def _access(self, url: str) -> list[Observation]:
        cfg = self.agent.cfg
        if not url:
            return [self._failure(url, "access failed: the url is empty; put a url inside <access> </access>.")]
        try:
            page = await self.tools.access(url)
        except ToolError as e:
            return [self._failure(url, f"access failed: {e}")]
        if page is None:
            return [self._failure(url, f"access failed: no page was found at {url}.")]
        parts = chunk_text(page.contents, cfg.chunk_chars, cfg.max_chunks)
        if not parts:
            return [self._failure(url, f"access failed: the page at {url} is empty.")]
        return [Observation("page", arg=url, text=t, chunk=i, chunks=len(parts)) for i, t in enumerate(parts)]

    def _failure(self, arg: str, message: str) -> Observation:
        self.stats.tool_failures += 1
        return Observation("error", arg=arg, text=message)

    async def _observe(self, state: Any, obs: Observation) -> None:
        text = self.agent.observe(state, obs)
        self._reading_chunk = obs.chunk if obs.kind == "page" else None
        await self._emit(Turn(kind="observation", text=text, hits=list(obs.hits),
                              chunk=self._reading_chunk, ok=obs.kind != "error"))

    async def _emit(self, turn: Turn) -> None:
        self.traj.turns.append(turn)
        if self.on_event is not None:
            result = self.on_event(turn)
            if inspect.isawaitable(result):
                await result
