"""A scripted engine for tests: returns queued completions as real token ids of a real tokenizer, so
prefix merging, masks and versions behave exactly as with a model."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from asearcher.types import GenerateRequest, GenerateResponse

Script = list[str] | Callable[[GenerateRequest, str], str]


class ScriptedEngine:
    """Replies from a script: a list of completions consumed in order (shared by all sessions), or a
    function ``(request, prompt_text) -> completion``. Completions are cut at the first stop string (kept)
    and at ``max_new_tokens``. Each output token gets logprob ``-0.5`` and the current version."""

    token_level = True

    def __init__(self, tokenizer: Any, script: Script, logprob: float = -0.5):
        self.tokenizer = tokenizer
        self._script = script
        self._queue = list(script) if isinstance(script, list) else None
        self._logprob = logprob
        self._version = 0
        self._running = asyncio.Event()
        self._running.set()
        self.requests: list[GenerateRequest] = []
        self.released: list[str] = []

    @property
    def version(self) -> int:
        return self._version

    def _next_text(self, request: GenerateRequest) -> str:
        if self._queue is not None:
            if not self._queue:
                raise RuntimeError("ScriptedEngine: script exhausted (add more completions)")
            return self._queue.pop(0)
        prompt = self.tokenizer.decode(request.input_ids)
        return self._script(request, prompt)  # type: ignore[operator]

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        await self._running.wait()
        self.requests.append(request)
        text = self._next_text(request)
        finish = "eos"
        for stop in request.stop:
            cut = text.find(stop)
            if cut >= 0:
                text, finish = text[: cut + len(stop)], "stop"
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        if finish == "eos" and request.stop_token_ids:
            ids = ids + [request.stop_token_ids[0]]
        if len(ids) > request.max_new_tokens:
            ids, finish = ids[: request.max_new_tokens], "length"
        await asyncio.sleep(0)
        return GenerateResponse(
            output_ids=ids,
            output_logprobs=[self._logprob] * len(ids),
            output_versions=[self._version] * len(ids),
            finish_reason=finish,  # type: ignore[arg-type]
            text=self.tokenizer.decode(ids, skip_special_tokens=True),
        )

    async def pause(self) -> None:
        self._running.clear()

    async def resume(self) -> None:
        self._running.set()

    async def update_weights(self, version: int, state_dict: Any = None, path: str | None = None) -> None:
        self._version = version

    def release(self, session_id: str) -> None:
        self.released.append(session_id)
