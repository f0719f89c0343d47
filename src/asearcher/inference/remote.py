"""Engine-neutral client for remote inference servers (vLLM, SGLang, the fake server) behind the
``InferenceEngine`` protocol.

Talks HTTP (httpx) to one or more servers whose wire format a ``remote_backends`` backend knows. It adds what
RL needs on top: sticky routing of a trajectory (``session_id``) to one server, bounded retries of transport
errors only, the client-side resume loop for interrupted requests (algorithm.md §6), per-token weight versions,
pause/update/resume across all servers, and a logprob-parity probe after every weight update (engines.md §2:
an in-place reload can silently load wrong weights).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from asearcher.errors import EngineError
from asearcher.inference.remote_backends import Backend, Chunk, HttpCall, make_backend
from asearcher.types import GenerateRequest, GenerateResponse

log = logging.getLogger(__name__)

Scorer = Callable[[list[int], list[int], float], list[float]]
"""``(prompt_ids, output_ids, temperature) -> per-output-token logprobs`` computed by the trainer's weights."""

RETRY_STATUS = (502, 503, 504)
MAX_EMPTY_ABORTS = 240
"""Consecutive empty aborts (0.5 s apart) tolerated while this client has not paused the server."""


@dataclass
class ParityProbe:
    """After a weight update, a fixed prompt is sampled on every server and re-scored by ``scorer``; any
    per-token logprob differing by more than ``atol`` fails the run."""

    scorer: Scorer
    prompt_ids: list[int]
    max_new_tokens: int = 8
    temperature: float = 1.0
    """Use the rollout temperature, so a server returning raw (unscaled) logprobs is caught too."""
    atol: float = 1e-3
    """fp32 on CPU agrees to ~1e-5; bf16 on GPUs needs ~5e-2."""


