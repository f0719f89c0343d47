"""Text-only ``InferenceEngine`` over any OpenAI-compatible HTTP endpoint (OpenAI, vLLM/SGLang ``/v1``,
llama.cpp, LiteLLM …): used to evaluate hosted agents, and through ``inference.chat.ChatModel`` by the LLM
judge and QA synthesis.

Talks HTTP (httpx) to ``/v1/chat/completions`` when the request carries ``messages``, else to
``/v1/completions`` with the prompt token ids (vLLM and SGLang accept ids) or, when a tokenizer is given, the
decoded prompt text. Responses carry ``text`` only (``token_level`` is False: no ids, logprobs or versions),
so this engine cannot feed training. The API key is read from an environment variable at call time and is
never logged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import zlib
from typing import Any

import httpx

from asearcher.errors import EngineError
from asearcher.types import FinishReason, GenerateRequest, GenerateResponse

log = logging.getLogger(__name__)

RETRY_STATUS = (429, 500, 502, 503, 504)
"""Rate limits and server-side failures are retried; other HTTP errors are ours and raise at once."""


class OpenAIEngine:
    """``await OpenAIEngine("http://127.0.0.1:8000/v1", model="m").generate(request)``.

    Args:
        base_url: server URL with or without the trailing ``/v1``; several URLs (a list) are replicas,
            chosen per ``session_id`` (sticky) so a trajectory keeps hitting one server's prefix cache.
        model: model name sent in requests; None asks ``/v1/models`` once and uses the first served model.
        api_key_env: environment variable holding the key (read at every call; unset = no auth header).
        timeout_s: per-request timeout.
        retries: retries of transport errors, 429 and 5xx (exponential backoff from ``backoff_s``, capped at
            30 s, ``Retry-After`` honoured up to the cap).
        tokenizer: when set, ``/v1/completions`` prompts are sent as decoded text instead of token ids.
    """

    token_level = False

    def __init__(self, base_url: str | list[str], model: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 timeout_s: float = 600.0, retries: int = 4, backoff_s: float = 1.0, tokenizer: Any = None):
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        if not urls:
            raise EngineError("OpenAIEngine needs a base URL (engine.base_urls or --base-url)")
        self.base_urls = [_v1(u) for u in urls]
        self.model = model
        self.api_key_env = api_key_env
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.tokenizer = tokenizer
        self._paused = False
        self._loop: Any = None
        self._client: httpx.AsyncClient | None = None
        self._running: asyncio.Event | None = None
        self._model_lock: asyncio.Lock | None = None

    @classmethod
    def from_config(cls, engine_cfg: Any, tokenizer: Any = None) -> OpenAIEngine:
        """Build from ``EngineConfig`` (``base_urls``, ``model``, ``api_key_env``, ``timeout_s``)."""
        return cls(list(engine_cfg.base_urls), model=engine_cfg.model, api_key_env=engine_cfg.api_key_env,
                   timeout_s=float(engine_cfg.timeout_s), tokenizer=tokenizer)

    @property
    def version(self) -> int:
        return 0

    # -- transport -------------------------------------------------------------------------------------------

    def _state(self) -> tuple[httpx.AsyncClient, asyncio.Event]:
        """Client and pause gate of the running loop (one engine may serve several ``asyncio.run`` calls)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._client is None or self._running is None:
            self._loop = loop
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout_s, connect=10.0), trust_env=False)
            self._running = asyncio.Event()
            self._model_lock = asyncio.Lock()
            if not self._paused:
                self._running.set()
        return self._client, self._running

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        return {"Authorization": f"Bearer {key}"} if key else {}

    async def _request(self, method: str, url: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        client, _ = self._state()
        err = ""
        for attempt in range(self.retries + 1):
            try:
                r = await client.request(method, url, json=payload, headers=self._headers())
            except httpx.TransportError as e:
                err = f"{type(e).__name__}: {e}"
                delay = None
            else:
                if r.status_code < 400:
                    try:
                        return r.json()
                    except ValueError:
                        raise EngineError(f"{method} {url}: the response is not JSON: {r.text[:200]!r}") from None
                if r.status_code not in RETRY_STATUS:
                    raise EngineError(f"{method} {url} → HTTP {r.status_code}: {r.text[:500]} "
                                      "(check the model name, the request and the API key variable "
                                      f"${self.api_key_env})")
                err = f"HTTP {r.status_code}: {r.text[:200]}"
                delay = _retry_after(r)
            if attempt < self.retries:
                wait = min(30.0, delay if delay is not None else self.backoff_s * 2 ** attempt)
                log.debug("retrying %s %s in %.1fs after %s", method, url, wait, err)
                await asyncio.sleep(wait)
        raise EngineError(f"{method} {url} failed after {self.retries + 1} tries ({err}). Is the server up and "
                          "reachable? Rate limited? (retries cover transport errors, 429 and 5xx only)")

    def _url(self, session_id: str | None) -> str:
        if len(self.base_urls) == 1 or session_id is None:
            return self.base_urls[0]
        return self.base_urls[zlib.crc32(session_id.encode()) % len(self.base_urls)]

    async def served_model(self) -> str:
        """``model`` or, when unset, the first id listed by ``GET /v1/models`` (asked once)."""
        self._state()
        assert self._model_lock is not None
        async with self._model_lock:
            if self.model is None:
                data = await self._request("GET", self.base_urls[0] + "/models")
                models = [m.get("id") for m in data.get("data", []) if m.get("id")]
                if not models:
                    raise EngineError(f"{self.base_urls[0]}/models lists no model; set engine.model")
                self.model = models[0]
        return self.model

    # -- InferenceEngine -------------------------------------------------------------------------------------

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        """One completion (chat when ``request.messages`` is set). Stop strings are kept at the end of the
        text, as the protocol requires (OpenAI servers strip them; see ``_restore_stop``)."""
        _, running = self._state()
        await running.wait()
        body: dict[str, Any] = {"model": await self.served_model(), "max_tokens": request.max_new_tokens,
                                "temperature": request.temperature, "top_p": request.top_p}
        if request.stop:
            body["stop"] = list(request.stop)
        if request.seed is not None:
            body["seed"] = request.seed
        base = self._url(request.session_id)
        if request.messages is not None:
            body["messages"] = request.messages
            data = await self._request("POST", base + "/chat/completions", body)
        else:
            if self.tokenizer is not None:
                body["prompt"] = self.tokenizer.decode(request.input_ids)
            else:
                body["prompt"] = list(request.input_ids)
            data = await self._request("POST", base + "/completions", body)
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"] if "message" in choice else choice["text"]
        except (KeyError, IndexError, TypeError):
            raise EngineError(f"{base}: unexpected response shape (no choices[0] text): {str(data)[:300]}") from None
        text, finish = _restore_stop(text or "", choice, request.stop)
        return GenerateResponse(output_ids=[], output_logprobs=[], output_versions=[], finish_reason=finish,
                                text=text)

    async def pause(self) -> None:
        """Client-side gate: new requests wait until ``resume`` (in-flight ones finish on the server)."""
        self._paused = True
        if self._running is not None:
            self._running.clear()

    async def resume(self) -> None:
        self._paused = False
        if self._running is not None:
            self._running.set()

    async def update_weights(self, version: int, state_dict: dict[str, Any] | None = None,
                             path: str | None = None) -> None:
        raise EngineError("OpenAIEngine serves a hosted model whose weights cannot be updated; train with an "
                          "in-process (engine.type=hf) or vLLM/SGLang engine")

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            try:
                await client.aclose()
            except RuntimeError:  # its event loop is already closed
                pass


def _v1(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


def _retry_after(r: httpx.Response) -> float | None:
    try:
        return float(r.headers["retry-after"])
    except (KeyError, ValueError):
        return None


def _restore_stop(text: str, choice: dict[str, Any], stops: list[str]) -> tuple[str, FinishReason]:
    """Map the OpenAI finish reason and put back the stop string the server stripped.

    Which stop matched: vLLM's ``stop_reason`` / SGLang's ``matched_stop`` when given; else (hosted APIs say
    only "stop"), for ``</tag>`` stop strings, the tag opened last and left unclosed in the text. A natural
    end (no stop string identified) is ``eos``."""
    reason = choice.get("finish_reason")
    if reason == "length":
        return text, "length"
    if reason not in ("stop", None):
        return text, "eos"  # content_filter, tool_calls …: ended without a stop string
    if any(text.endswith(s) for s in stops):
        return text, "stop"
    matched = choice.get("stop_reason", choice.get("matched_stop"))
    if isinstance(matched, str) and matched in stops:
        return text + matched, "stop"
    if "stop_reason" in choice or "matched_stop" in choice:
        return text, "eos"  # the server says which stop it was: an eos token id or None
    open_tag: tuple[int, str] | None = None
    for s in stops:
        if s.startswith("</") and s.endswith(">"):
            opener = "<" + s[2:]
            at = text.rfind(opener)
            if at >= 0 and text.find(s, at) < 0 and (open_tag is None or at > open_tag[0]):
                open_tag = (at, s)
    if open_tag is not None:
        return text + open_tag[1], "stop"
    return text, "eos"
