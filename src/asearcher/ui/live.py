"""Live "ask" sessions of the UI: one agent episode per question, its events kept in order so that a
browser can follow them (and re-follow them after a reconnect) as server-sent events.

Talks to: ``agent`` (``build_agent`` + ``run_episode`` with ``on_event``) and any ``InferenceEngine`` /
``Tools``. No agent logic here: the episode is the library's; this module only records what it reports
and counts the engine calls for the turn/token counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from asearcher.types import Example, GenerateRequest, GenerateResponse, Turn

log = logging.getLogger(__name__)

TERMINAL = ("done", "stopped", "error")


class AskSession:
    """The event log of one episode. Events are dicts with ``seq`` (0, 1, …) and ``type``: ``start``,
    ``generating`` (an engine call began), ``call`` (it returned), ``turn`` (a readable ``Turn``), then one
    terminal event: ``done`` (with the answer and stats), ``stopped`` or ``error``."""

    def __init__(self, question: str) -> None:
        self.id = uuid.uuid4().hex
        self.question = question
        self.events: list[dict[str, Any]] = []
        self.counters = {"calls": 0, "input_tokens": 0, "output_tokens": 0, "context_tokens": 0,
                         "searches": 0, "accesses": 0}
        self.started = time.time()
        self.task: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()

    @property
    def finished(self) -> bool:
        return bool(self.events) and self.events[-1]["type"] in TERMINAL

    async def emit(self, kind: str, **data: Any) -> None:
        """Append an event (with the current counters and elapsed seconds) and wake the followers."""
        event = {"seq": len(self.events), "type": kind, "counters": dict(self.counters),
                 "elapsed_s": round(time.time() - self.started, 3), **data}
        self.events.append(event)
        async with self._changed:
            self._changed.notify_all()

    async def follow(self, start: int = 0) -> AsyncIterator[dict[str, Any]]:
        """Events from ``seq = start`` on, waiting for new ones, until the terminal event."""
        i = start
        while True:
            while i < len(self.events):
                yield self.events[i]
                i += 1
            if self.finished:
                return
            async with self._changed:
                await self._changed.wait_for(lambda i=i: i < len(self.events))

    def stop(self) -> bool:
        """Cancel the episode; False when it had already finished."""
        if self.task is None or self.task.done():
            return False
        self.task.cancel()
        return True


class _CountingEngine:
    """Wraps an engine to report each call (for the counters); everything else passes through."""

    def __init__(self, engine: Any, session: AskSession, tokenizer: Any) -> None:
        self._engine, self._session, self._tokenizer = engine, session, tokenizer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        s = self._session
        await s.emit("generating", call=s.counters["calls"] + 1, input_tokens=len(request.input_ids))
        resp = await self._engine.generate(request)
        # text-only engines return no ids: count the episode's own tokenisation of the text, as it does
        n_out = (len(resp.output_ids) if self._engine.token_level
                 else len(self._tokenizer.encode(resp.text, add_special_tokens=False)))
        c = s.counters
        c["calls"] += 1
        c["input_tokens"] += len(request.input_ids)
        c["output_tokens"] += n_out
        c["context_tokens"] = len(request.input_ids) + n_out
        await s.emit("call", output_tokens=n_out, finish_reason=resp.finish_reason)
        return resp


async def run_ask(session: AskSession, agent: Any, engine: Any, tools: Any, *, max_turns: int | None = None,
                  temperature: float | None = None) -> None:
    """Run one episode for ``session.question``, recording its events; ends with exactly one terminal event."""
    from asearcher.agent import run_episode

    async def on_event(turn: Turn) -> None:
        if turn.kind in ("search", "access"):
            session.counters[turn.kind + "es"] += 1
        await session.emit("turn", turn=turn.model_dump(mode="json"))

    await session.emit("start", question=session.question, agent=agent.name)
    example = Example(id=f"ui-{session.id[:8]}", question=session.question, answers=[])
    try:
        traj = await run_episode(agent, _CountingEngine(engine, session, agent.tokenizer), tools, example, max_turns,
                                 temperature=temperature, trajectory_id=session.id, on_event=on_event)
    except asyncio.CancelledError:
        await session.emit("stopped", reason="stopped by the user")
        return
    except Exception as e:  # noqa: BLE001 — shown to the user; the server keeps serving
        log.exception("ask session %s failed", session.id)
        await session.emit("error", message=f"{type(e).__name__}: {e}")
        return
    s = traj.stats
    await session.emit("done", answer=traj.answer, finish=s.finish, error=traj.error,
                       stats=s.model_dump(mode="json", exclude={"search_latency_s"}))


class Sessions:
    """The ask sessions of one server (the newest ``keep`` are kept for reconnecting browsers)."""

    def __init__(self, keep: int = 32) -> None:
        self.keep = keep
        self._by_id: dict[str, AskSession] = {}

    def start(self, session: AskSession, coro: Any) -> AskSession:
        session.task = asyncio.create_task(coro)
        self._by_id[session.id] = session
        done = [k for k, v in self._by_id.items() if v.finished]
        for k in done[: max(0, len(self._by_id) - self.keep)]:
            del self._by_id[k]
        return session

    def get(self, session_id: str) -> AskSession | None:
        return self._by_id.get(session_id)

    async def aclose(self) -> None:
        """Stop every running episode and wait for it to record its end."""
        tasks = [s.task for s in self._by_id.values() if s.task is not None and not s.task.done()]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
