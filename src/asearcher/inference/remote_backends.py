"""Wire formats of the remote inference servers: pure request builders and response parsers.

``SGLangBackend`` speaks SGLang's native API (``/generate`` with ``input_ids``), ``VLLMBackend`` vLLM's OpenAI
server with its dev-mode RL routes (``VLLM_SERVER_DEV_MODE=1``). Neither does I/O: ``remote.RemoteEngine``
sends the ``HttpCall`` they build and hands the JSON body back to ``parse_generate``; the fake server
(``fake_server.py``) implements the same formats, so both sides are unit-testable. Formats are documented in
``shared/notes/engines.md`` §1–§3.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from asearcher.errors import EngineError
from asearcher.types import FinishReason, GenerateRequest


@dataclass(frozen=True)
class HttpCall:
    """One HTTP request to a server, relative to its base URL."""

    method: str
    path: str
    json: dict[str, Any] | None = None
    params: dict[str, Any] | None = None


@dataclass(frozen=True)
class Chunk:
    """The parsed result of one generate call (possibly interrupted: ``finish == "abort"``)."""

    ids: list[int]
    logprobs: list[float]
    finish: FinishReason
    versions: list[int] | None = None
    """Per-token weight versions reported by the server (SGLang ≥ 0.5.2x); None = tag client-side."""


@dataclass(frozen=True)
class TensorSpec:
    """Name, dtype (``"float32"``…) and shape of one tensor of a distributed weight update."""

    name: str
    dtype: str
    shape: list[int] = field(default_factory=list)


class Backend(Protocol):
    """Builds the requests and parses the answers of one server kind."""

    name: str

    def build_generate(self, req: GenerateRequest, input_ids: list[int], max_new_tokens: int) -> HttpCall: ...

    def parse_generate(self, body: dict[str, Any]) -> Chunk: ...

    def pause_request(self, mode: str) -> HttpCall: ...

    def control(self, action: str, **kw: Any) -> list[HttpCall]:
        """``resume``, ``health``, ``disk_update(path, version)``, ``set_version(version)``,
        ``init_group(master_address, master_port, rank_offset, world_size, group_name, backend)``,
        ``dist_update(specs, version, group_name)``, ``destroy_group(group_name)``."""
        ...


def _finish(kind: str | None, matched: Any) -> FinishReason:
    """Map a server finish reason to ours: a matched stop *string* is ``stop``; an eos or stop *token* is
    ``eos`` (the token stays in the output ids), like the in-process engine."""
    if kind == "length":
        return "length"
    if kind == "abort":
        return "abort"
    if kind == "stop":
        return "stop" if isinstance(matched, str) else "eos"
    raise EngineError(f"unexpected finish reason {kind!r} from the server (expected stop, length or abort)")


def _check_lengths(ids: list[int], logprobs: list[float], who: str) -> None:
    if len(ids) != len(logprobs):
        raise EngineError(f"{who}: {len(ids)} output tokens but {len(logprobs)} logprobs in the response")


class SGLangBackend:
    """SGLang native API (``sglang==0.5.x``; notes §1). Logprobs are of the temperature-scaled distribution
    by default, as the trainer computes them."""

    name = "sglang"
    pause_modes = ("abort", "retract", "in_place")

    def build_generate(self, req: GenerateRequest, input_ids: list[int], max_new_tokens: int) -> HttpCall:
        sp: dict[str, Any] = {
            "max_new_tokens": max_new_tokens,
            "temperature": req.temperature,
            "top_p": req.top_p,
            "top_k": req.top_k,
            "stop": list(req.stop),
            "stop_token_ids": list(req.stop_token_ids),
            "skip_special_tokens": False,
            "no_stop_trim": True,  # keep the matched stop string, as the engine protocol promises
        }
        if req.seed is not None:
            sp["sampling_seed"] = req.seed
        body = {"input_ids": input_ids, "sampling_params": sp, "return_logprob": True,
                "logprob_start_len": -1, "stream": False}
        return HttpCall("POST", "/generate", body)

    def parse_generate(self, body: dict[str, Any]) -> Chunk:
        meta = body.get("meta_info")
        if not isinstance(meta, dict) or "output_token_logprobs" not in meta:
            raise EngineError("SGLang /generate response lacks meta_info.output_token_logprobs "
                              "(was return_logprob sent? is this an SGLang server?)")
        pairs = meta["output_token_logprobs"] or []
        ids = [int(p[1]) for p in pairs]
        logprobs = [float(p[0]) for p in pairs]
        _check_lengths(ids, logprobs, "SGLang")
        fr = meta.get("finish_reason") or {}
        kind = fr.get("type") if isinstance(fr, dict) else fr
        versions = _expand_spans(meta.get("weight_versions"), len(ids))
        return Chunk(ids, logprobs, _finish(kind, fr.get("matched") if isinstance(fr, dict) else None), versions)

    def pause_request(self, mode: str) -> HttpCall:
        if mode not in self.pause_modes:
            raise EngineError(f"SGLang pause mode {mode!r}: choose one of {', '.join(self.pause_modes)}")
        return HttpCall("POST", "/pause_generation", {"mode": mode})

    def control(self, action: str, **kw: Any) -> list[HttpCall]:
        if action == "resume":
            return [HttpCall("POST", "/continue_generation", {})]
        if action == "health":
            return [HttpCall("GET", "/health")]
        if action == "set_version":
            return [HttpCall("POST", "/update_weight_version", {"new_version": str(kw["version"])})]
        if action == "disk_update":
            return [HttpCall("POST", "/update_weights_from_disk", {
                "model_path": str(kw["path"]), "weight_version": str(kw["version"]),
                "flush_cache": True, "abort_all_requests": False})]
        if action == "init_group":
            return [HttpCall("POST", "/init_weights_update_group", {
                k: kw[k] for k in ("master_address", "master_port", "rank_offset", "world_size",
                                   "group_name", "backend")})]
        if action == "dist_update":
            specs: list[TensorSpec] = kw["specs"]
            return [HttpCall("POST", "/update_weights_from_distributed", {
                "names": [s.name for s in specs], "dtypes": [s.dtype for s in specs],
                "shapes": [list(s.shape) for s in specs], "group_name": kw["group_name"],
                "flush_cache": bool(kw.get("flush_cache", True)), "abort_all_requests": False,
                "weight_version": str(kw["version"])})]
        if action == "destroy_group":
            return [HttpCall("POST", "/destroy_weights_update_group", {"group_name": kw["group_name"]})]
        raise EngineError(f"SGLang backend: unknown control action {action!r}")


def _expand_spans(spans: Any, n: int) -> list[int] | None:
    """SGLang ``weight_versions: [{version, start, end}]`` (end exclusive) → one int version per token.
    None when absent or not integer-valued (then the client tags tokens itself)."""
    if not spans:
        return None
    out: list[int | None] = [None] * n
    try:
        for s in spans:
            v = int(s["version"])
            for i in range(max(0, int(s["start"])), min(n, int(s["end"]))):
                out[i] = v
    except (KeyError, TypeError, ValueError):
        return None
    return None if any(v is None for v in out) else [int(v) for v in out]  # type: ignore[arg-type]


class VLLMBackend:
    """vLLM OpenAI server (notes §2): ``/v1/completions`` with prompt token ids, ``logprobs: 0`` and
    ``return_token_ids``; dev-mode ``/pause``/``/resume``; disk update via ``collective_rpc reload_weights``.

    vLLM reports *raw* logprobs unless started with ``--logprobs-mode processed_logprobs`` (the launcher
    always passes it): with temperature ≠ 1 raw logprobs would not match the trainer's.
    """

    name = "vllm"
    pause_modes = ("abort", "keep", "wait")

    def __init__(self, model: str | None = None):
        self.model = model
        """Served model name; None omits the field (vLLM then uses its only model)."""

    def build_generate(self, req: GenerateRequest, input_ids: list[int], max_new_tokens: int) -> HttpCall:
        body: dict[str, Any] = {
            "prompt": input_ids,
            "max_tokens": max_new_tokens,
            "temperature": req.temperature,
            "top_p": req.top_p,
            "top_k": req.top_k,
            "stop": list(req.stop),
            "stop_token_ids": list(req.stop_token_ids),
            "include_stop_str_in_output": True,
            "skip_special_tokens": False,
            "logprobs": 0,
            "return_token_ids": True,
            "stream": False,
        }
        if req.seed is not None:
            body["seed"] = req.seed
        if self.model is not None:
            body["model"] = self.model
        return HttpCall("POST", "/v1/completions", body)

    def parse_generate(self, body: dict[str, Any]) -> Chunk:
        try:
            choice = body["choices"][0]
        except (KeyError, IndexError, TypeError):
            raise EngineError(f"vLLM /v1/completions response has no choices: {str(body)[:200]}") from None
        ids = choice.get("token_ids")
        if ids is None:
            raise EngineError("vLLM response lacks choices[0].token_ids: the server ignored return_token_ids "
                              "(needs vLLM >= 0.10)")
        lp = (choice.get("logprobs") or {}).get("token_logprobs")
        if lp is None:
            lp = [] if not ids else None
        if lp is None:
            raise EngineError("vLLM response lacks choices[0].logprobs.token_logprobs (was logprobs=0 sent?)")
        logprobs = [float(x) for x in lp]
        _check_lengths(ids, logprobs, "vLLM")
        return Chunk([int(t) for t in ids], logprobs, _finish(choice.get("finish_reason"), choice.get("stop_reason")))

    def pause_request(self, mode: str) -> HttpCall:
        if mode not in self.pause_modes:
            raise EngineError(f"vLLM pause mode {mode!r}: choose one of {', '.join(self.pause_modes)}")
        return HttpCall("POST", "/pause", params={"mode": mode, "clear_cache": "true"})

    def control(self, action: str, **kw: Any) -> list[HttpCall]:
        if action == "resume":
            return [HttpCall("POST", "/resume")]
        if action == "health":
            return [HttpCall("GET", "/health")]
        if action == "set_version":
            return [HttpCall("POST", "/update_weight_version", {"new_version": str(kw["version"])})]
        if action == "disk_update":
            # Layer-wise in-place reload, then drop the prefix cache (its KV came from the old weights).
            return [HttpCall("POST", "/collective_rpc", {"method": "reload_weights",
                                                         "kwargs": {"weights_path": str(kw["path"])}}),
                    HttpCall("POST", "/reset_prefix_cache"),
                    *self.control("set_version", version=kw["version"])]
        if action in ("init_group", "dist_update", "destroy_group"):
            raise EngineError(
                "distributed weight sync to vLLM needs vLLM's NCCL weight-transfer engine on GPUs; it is not "
                "implemented here: use disk sync (weight_sync: disk) with vLLM, or SGLang for NCCL sync")
        raise EngineError(f"vLLM backend: unknown control action {action!r}")


def make_backend(kind: str, model: str | None = None) -> Backend:
    """``sglang`` or ``vllm`` (the fake server speaks both)."""
    if kind == "sglang":
        return SGLangBackend()
    if kind == "vllm":
        return VLLMBackend(model)
    raise EngineError(f"unknown remote engine type {kind!r}: choose sglang or vllm")