class RemoteEngine:
    """``InferenceEngine`` over HTTP servers. ``update_weights(path=...)`` is the disk path (all servers
    reload the checkpoint); ``update_weights(state_dict=...)`` broadcasts over the side group set up by
    ``attach_weight_sender`` (see ``trainer.dist_sync``)."""

    token_level = True

    def __init__(self, base_urls: list[str], backend: Backend, *, tokenizer: Any = None, timeout_s: float = 600.0,
                 pause_mode: str = "abort", retries: int = 3, backoff_s: float = 0.2, max_sessions: int = 4096,
                 probe: ParityProbe | None = None):
        if not base_urls:
            raise EngineError("a remote engine needs at least one server URL (engine.base_urls)")
        backend.pause_request(pause_mode)  # validates the mode now, not at the first weight update
        self.base_urls = [u.rstrip("/") for u in base_urls]
        self.backend = backend
        self.tokenizer = tokenizer
        self.timeout_s = timeout_s
        self.pause_mode = pause_mode
        self.retries = retries
        self.backoff_s = backoff_s
        self.probe = probe
        self.weight_sender: Any = None
        """Set by ``attach_weight_sender``: pushes a state dict over the distributed side group."""
        self._version = 0
        self._sticky: OrderedDict[str, int] = OrderedDict()
        self._max_sessions = max_sessions
        self._inflight = [0] * len(self.base_urls)
        self._paused = False
        self._probe_due = False
        self._loop: Any = None
        self._client: httpx.AsyncClient | None = None
        self._running: asyncio.Event | None = None
        self._warned_no_probe = False

    @classmethod
    def from_config(cls, engine_cfg: Any, tokenizer: Any) -> RemoteEngine:
        """Build from ``EngineConfig`` (``type`` ``vllm`` or ``sglang``, ``base_urls``, ``timeout_s``; an
        optional ``pause_mode`` field is honoured when the config has one)."""
        return cls(list(engine_cfg.base_urls), make_backend(engine_cfg.type), tokenizer=tokenizer,
                   timeout_s=float(engine_cfg.timeout_s), pause_mode=getattr(engine_cfg, "pause_mode", "abort"))

    @property
    def version(self) -> int:
        return self._version

    # -- transport -------------------------------------------------------------------------------------

    def _state(self) -> tuple[httpx.AsyncClient, asyncio.Event]:
        """HTTP client and pause event of the running event loop (tests run several loops in one process)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._client is None or self._running is None:
            self._loop = loop
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout_s, connect=10.0), trust_env=False)
            self._running = asyncio.Event()
            if not self._paused:
                self._running.set()
        return self._client, self._running

    async def call(self, server: int, call: HttpCall) -> dict[str, Any]:
        """Send one request with bounded retries on transport errors and 502/503/504; other HTTP errors
        raise ``EngineError`` at once with the server's message."""
        client, _ = self._state()
        url = self.base_urls[server] + call.path
        err: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                r = await client.request(call.method, url, json=call.json, params=call.params)
            except httpx.TransportError as e:
                err = e
                continue
            if r.status_code in RETRY_STATUS:
                err = EngineError(f"HTTP {r.status_code}: {r.text[:200]}")
                continue
            if r.status_code >= 400:
                raise EngineError(f"{call.method} {url} → HTTP {r.status_code}: {r.text[:500]}")
            try:
                return r.json() if r.content else {}
            except ValueError:
                return {"text": r.text}
        raise EngineError(f"{call.method} {url} failed after {self.retries + 1} tries: {err!r}. "
                          "Is the server up? (check its log; `asearcher launch` waits on /health)")

    async def broadcast(self, calls: list[HttpCall]) -> list[list[dict[str, Any]]]:
        """Send a sequence of calls to every server (servers in parallel, calls in order)."""
        async def one(i: int) -> list[dict[str, Any]]:
            return [await self.call(i, c) for c in calls]
        return list(await asyncio.gather(*(one(i) for i in range(len(self.base_urls)))))

    # -- generation ------------------------------------------------------------------------------------

    def _pick(self, session_id: str | None) -> int:
        """Sticky server of a trajectory (LRU of sessions); new trajectories go to the least-loaded server."""
        if session_id is not None and session_id in self._sticky:
            self._sticky.move_to_end(session_id)
            return self._sticky[session_id]
        server = min(range(len(self.base_urls)), key=lambda i: self._inflight[i])
        if session_id is not None:
            self._sticky[session_id] = server
            while len(self._sticky) > self._max_sessions:
                self._sticky.popitem(last=False)
        return server

    def server_of(self, session_id: str) -> int | None:
        """Index in ``base_urls`` of the server a trajectory is pinned to (None if unknown)."""
        return self._sticky.get(session_id)

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        """Resume loop: an interrupted (``abort``) chunk is resubmitted as prompt + tokens so far with the
        remaining budget, after the engine resumes; the server re-prefills it with the new weights. Tokens
        carry the version the server reports, else the client version when their chunk was sent (in abort
        mode no update can happen while a chunk is in flight)."""
        if not request.input_ids:
            raise EngineError("remote engines are token-level: GenerateRequest.input_ids is empty")
        server = self._pick(request.session_id)
        ids: list[int] = []
        logprobs: list[float] = []
        versions: list[int] = []
        empty_aborts = 0
        while True:
            _, running = self._state()
            await running.wait()
            sent_version = self._version
            call = self.backend.build_generate(request, request.input_ids + ids, request.max_new_tokens - len(ids))
            self._inflight[server] += 1
            try:
                chunk: Chunk = self.backend.parse_generate(await self.call(server, call))
            finally:
                self._inflight[server] -= 1
            ids += chunk.ids
            logprobs += chunk.logprobs
            versions += chunk.versions if chunk.versions is not None else [sent_version] * len(chunk.ids)
            if chunk.finish != "abort":
                finish = chunk.finish
                break
            if len(ids) >= request.max_new_tokens:
                finish = "length"
                break
            if not chunk.ids and not self._paused:  # aborted before prefill while we did not know of a pause
                empty_aborts += 1
                if empty_aborts > MAX_EMPTY_ABORTS:
                    raise EngineError(f"{self.base_urls[server]} aborted every request for "
                                      f"{MAX_EMPTY_ABORTS * 0.5:.0f}s although this client did not pause it: is it "
                                      "left paused (e.g. by a failed weight update)? Resume it (SGLang "
                                      "/continue_generation, vLLM /resume) or restart it")
                await asyncio.sleep(0.5)
            else:
                empty_aborts = 0
        text = self.tokenizer.decode(ids, skip_special_tokens=True) if self.tokenizer is not None else ""
        return GenerateResponse(output_ids=ids, output_logprobs=logprobs, output_versions=versions,
                                finish_reason=finish, text=text)

    def release(self, session_id: str) -> None:
        """Forget a finished trajectory's server pin."""
        self._sticky.pop(session_id, None)

    # -- weight updates ---------------------------------------------------------------------------------

    async def pause(self) -> None:
        """Hold new chunks client-side, then pause every server (``abort`` returns in-flight requests with
        their partial tokens; the resume loop resubmits them after ``resume``)."""
        _, running = self._state()
        self._paused = True
        running.clear()
        await self.broadcast([self.backend.pause_request(self.pause_mode)])

    async def resume(self) -> None:
        """Continue every server, release held chunks, then run the parity probe if weights changed."""
        _, running = self._state()
        await self.broadcast(self.backend.control("resume"))
        self._paused = False
        running.set()
        if self._probe_due:
            self._probe_due = False
            await self.check_parity()

    async def update_weights(self, version: int, state_dict: dict[str, Any] | None = None,
                             path: str | None = None) -> None:
        """Disk (``path``: every server reloads the checkpoint), distributed (``state_dict``: broadcast over
        the attached side group; without one it goes through a temp dir on disk), or only a version bump.
        Call while paused; the probe runs on ``resume``."""
        if path is not None:
            await self.broadcast(self.backend.control("disk_update", path=path, version=version))
        elif state_dict is not None and self.weight_sender is not None:
            await self.weight_sender.push(self, state_dict.items(), version)
        elif state_dict is not None:
            await self._update_through_tmpdir(version, state_dict)
        else:
            await self.broadcast(self.backend.control("set_version", version=version))
        self._version = version
        self._probe_due = state_dict is not None or path is not None

    async def _update_through_tmpdir(self, version: int, state_dict: dict[str, Any]) -> None:
        """Fallback without a side group: write safetensors to a temp dir the servers can read (same
        machine or shared ``$TMPDIR``), disk-update, delete."""
        import shutil
        import tempfile

        from safetensors.torch import save_file

        tmp = tempfile.mkdtemp(prefix=f"asearcher-weights-v{version}-")
        try:
            tensors, seen = {}, set()
            for k, v in state_dict.items():  # tied weights share storage: save it once, as HF does
                if v.data_ptr() not in seen:
                    seen.add(v.data_ptr())
                    tensors[k] = v.detach().cpu().contiguous()
            await asyncio.to_thread(save_file, tensors, f"{tmp}/model.safetensors")
            await self.broadcast(self.backend.control("disk_update", path=tmp, version=version))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def attach_weight_sender(self, sender: Any) -> None:
        """Use ``sender.push(engine, named_tensors, version)`` for in-memory updates (``dist_sync``)."""
        self.weight_sender = sender

    def set_parity_probe(self, probe: ParityProbe | None) -> None:
        """Install the probe (the trainer side owns the scorer)."""
        self.probe = probe

    async def check_parity(self) -> float:
        """Run the probe on every server; returns the largest |Δ logprob|, raises ``EngineError`` above atol."""
        if self.probe is None:
            if not self._warned_no_probe:
                log.warning("logprob-parity probe disabled: no scorer installed (RemoteEngine.set_parity_probe)")
                self._warned_no_probe = True
            return 0.0
        p = self.probe
        req = GenerateRequest(input_ids=list(p.prompt_ids), max_new_tokens=p.max_new_tokens,
                              temperature=p.temperature, seed=1234)
        worst = 0.0
        for i, url in enumerate(self.base_urls):
            chunk = self.backend.parse_generate(await self.call(i, self.backend.build_generate(
                req, req.input_ids, req.max_new_tokens)))
            expected = await asyncio.to_thread(p.scorer, list(p.prompt_ids), chunk.ids, p.temperature)
            diff = max((abs(a - b) for a, b in zip(chunk.logprobs, expected, strict=True)), default=0.0)
            worst = max(worst, diff)
            if diff > p.atol:
                raise EngineError(
                    f"logprob-parity probe failed after the update to version {self._version} on {url}: "
                    f"max |server - trainer| = {diff:.4g} > {p.atol} over {len(chunk.ids)} tokens. The server "
                    "runs different weights than the trainer (in-place reload of a tied-embedding model in vLLM is "
                    "a known cause: restart the server or use another sync path; raw vs processed logprobs with "
                    "temperature != 1 is another: start vLLM with --logprobs-mode processed_logprobs)")
        log.info("parity probe ok at version %d: max |Δlogprob| = %.3g", self._version, worst)
        return worst

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def model_scorer(model: Any) -> Scorer:
    """A ``Scorer`` over an HF causal LM (the trainer's model or a checkpoint): log_softmax(logits / T)."""

    def score(prompt_ids: list[int], output_ids: list[int], temperature: float) -> list[float]:
        import torch

        if not output_ids:
            return []
        ids = torch.tensor([prompt_ids + output_ids])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, len(prompt_ids) - 1: -1].float()
        lp = torch.log_softmax(logits / max(temperature, 1e-6), dim=-1)
        return lp.gather(-1, torch.tensor(output_ids)[:, None])[:, 0].tolist()

    return score
