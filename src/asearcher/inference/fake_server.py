"""A small but faithful inference server for tests: FastAPI around an HF transformers model, speaking the
SGLang-native and the vLLM (OpenAI + dev-mode RL) wire formats of ``shared/notes/engines.md`` §1–§2.

What it models exactly: token ids in, sampled ids + logprobs out; a pause flag checked at every decode step
(SGLang ``abort``/``retract``/``in_place``, vLLM ``abort``/``keep``/``wait``); per-token weight-version spans;
real weight reloads from disk (safetensors) and over a separate gloo group (TCPStore + PrefixStore +
ProcessGroupGloo, notes §6); fault injection (latency, 503s, dropped connections) via ``POST /_fault``.
It decodes one token at a time per request (no batching): it is a test double, not an engine.

Run: ``python -m asearcher.inference.fake_server --model tiny-qwen2 --host 127.0.0.1 --port 30000``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def load_safetensors_dir(model: Any, path: str | Path) -> int:
    """Load every ``*.safetensors`` file of a checkpoint directory into ``model`` in place; returns the
    number of tensors. Missing keys are only allowed for tied weights; unknown keys are errors."""
    import torch
    from safetensors.torch import load_file

    files = sorted(Path(path).glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no *.safetensors files in {path}")
    sd: dict[str, Any] = {}
    for f in files:
        sd.update(load_file(str(f)))
    own = model.state_dict()
    unknown = sorted(set(sd) - set(own))
    if unknown:
        raise ValueError(f"{path}: tensors not in the model: {unknown[:5]}")
    tied = {"lm_head.weight"} if getattr(model.config, "tie_word_embeddings", False) else set()
    missing = sorted(set(own) - set(sd) - tied)
    if missing:
        raise ValueError(f"{path}: checkpoint lacks {missing[:5]}")
    with torch.no_grad():
        for k, v in sd.items():
            own[k].copy_(v.to(own[k].dtype))
    return len(sd)


class FakeServer:
    """State and decoding of one fake server; ``app`` is its FastAPI application."""

    def __init__(self, model: Any, tokenizer: Any = None, *, logprobs_mode: str = "processed"):
        self.model = model.eval()
        self.device = next(model.parameters()).device
        self.tokenizer = tokenizer
        self.logprobs_mode = logprobs_mode
        """vLLM format only: ``raw`` (vLLM's default: before temperature) or ``processed``."""
        self.version = "0"
        self.paused = False
        self.pause_mode = "abort"
        self.faults: dict[str, float] = {"latency_s": 0.0, "fail_next": 0, "drop_next": 0}
        self.group: Any = None
        self.group_name: str | None = None
        self.group_device: Any = "cpu"
        self.stats = {"generate": 0, "aborted": 0, "retracted": 0, "updates": 0}
        self._running: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None
        self._abort_all = 0
        self.app = self._build_app()

    # -- decoding ----------------------------------------------------------------------------------------

    def _events(self) -> tuple[asyncio.Event, asyncio.Lock]:
        if self._running is None or self._lock is None:
            self._running, self._lock = asyncio.Event(), asyncio.Lock()
            self._running.set()
        return self._running, self._lock

    async def decode(self, input_ids: list[int], max_new: int, temperature: float, stop_ids: list[int],
                     stop: list[str], seed: int | None, processed: bool, top_p: float = 1.0,
                     top_k: int = -1) -> dict[str, Any]:
        """Sample up to ``max_new`` tokens, honouring pause modes at every step boundary. Logprobs are of
        the temperature-scaled full distribution (top-p/top-k only filter what is sampled)."""
        import torch

        running, lock = self._events()
        await running.wait()  # requests sent while paused wait for resume
        self.stats["generate"] += 1
        gen = torch.Generator().manual_seed(seed if seed is not None else int(time.time_ns() % 2**31))
        ids: list[int] = []
        lps: list[float] = []
        versions: list[int] = []
        past: Any = None
        epoch = self._abort_all
        finish, matched = "length", None
        while len(ids) < max_new:
            if self._abort_all != epoch:
                finish = "abort"
                break
            if self.paused:
                if self.pause_mode == "abort":
                    self.stats["aborted"] += 1
                    finish = "abort"
                    break
                if self.pause_mode == "retract":  # drop KV: recomputed with the new weights after continue
                    self.stats["retracted"] += 1
                    past = None
                if self.pause_mode != "wait":
                    await running.wait()
            async with lock:
                with torch.no_grad():
                    if past is None:
                        out = self.model(input_ids=torch.tensor([input_ids + ids], device=self.device), use_cache=True)
                    else:  # transformers 5.2x renamed past_key_values to cache
                        key = "cache" if "cache" in out else "past_key_values"
                        out = self.model(input_ids=torch.tensor([ids[-1:]], device=self.device), use_cache=True,
                                         **{key: past})
                past = out.get("cache", out.get("past_key_values"))
                logits = out.logits[0, -1].float().cpu()
            scaled = torch.log_softmax(logits / temperature if temperature > 0 else logits, dim=-1)
            if temperature > 0:
                tok = int(torch.multinomial(_filtered(scaled.exp(), top_p, top_k), 1, generator=gen))
            else:
                tok = int(scaled.argmax())
            lp = scaled if processed else torch.log_softmax(logits, dim=-1)
            ids.append(tok)
            lps.append(float(lp[tok]))
            versions.append(int(self.version))
            if tok in stop_ids:
                finish, matched = "stop", tok
                break
            if stop and self.tokenizer is not None:
                text = self.tokenizer.decode(ids)
                hit = next((s for s in stop if s in text), None)
                if hit is not None:
                    finish, matched = "stop", hit
                    break
            await asyncio.sleep(0)
        return {"ids": ids, "logprobs": lps, "finish": finish, "matched": matched, "versions": versions}

    # -- weights -----------------------------------------------------------------------------------------

    async def load_from_disk(self, path: str, version: str | None) -> int:
        _, lock = self._events()
        async with lock:
            n = await asyncio.to_thread(load_safetensors_dir, self.model, path)
        if version is not None:
            self.version = str(version)
        self.stats["updates"] += 1
        return n

    def _init_group(self, body: dict[str, Any]) -> None:
        """Join the trainer's side group (notes §6); the trainer is rank 0. gloo on CPU, NCCL with a GPU model."""
        from asearcher.trainer.dist_sync import side_group

        name = body.get("group_name", "weight_update_group")
        self.group = side_group(body.get("backend", "gloo"), body["master_address"], int(body["master_port"]),
                                int(body["rank_offset"]), int(body["world_size"]), name)
        self.group_name = name
        self.group_device = self.device if body.get("backend", "gloo") == "nccl" else "cpu"

    def _receive(self, names: list[str], dtypes: list[str], shapes: list[list[int]]) -> None:
        import torch

        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for name, dt, shape in zip(names, dtypes, shapes, strict=True):
                buf = torch.empty(shape, dtype=getattr(torch, dt), device=self.group_device)
                self.group.broadcast(buf, 0).wait()
                if name not in params:
                    raise ValueError(f"unknown parameter {name!r}")
                params[name].copy_(buf.to(params[name].dtype))

    # -- HTTP ----------------------------------------------------------------------------------------------

    def _build_app(self) -> Any:
        from fastapi import FastAPI
        from fastapi.responses import JSONResponse

        app = FastAPI(title="asearcher fake inference server")
        srv = self

        @app.post("/_fault")
        async def set_fault(body: dict[str, Any]) -> dict[str, Any]:
            srv.faults.update({k: body[k] for k in srv.faults if k in body})
            return dict(srv.faults)

        @app.get("/health")
        async def health() -> dict[str, Any]:
            return {}

        @app.get("/_stats")
        async def stats() -> dict[str, Any]:
            return {**srv.stats, "version": srv.version, "paused": srv.paused}

        # ---- SGLang native -------------------------------------------------------------------------------
        @app.post("/generate")
        async def generate(body: dict[str, Any]) -> dict[str, Any]:
            sp = body.get("sampling_params", {})
            out = await srv.decode(list(body["input_ids"]), int(sp.get("max_new_tokens", 128)),
                                   float(sp.get("temperature", 1.0)), list(sp.get("stop_token_ids") or []),
                                   list(sp.get("stop") or []), sp.get("sampling_seed"), processed=True,
                                   top_p=float(sp.get("top_p", 1.0)), top_k=int(sp.get("top_k", -1)))
            fr: dict[str, Any] = {"type": out["finish"]}
            if out["matched"] is not None:
                fr["matched"] = out["matched"]
            if out["finish"] == "abort":
                fr["message"] = "Abort in waiting queue" if out["ids"] else "Abort before prefill"
            meta = {"output_token_logprobs": [[lp, t, None] for lp, t in zip(out["logprobs"], out["ids"], strict=True)],
                    "finish_reason": fr, "prompt_tokens": len(body["input_ids"]),
                    "completion_tokens": len(out["ids"]), "weight_version": srv.version,
                    "weight_versions": _spans(out["versions"])}
            return {"text": srv.tokenizer.decode(out["ids"]) if srv.tokenizer else "", "output_ids": out["ids"],
                    "meta_info": meta}

        @app.post("/pause_generation")
        async def pause_generation(body: dict[str, Any]) -> dict[str, Any]:
            srv._pause(body.get("mode", "abort"))
            return {"success": True}

        @app.post("/continue_generation")
        async def continue_generation(body: dict[str, Any] | None = None) -> dict[str, Any]:
            srv._resume()
            return {"success": True}

        @app.post("/abort_request")
        async def abort_request(body: dict[str, Any]) -> dict[str, Any]:
            srv._abort_all += 1
            return {"success": True}

        @app.post("/update_weight_version")
        async def update_weight_version(body: dict[str, Any]) -> dict[str, Any]:
            srv.version = str(body["new_version"])
            return {"success": True, "message": f"version {srv.version}"}

        @app.post("/update_weights_from_disk")
        async def update_weights_from_disk(body: dict[str, Any]) -> Any:
            try:
                n = await srv.load_from_disk(body["model_path"], body.get("weight_version"))
            except (OSError, ValueError) as e:
                return JSONResponse({"success": False, "message": str(e)}, status_code=400)
            return {"success": True, "message": f"loaded {n} tensors", "num_paused_requests": 0}

        @app.post("/init_weights_update_group")
        async def init_weights_update_group(body: dict[str, Any]) -> Any:
            backend = body.get("backend", "gloo")
            if backend not in ("gloo", "nccl") or (backend == "nccl" and srv.device.type != "cuda"):
                return JSONResponse({"success": False, "message": f"backend {backend!r} needs a CUDA model "
                                     f"(the model is on {srv.device}); gloo works everywhere"}, status_code=400)
            await asyncio.to_thread(srv._init_group, body)
            return {"success": True, "message": "joined"}

        @app.post("/update_weights_from_distributed")
        async def update_weights_from_distributed(body: dict[str, Any]) -> Any:
            if srv.group is None or body.get("group_name", srv.group_name) != srv.group_name:
                return JSONResponse({"success": False, "message": "no such weight update group"}, status_code=400)
            _, lock = srv._events()
            async with lock:
                await asyncio.to_thread(srv._receive, body["names"], body["dtypes"], body["shapes"])
            if body.get("weight_version") is not None:
                srv.version = str(body["weight_version"])
            srv.stats["updates"] += 1
            return {"success": True, "message": f"received {len(body['names'])} tensors"}

        @app.post("/destroy_weights_update_group")
        async def destroy_weights_update_group(body: dict[str, Any]) -> dict[str, Any]:
            srv.group, srv.group_name = None, None
            return {"success": True}

        @app.get("/get_server_info")
        async def server_info() -> dict[str, Any]:
            return {"weight_version": srv.version, "fake": True}

        # ---- vLLM OpenAI + dev-mode RL routes -------------------------------------------------------------
        @app.post("/v1/completions")
        async def completions(body: dict[str, Any]) -> dict[str, Any]:
            prompt = body["prompt"]
            if not (isinstance(prompt, list) and all(isinstance(t, int) for t in prompt)):
                return JSONResponse({"error": "the fake server takes token-id prompts only"}, status_code=400)
            out = await srv.decode(prompt, int(body.get("max_tokens", 16)), float(body.get("temperature", 1.0)),
                                   list(body.get("stop_token_ids") or []), list(body.get("stop") or []),
                                   body.get("seed"), processed=srv.logprobs_mode == "processed",
                                   top_p=float(body.get("top_p", 1.0)), top_k=int(body.get("top_k") or -1))
            choice = {"index": 0, "text": srv.tokenizer.decode(out["ids"]) if srv.tokenizer else "",
                      "finish_reason": out["finish"], "stop_reason": out["matched"],
                      "token_ids": out["ids"] if body.get("return_token_ids") else None,
                      "logprobs": {"token_logprobs": out["logprobs"]} if body.get("logprobs") is not None else None}
            return {"object": "text_completion", "model": body.get("model"), "choices": [choice],
                    "prompt_token_ids": prompt if body.get("return_token_ids") else None}

        @app.post("/pause")
        async def pause(mode: str = "abort", clear_cache: str = "true") -> dict[str, Any]:
            srv._pause(mode)
            return {}

        @app.post("/resume")
        async def resume() -> dict[str, Any]:
            srv._resume()
            return {}

        @app.get("/is_paused")
        async def is_paused() -> dict[str, Any]:
            return {"is_paused": srv.paused}

        @app.post("/reset_prefix_cache")
        async def reset_prefix_cache() -> dict[str, Any]:
            return {}

        @app.get("/weight_info")
        async def weight_info() -> dict[str, Any]:
            return {"weight_version": srv.version}

        @app.post("/collective_rpc")
        async def collective_rpc(body: dict[str, Any]) -> Any:
            if body.get("method") != "reload_weights":
                return JSONResponse({"error": f"method {body.get('method')!r} not supported"}, status_code=400)
            try:
                await srv.load_from_disk(body.get("kwargs", {})["weights_path"], None)
            except (OSError, ValueError, KeyError) as e:
                return JSONResponse({"error": str(e)}, status_code=500)
            return {"results": [None]}

        async def with_faults(scope: dict[str, Any], receive: Any, send: Any) -> None:
            """Outer ASGI layer: injected latency, 503s, and connections dropped mid-response."""
            if scope["type"] == "http" and scope["path"] != "/_fault":
                if srv.faults["latency_s"]:
                    await asyncio.sleep(srv.faults["latency_s"])
                if srv.faults["fail_next"] > 0:
                    srv.faults["fail_next"] -= 1
                    await JSONResponse({"error": "injected fault"}, status_code=503)(scope, receive, send)
                    return
                if srv.faults["drop_next"] > 0:
                    srv.faults["drop_next"] -= 1
                    await send({"type": "http.response.start", "status": 200,
                                "headers": [(b"content-length", b"1000")]})
                    raise ConnectionAbortedError("injected dropped connection")
            await app(scope, receive, send)

        return with_faults

    def _pause(self, mode: str) -> None:
        running, _ = self._events()
        self.pause_mode = mode
        self.paused = True
        running.clear()

    def _resume(self) -> None:
        running, _ = self._events()
        self.paused = False
        running.set()


def _filtered(probs: Any, top_p: float, top_k: int) -> Any:
    """Zero all but the top-k tokens and the smallest top-p nucleus (the sampler renormalises)."""
    import torch

    if 0 < top_k < probs.numel():
        probs = torch.where(probs >= probs.topk(top_k).values[-1], probs, torch.zeros_like(probs))
    if top_p < 1.0:
        sorted_p, order = probs.sort(descending=True)
        drop = sorted_p.cumsum(0) - sorted_p > top_p * sorted_p.sum()
        probs = probs.clone()
        probs[order[drop]] = 0.0
    return probs


def _spans(versions: list[int]) -> list[dict[str, Any]]:
    """Per-token versions → SGLang ``[{version, start, end}]`` (end exclusive)."""
    spans: list[dict[str, Any]] = []
    for i, v in enumerate(versions):
        if spans and spans[-1]["version"] == str(v):
            spans[-1]["end"] = i + 1
        else:
            spans.append({"version": str(v), "start": i, "end": i + 1})
    return spans


class ServerThread:
    """Run an ASGI app with uvicorn on 127.0.0.1 in a daemon thread (tests); ``url`` once started."""

    def __init__(self, app: Any, port: int = 0):
        import socket

        import uvicorn

        sock = socket.socket()
        sock.bind(("127.0.0.1", port))
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake server thread did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def main(argv: list[str] | None = None) -> int:
    """CLI entry: serve a registry model or checkpoint directory."""
    import uvicorn

    from asearcher.models import load_model, load_tokenizer

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="registry name or checkpoint directory")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=30000)
    p.add_argument("--logprobs-mode", choices=["raw", "processed"], default="processed",
                   help="vLLM format: raw = vLLM's default (before temperature)")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--device", default="cpu", help="cpu or cuda (then weight-sync groups use NCCL)")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s fake_server: %(message)s")
    model = load_model(args.model).to(args.device)
    srv = FakeServer(model, load_tokenizer(args.model), logprobs_mode=args.logprobs_mode)
    uvicorn.run(srv.app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
