"""In-process transformers inference engine with continuous batching and per-trajectory prefix reuse.

Talks to: a causal LM + tokenizer in this process (CPU by default, or one GPU: the device follows the
model); callers through the ``InferenceEngine`` protocol (``inference.base``). One worker thread owns the
model and runs the decode loop (torch releases the GIL, so the asyncio loop stays free for tool I/O);
results go back with ``loop.call_soon_threadsafe``.

Loop (one iteration = one step boundary): drop cancelled requests, admit waiting ones into free batch rows
(reusing their session's cached KV prefix), prefill what is not cached one row at a time, then one batched
decode step over all rows, then retire finished rows (their KV goes to the session cache). ``pause()`` parks
the loop at a boundary; ``update_weights`` (while paused) loads new weights and, with
``kv_policy="recompute"``, drops all cached KV so in-flight requests re-prefill prompt + generated tokens
with the new weights after ``resume()`` (the paper's "discard old KV, recompute"); ``"keep"`` keeps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from asearcher.errors import EngineError
from asearcher.inference.hf_kv import KVSlots, SessionCache, common_prefix, decode_mask, prefill_mask
from asearcher.inference.hf_sampling import SamplingParams, StopMatcher, sample
from asearcher.types import GenerateRequest, GenerateResponse

log = logging.getLogger(__name__)

KVPolicy = Literal["recompute", "keep"]


@dataclass
class _Seq:
    """One request in flight (owned by the worker thread once admitted)."""

    req: GenerateRequest
    fut: asyncio.Future
    loop: asyncio.AbstractEventLoop
    ctx: list[int]
    """Prompt + generated tokens; the KV of ``ctx[:n_kv]`` is in the slot row."""
    params: SamplingParams
    stop: StopMatcher
    n_kv: int = 0
    out_ids: list[int] = field(default_factory=list)
    out_logprobs: list[float] = field(default_factory=list)
    out_versions: list[int] = field(default_factory=list)
    finish: str | None = None
    cancelled: bool = False


@dataclass
class EngineStats:
    """Counters of work done (read by tests and benchmarks; written by the worker thread)."""

    prefill_tokens: int = 0
    """Tokens run through prefill (prompt suffixes not found in the session cache, and recomputation)."""
    reused_tokens: int = 0
    """Prompt tokens whose KV came from the session cache instead of prefill."""
    recompute_tokens: int = 0
    """Prefill tokens of in-flight requests whose KV was discarded by a weight update."""
    decode_steps: int = 0
    decode_tokens: int = 0
    """Sum of batch sizes over decode steps (= sampled tokens)."""
    requests: int = 0
    max_batch_seen: int = 0
    threads: int = 0
    """Torch intra-op threads the decode loop ran its last step with."""


class HFEngine:
    """``InferenceEngine`` over an in-process transformers causal LM (full-attention decoders: Llama, Qwen2…).

    Args:
        model: causal LM; its device and dtype are used as they are (fp32 weights recommended).
        tokenizer: its tokenizer (stop strings and the ``text`` field).
        max_batch: maximum sequences decoded together; more concurrent requests wait their turn.
        prefix_cache: keep each session's KV after a request and reuse the longest common prefix next time.
        autocast_bf16: run forwards under bf16 autocast (faster on CPUs with bf16; logprobs then differ
            from an fp32 trainer by ~1e-2 instead of ~1e-6).
        bf16_weights: with ``autocast_bf16``, store the weights of the model's ``nn.Linear`` layers in bf16 —
            the values autocast computes with anyway, so outputs are the same bits — instead of casting fp32
            weights on every forward (a decode step of one sequence re-cast all of SmolLM2-135M: 2x slower
            on 2 CPU cores). Converts ``model`` in place (a head tied to the embeddings gets its own bf16
            copy; the embeddings and norms stay as they are), so only for an engine that owns its model —
            never one whose model a trainer also uses. ``update_weights`` casts incoming weights.
        kv_policy: what ``update_weights`` does with cached KV: ``recompute`` (drop it; in-flight requests
            re-prefill with the new weights) or ``keep`` (reuse KV computed by the old weights).
        max_sessions / max_cache_bytes: bounds of the session KV cache (LRU). Per token it holds
            ``layers * 2 * kv_heads * head_dim * 4`` bytes in fp32 (SmolLM2-135M: 46 KB/token, so the
            default 2 GiB holds ~46k tokens).
        prefill_chunk: longest prefill forward (bounds activation memory for long prompts).
        seed: seed of the engine's sampling generator (requests with ``seed`` use their own).
    """

    token_level = True

    def __init__(self, model: Any, tokenizer: Any, *, max_batch: int = 8, prefix_cache: bool = True,
                 autocast_bf16: bool = False, bf16_weights: bool = False, kv_policy: KVPolicy = "recompute",
                 max_sessions: int = 256, max_cache_bytes: int = 2 << 30, prefill_chunk: int = 512,
                 seed: int | None = None):
        if kv_policy not in ("recompute", "keep"):
            raise ValueError(f"kv_policy must be 'recompute' or 'keep', got {kv_policy!r}")
        if max_batch < 1 or prefill_chunk < 1:
            raise ValueError("max_batch and prefill_chunk must be >= 1")
        if bf16_weights and not autocast_bf16:
            raise ValueError("bf16_weights=True needs autocast_bf16=True (the norms and embeddings stay in the "
                             "model's dtype, and only autocast runs the bf16 layers' inputs in bf16)")
        self.model, self.tokenizer = model, tokenizer
        self.max_batch, self.prefix_cache, self.kv_policy = max_batch, prefix_cache, kv_policy
        self.prefill_chunk = prefill_chunk
        cfg = model.config.get_text_config(decoder=True) if hasattr(model.config, "get_text_config") else model.config
        _check_supported(model, cfg)
        self._aliases = _linear_weights_to_bf16(model) if bf16_weights else {}
        param = next(model.parameters())
        self.device = param.device
        self.max_len = int(getattr(cfg, "max_position_embeddings", 1 << 20))
        self._autocast = (torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
                          if autocast_bf16 else contextlib.nullcontext())
        kv_dtype = torch.bfloat16 if autocast_bf16 else param.dtype
        head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        n_kv = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
        self._slots = KVSlots(cfg.num_hidden_layers, n_kv, head_dim, kv_dtype, self.device, max_batch, self.max_len)
        eager = model.config._attn_implementation == "eager"
        self._mask_dtype = kv_dtype if eager else None  # eager attention adds masks; sdpa takes bool
        self._cache_kw = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        self.sessions = SessionCache(max_sessions, max_cache_bytes)
        self.stats = EngineStats()
        self._gen = torch.Generator(device=self.device)
        if seed is None:
            self._gen.seed()  # nondeterministic, without touching torch's global generator
        else:
            self._gen.manual_seed(seed)
        self._version = 0
        self._cond = threading.Condition()
        self._waiting: deque[_Seq] = deque()
        self._rows: list[_Seq] = []  # running batch; index = slot row (worker-owned)
        self._paused = False
        self._parked = threading.Event()  # set while the worker sits at a boundary because of pause()
        self._closing = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._want_threads: int | None = None

    # ---- protocol ------------------------------------------------------------------------------------

    @property
    def version(self) -> int:
        return self._version

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        """Queue a request for the decode loop and wait for it (see ``InferenceEngine.generate``)."""
        self._validate(request)
        loop = asyncio.get_running_loop()
        gen = self._gen
        if request.seed is not None and request.temperature > 0:
            gen = torch.Generator(device=self.device)
            gen.manual_seed(request.seed)
        seq = _Seq(req=request, fut=loop.create_future(), loop=loop, ctx=list(request.input_ids),
                   params=SamplingParams(request.temperature, request.top_p, request.top_k, gen),
                   stop=StopMatcher(self.tokenizer, request.stop))
        with self._cond:
            self._raise_if_unusable()
            self._waiting.append(seq)
            self._ensure_thread()
            self._cond.notify_all()
        try:
            return await seq.fut
        except asyncio.CancelledError:
            seq.cancelled = True  # the worker drops it at the next step boundary
            with self._cond:
                self._cond.notify_all()
            raise

    async def pause(self) -> None:
        """Park the decode loop at the next step boundary; returns once it is parked."""
        with self._cond:
            self._paused = True
            self._cond.notify_all()
            running = self._thread is not None and self._thread.is_alive()
        if running:
            await asyncio.to_thread(self._parked.wait)

    async def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._parked.clear()
            self._cond.notify_all()

    async def update_weights(self, version: int, state_dict: dict[str, Any] | None = None,
                             path: str | None = None) -> None:
        """Load weights from ``state_dict`` or a safetensors checkpoint directory ``path`` (or neither: only
        set the version), set ``version`` and apply ``kv_policy``. Must be called between ``pause()`` and
        ``resume()``. All-or-nothing: names and shapes are checked before any parameter is written."""
        if not self._paused:
            raise EngineError("update_weights needs a paused engine: call `await engine.pause()` first")
        if state_dict is not None and path is not None:
            raise EngineError("update_weights: pass state_dict or path, not both")
        if self._thread is not None and self._thread.is_alive():
            await asyncio.to_thread(self._parked.wait)  # pause() may not have been awaited yet
        if path is not None:
            state_dict = await asyncio.to_thread(_read_safetensors_dir, Path(path))
        if state_dict is not None:
            await asyncio.to_thread(self._load_state_dict, state_dict)
        with self._cond:
            self._version = int(version)
            if self.kv_policy == "recompute" and state_dict is not None:
                self.sessions.clear()
                for seq in self._rows:  # re-prefilled with the new weights after resume()
                    seq.n_kv = 0
        log.info("weights updated to version %d (kv_policy=%s)", version, self.kv_policy)

    # ---- extras --------------------------------------------------------------------------------------

    def set_threads(self, n: int | None) -> None:
        """Torch intra-op threads of the decode loop from its next step on (None = leave them as they are).
        Torch keeps the count per thread once a thread has run parallel work, so ``torch.set_num_threads``
        called elsewhere never reaches the loop's thread: the loop applies this value itself."""
        if n is not None and n < 1:
            raise ValueError(f"set_threads needs n >= 1 or None, got {n}")
        self._want_threads = n

    def release(self, session_id: str) -> None:
        """Free the cached KV of a finished trajectory."""
        self.sessions.drop(session_id)

    async def aclose(self) -> None:
        """Stop the worker; requests still waiting or running fail with ``EngineError``."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            await asyncio.to_thread(thread.join)
        self._fail_all(EngineError("HFEngine was closed while the request was pending"))
        self.sessions.clear()
        self._slots.free()

    # ---- request checks and thread management --------------------------------------------------------

    def _validate(self, request: GenerateRequest) -> None:
        if not request.input_ids:
            raise EngineError("HFEngine.generate: input_ids is empty (token engines need at least one token)")
        vocab = self.model.get_input_embeddings().num_embeddings
        bad = [t for t in request.input_ids if not 0 <= t < vocab]
        if bad:
            raise EngineError(f"HFEngine.generate: token ids {bad[:5]} are outside the vocabulary [0, {vocab})")
        if len(request.input_ids) >= self.max_len:
            raise EngineError(f"HFEngine.generate: prompt of {len(request.input_ids)} tokens does not fit the "
                              f"model context ({self.max_len}); shorten it (agent token budget)")

    def _raise_if_unusable(self) -> None:
        if self._error is not None:
            raise EngineError(f"HFEngine decode loop died earlier: {self._error!r}")
        if self._closing:
            raise EngineError("HFEngine is closed")

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hf-engine", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            while self._wait_for_work():
                if (want := self._want_threads) is not None and torch.get_num_threads() != want:
                    torch.set_num_threads(want)
                self.stats.threads = torch.get_num_threads()
                with torch.inference_mode(), self._autocast:
                    self._step()
        except BaseException as e:  # noqa: BLE001 - a dead loop must fail its requests, never hang them
            log.exception("HFEngine decode loop crashed")
            with self._cond:
                self._error = e
            self._fail_all(EngineError(f"HFEngine decode loop crashed: {e!r}"))
        finally:
            self._parked.set()  # never leave pause() waiting on a dead thread

    def _wait_for_work(self) -> bool:
        """Block until there is work and the engine is not paused; False when closing."""
        with self._cond:
            while True:
                if self._closing:
                    return False
                if self._paused:
                    self._parked.set()
                    self._cond.wait()
                    continue
                self._waiting = deque(s for s in self._waiting if not s.cancelled)
                if self._rows or self._waiting:
                    return True
                self._cond.wait()

    def _fail_all(self, err: EngineError) -> None:
        with self._cond:
            seqs = list(self._waiting) + list(self._rows)
            self._waiting.clear()
            self._rows = []
        for seq in seqs:
            _deliver(seq, err)

    # ---- the loop body (worker thread) ---------------------------------------------------------------

    def _step(self) -> None:
        self._retire([i for i, s in enumerate(self._rows) if s.cancelled])
        self._admit()
        for row, seq in enumerate(self._rows):
            if seq.n_kv < len(seq.ctx) - 1:
                self._prefill(row, seq)
        if self._rows:
            self._decode()
        self._retire([i for i, s in enumerate(self._rows) if s.finish is not None])

    def _admit(self) -> None:
        """Move waiting requests into free rows, seeding each row with its session's cached prefix."""
        while len(self._rows) < self.max_batch:
            with self._cond:
                if not self._waiting:
                    return
                seq = self._waiting.popleft()
            if seq.cancelled:
                continue
            row = len(self._rows)
            self._slots.ensure(row + 1, len(seq.ctx))
            entry = self.sessions.take(seq.req.session_id) if self.prefix_cache and seq.req.session_id else None
            if entry is not None:
                reuse = min(common_prefix(entry[0], seq.ctx), len(seq.ctx) - 1)
                if reuse > 0:
                    self._slots.load_row(row, entry[1][:, :, :, :reuse])
                    seq.n_kv = reuse
                    self.stats.reused_tokens += reuse
            self._rows.append(seq)
            self.stats.requests += 1
            self.stats.max_batch_seen = max(self.stats.max_batch_seen, len(self._rows))

    def _prefill(self, row: int, seq: _Seq) -> None:
        """Run ``ctx[n_kv:-1]`` through the model into ``row`` (the last token is fed by the decode step)."""
        end = len(seq.ctx) - 1
        recompute = bool(seq.out_ids) and seq.n_kv == 0
        self._slots.ensure(len(self._rows), end + 1)
        while seq.n_kv < end:
            start, q = seq.n_kv, min(self.prefill_chunk, end - seq.n_kv)
            ids = torch.tensor([seq.ctx[start:start + q]], device=self.device)
            self._forward(ids, torch.arange(start, start + q, device=self.device)[None],
                          prefill_mask(start, q, self._mask_dtype, self.device),
                          self._slots.prefill_cache(row, start, q))
            seq.n_kv += q
            self.stats.prefill_tokens += q
            if recompute:
                self.stats.recompute_tokens += q

    def _decode(self) -> None:
        """One batched step: feed every row's last token, sample the next one."""
        rows = self._rows
        positions = torch.tensor([s.n_kv for s in rows], device=self.device)
        width = int(positions.max()) + 1
        self._slots.ensure(len(rows), width)
        ids = torch.tensor([[s.ctx[-1]] for s in rows], device=self.device)
        logits = self._forward(ids, positions[:, None], decode_mask(positions, width, self._mask_dtype),
                               self._slots.decode_cache(positions, width))
        tokens, logprobs = sample(logits, [s.params for s in rows])
        self.stats.decode_steps += 1
        self.stats.decode_tokens += len(rows)
        version = self._version
        for seq, tok, lp in zip(rows, tokens, logprobs, strict=True):
            seq.n_kv += 1
            seq.ctx.append(tok)
            seq.out_ids.append(tok)
            seq.out_logprobs.append(lp)
            seq.out_versions.append(version)
            seq.finish = self._finish_reason(seq, tok)

    def _forward(self, ids: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor, cache: Any) -> torch.Tensor:
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                         logits_to_keep=1, **{self._cache_kw: cache})
        return out.logits[:, -1, :].float()

    def _finish_reason(self, seq: _Seq, tok: int) -> str | None:
        if tok in seq.req.stop_token_ids:
            return "eos"
        if seq.stop.hit(seq.out_ids):
            return "stop"
        if len(seq.out_ids) >= seq.req.max_new_tokens or len(seq.ctx) >= self.max_len:
            return "length"
        return None

    def _retire(self, rows: list[int]) -> None:
        """Remove rows (finished or cancelled): save their KV for the session, answer them, compact rows."""
        for row in sorted(rows, reverse=True):
            seq = self._rows[row]
            sid = seq.req.session_id
            if self.prefix_cache and sid and seq.n_kv > 0:
                self.sessions.put(sid, seq.ctx[: seq.n_kv], self._slots.read_row(row, seq.n_kv))
            last = len(self._rows) - 1
            if row != last:
                self._slots.move_row(last, row, self._rows[last].n_kv)
                self._rows[row] = self._rows[last]
            self._rows.pop()
            if not seq.cancelled:
                _deliver(seq, self._response(seq))

    def _response(self, seq: _Seq) -> GenerateResponse:
        return GenerateResponse(output_ids=seq.out_ids, output_logprobs=seq.out_logprobs,
                                output_versions=seq.out_versions, finish_reason=seq.finish,  # type: ignore[arg-type]
                                text=self.tokenizer.decode(seq.out_ids, skip_special_tokens=True))

    # ---- weights --------------------------------------------------------------------------------------

    def _load_state_dict(self, state_dict: dict[str, Any]) -> None:
        own = self.model.state_dict()
        unexpected = [k for k in state_dict if k not in own]
        if unexpected:
            raise EngineError(f"update_weights: {len(unexpected)} names not in the model, e.g. {unexpected[:3]}; "
                              "pass the model's own state_dict() names (strip wrapper prefixes)")
        shapes = [(k, tuple(v.shape), tuple(own[k].shape)) for k, v in state_dict.items()
                  if tuple(v.shape) != tuple(own[k].shape)]
        if shapes:
            raise EngineError(f"update_weights: shape mismatch (name, given, expected): {shapes[:3]}")
        loaded = {own[k].data_ptr() for k in state_dict}
        # a bf16 copy of a weight that the checkpoint ties to another (lm_head = embeddings) loads from it
        copies = {k: self._aliases[k] for k in own if k not in state_dict and self._aliases.get(k) in state_dict}
        missing = [k for k in own if k not in state_dict and k not in copies
                   and own[k].data_ptr() not in loaded]  # tied = loaded
        if missing:
            raise EngineError(f"update_weights: {len(missing)} weights missing, e.g. {missing[:3]}")
        with torch.no_grad():
            for k, v in state_dict.items():
                own[k].copy_(v)  # casts to the engine's dtype (bf16 weights)
            for k, src in copies.items():
                own[k].copy_(state_dict[src])


