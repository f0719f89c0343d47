"""A text-level scripted engine (``token_level = False``) for synthesis tests and dry runs: replies come
from a function of the chat messages, so a script can answer each synthesis task by its prompt.

Used by the synthesis tests (directly through ``ChatModel``, and behind a local OpenAI-compatible server).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from asearcher.types import GenerateRequest, GenerateResponse

Reply = Callable[[list[dict[str, str]], GenerateRequest], str]

_TASK = re.compile(r"^## Task: (\w+)", re.MULTILINE)


def task_of(messages: list[dict[str, str]]) -> str:
    """The synthesis task of a conversation: the ``## Task: name`` line of its first user message
    (retries append messages, so the first one names the task); "" when there is none."""
    first = next((m["content"] for m in messages if m["role"] == "user"), "")
    m = _TASK.search(first)
    return m.group(1) if m else ""


class ScriptedChatEngine:
    """Replies with ``reply(messages, request)``; records every request. Stop strings cut the reply."""

    token_level = False

    def __init__(self, reply: Reply):
        self._reply = reply
        self.requests: list[GenerateRequest] = []

    @property
    def version(self) -> int:
        return 0

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        if request.messages is None:
            raise ValueError("ScriptedChatEngine is text-level: send chat messages (use ChatModel)")
        self.requests.append(request)
        text = self._reply(request.messages, request)
        finish = "eos"
        for stop in request.stop:
            cut = text.find(stop)
            if cut >= 0:
                text, finish = text[: cut + len(stop)], "stop"
        await asyncio.sleep(0)
        return GenerateResponse(output_ids=[], output_logprobs=[], output_versions=[],
                                finish_reason=finish, text=text)  # type: ignore[arg-type]

    async def pause(self) -> None:
        return None

    async def resume(self) -> None:
        return None

    async def update_weights(self, version: int, state_dict: object = None, path: str | None = None) -> None:
        raise NotImplementedError("ScriptedChatEngine has no weights")