def _linear_weights_to_bf16(model: Any) -> dict[str, str]:
    """Give every ``nn.Linear`` of ``model`` bf16 weight and bias (in place; other modules keep their dtype).
    A weight shared with another parameter (a head tied to the embeddings) gets its own bf16 copy. Returns
    ``{converted name: a name it shared storage with}`` for such copies, so that a state dict holding only
    the tied partner still loads (``_load_state_dict``)."""
    names_by_ptr: dict[int, list[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        names_by_ptr.setdefault(p.data_ptr(), []).append(name)
    aliases: dict[str, str] = {}
    for mod_name, mod in model.named_modules():
        if not isinstance(mod, torch.nn.Linear):
            continue
        for attr in ("weight", "bias"):
            p = getattr(mod, attr)
            if p is None:
                continue
            name = f"{mod_name}.{attr}" if mod_name else attr
            partners = [n for n in names_by_ptr.get(p.data_ptr(), []) if n != name]
            if partners:
                aliases[name] = partners[0]
            setattr(mod, attr, torch.nn.Parameter(p.detach().to(torch.bfloat16), requires_grad=False))
    return aliases


def _deliver(seq: _Seq, result: GenerateResponse | BaseException) -> None:
    """Hand a result to the request's event loop (from any thread); silently skip closed loops."""

    def settle() -> None:
        if seq.fut.done():
            return
        if isinstance(result, BaseException):
            seq.fut.set_exception(result)
        else:
            seq.fut.set_result(result)

    with contextlib.suppress(RuntimeError):  # the loop was closed: nobody is waiting any more
        seq.loop.call_soon_threadsafe(settle)


def _check_supported(model: Any, cfg: Any) -> None:
    impl = model.config._attn_implementation
    if impl not in ("sdpa", "eager"):
        raise EngineError(f"HFEngine needs attn_implementation 'sdpa' or 'eager', the model uses {impl!r}; "
                          "load it with attn_implementation='sdpa'")
    kinds = set(getattr(cfg, "layer_types", None) or ["full_attention"])
    if kinds != {"full_attention"}:
        raise EngineError(f"HFEngine supports full-attention decoders only; this model has layers {sorted(kinds)}")


def _read_safetensors_dir(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    files = sorted(path.glob("*.safetensors")) if path.is_dir() else []
    if not files:
        raise EngineError(f"update_weights: no *.safetensors files in {path} (expected a save_pretrained directory)")
    state: dict[str, torch.Tensor] = {}
    for f in files:
        state.update(load_file(str(f)))
    return state
