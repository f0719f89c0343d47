"""The UI's web server (FastAPI): the ask page streams an agent episode as server-sent events; the inspector
and the dashboard read run and evaluation directories. The page itself is static (``ui/static``), with no
CDN assets, and renders every untrusted string as text.

Talks to: ``ui.live`` (episodes), ``ui.runs`` (run directories), ``ui.tokens`` (token views), and through
injectable factories to ``inference.factory.build_engine``, ``knowledge.open_tools`` / ``web.open_web_tools``
and ``models.load_tokenizer`` — tests inject a scripted engine, in-memory tools and a tiny tokenizer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from asearcher.config import TrainConfig
from asearcher.errors import AsearcherError
from asearcher.types import Trajectory
from asearcher.ui.live import AskSession, Sessions, run_ask
from asearcher.ui.runs import (
    METRICS,
    RunReader,
    Source,
    consumer_versions,
    find_sources,
    model_name,
    read_jsonl_tail,
)
from asearcher.ui.tokens import call_views

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
EngineFactory = Callable[[TrainConfig], tuple[Any, Any]]
"""``cfg → (engine, tokenizer)`` for the policy ``cfg.model`` served by ``cfg.engine``."""
ToolsFactory = Callable[[TrainConfig], Any]
"""``cfg → Tools`` for ``cfg.knowledge`` (and ``cfg.world``)."""
TokenizerLoader = Callable[[str], Any]
"""``model name → tokenizer`` (for decoding tokens in the inspector)."""
AGENTS = ("asearcher", "search-r1", "reasoning")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class AskRequest(BaseModel):
    """The ask form. Unset fields keep the server's configuration."""

    question: str = Field(min_length=1, max_length=4000)
    source: Literal["world", "index", "server", "web"] | None = None
    server_url: str | None = None
    model: str | None = None
    agent: Literal["asearcher", "search-r1", "reasoning"] | None = None
    max_turns: int | None = Field(default=None, ge=1, le=256)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)


class OpenRun(BaseModel):
    path: str = Field(min_length=1)


def default_engine_factory(cfg: TrainConfig) -> tuple[Any, Any]:
    """The configured engine and the policy's tokenizer (loads the model for ``engine.type=hf``)."""
    from asearcher.inference.factory import build_engine
    from asearcher.models import load_tokenizer

    tokenizer = load_tokenizer(cfg.model.name)
    return build_engine(cfg.model, cfg.engine, tokenizer), tokenizer


def default_tools_factory(cfg: TrainConfig) -> Any:
    """The agent's tools for ``cfg.knowledge.source``, exactly as ``asearcher ask`` opens them."""
    from asearcher.cli.ask import open_source

    return open_source(cfg)


def default_tokenizer_loader(name: str) -> Any:
    from asearcher.models import load_tokenizer

    return load_tokenizer(name)


class _Resources:
    """Engines, tools and tokenizers built on first use (in a worker thread) and shared by later requests."""

    def __init__(self, engine_factory: EngineFactory, tools_factory: ToolsFactory,
                 tokenizer_loader: TokenizerLoader) -> None:
        self.factories = {"engine": engine_factory, "tools": tools_factory, "tokenizer": tokenizer_loader}
        self.built: dict[tuple[str, str], Any] = {}
        self.lock = asyncio.Lock()

    async def get(self, kind: str, key: str, arg: Any) -> Any:
        async with self.lock:
            if (kind, key) not in self.built:
                self.built[(kind, key)] = await asyncio.to_thread(self.factories[kind], arg)
            return self.built[(kind, key)]

    async def engine(self, cfg: TrainConfig) -> tuple[Any, Any]:
        key = json.dumps([cfg.model.model_dump(mode="json"), cfg.engine.model_dump(mode="json")], sort_keys=True)
        return await self.get("engine", key, cfg)

    async def tools(self, cfg: TrainConfig) -> Any:
        key = json.dumps([cfg.knowledge.model_dump(mode="json"), cfg.world.model_dump(mode="json")],
                         sort_keys=True)
        return await self.get("tools", key, cfg)

    async def tokenizer(self, name: str | None) -> Any:
        """The tokenizer of ``name``; None (tokens are shown as ids) when there is none or it cannot load."""
        if not name:
            return None
        try:
            return await self.get("tokenizer", name, name)
        except Exception as e:  # noqa: BLE001 — the inspector still works with ids
            log.warning("tokenizer %r unavailable (%s): tokens are shown as ids", name, e)
            self.built[("tokenizer", name)] = None
            return None

    async def aclose(self) -> None:
        for (kind, _), obj in list(self.built.items()):
            target = obj[0] if kind == "engine" else obj
            close = getattr(target, "aclose", None) if kind != "tokenizer" else None
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
        self.built.clear()


def _ask_config(base: TrainConfig, req: AskRequest) -> TrainConfig:
    from asearcher.config import with_settings

    return with_settings(base, {("model", "name"): req.model, ("knowledge", "source"): req.source,
                                ("knowledge", "server_url"): req.server_url, ("agent", "type"): req.agent,
                                ("agent", "max_turns"): req.max_turns,
                                ("agent", "temperature"): req.temperature}, "the ask form")


def _host_name(header: str) -> str:
    """The host of a ``Host`` header without its port (``[::1]:80`` → ``[::1]``)."""
    if header.startswith("["):
        return header[: header.find("]") + 1]
    return header.rsplit(":", 1)[0]


def _root(path: str) -> Path:
    p = Path(path).expanduser().resolve()
    if not p.is_dir():
        raise HTTPException(404, f"{path}: not a directory; give a training run or evaluation output folder")
    return p


def _source(root: Path, source: str) -> Source:
    for s in find_sources(root):
        if s.path == source:
            return s
    raise HTTPException(404, f"{root}: no trajectories under {source!r}")


def create_app(config: TrainConfig | None = None, *, engine_factory: EngineFactory | None = None,
               tools_factory: ToolsFactory | None = None, tokenizer_loader: TokenizerLoader | None = None,
               run_dirs: Sequence[str | Path] = (), allowed_hosts: Sequence[str] = ()) -> FastAPI:
    """The UI application.

    Args:
        config: base configuration of asked questions (model, engine, knowledge, agent); the ask form
            overrides the model, the knowledge source, the agent, max turns and temperature.
        engine_factory, tools_factory, tokenizer_loader: builders (defaults: the library's).
        run_dirs: run / evaluation directories listed in the inspector and the dashboard.
        allowed_hosts: host names besides the loopback ones that the server answers to (guards against
            DNS rebinding when it is bound to another interface).
    """
    res = _Resources(engine_factory or default_engine_factory, tools_factory or default_tools_factory,
                     tokenizer_loader or default_tokenizer_loader)
    sessions = Sessions()
    runs = [str(Path(d).expanduser().resolve()) for d in run_dirs]
    hosts = {"127.0.0.1", "localhost", "[::1]", "testserver", *allowed_hosts}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        await sessions.aclose()
        await res.aclose()

    app = FastAPI(title="asearcher", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(_ask_routes(config or TrainConfig(), res, sessions, runs))
    app.include_router(_run_routes(res, runs))

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        host = _host_name(request.headers.get("host", ""))
        if host not in hosts:
            return JSONResponse({"detail": f"unknown host {host!r}"}, status_code=421)
        if request.method == "POST" and request.headers.get("content-type", "").split(";")[0] != "application/json":
            return JSONResponse({"detail": "POST bodies must be application/json"}, status_code=415)
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @app.exception_handler(AsearcherError)
    async def bad_input(_: Request, e: AsearcherError) -> JSONResponse:
        return JSONResponse({"detail": str(e)}, status_code=400)

    @app.get("/")
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/favicon.ico")
    async def favicon() -> Response:
        return Response(status_code=204)

    return app


def _ask_routes(base: TrainConfig, res: _Resources, sessions: Sessions, runs: list[str]) -> APIRouter:
    """The ask page's API: defaults, start an episode, follow it (server-sent events), stop it."""
    api = APIRouter(prefix="/api")

    @api.get("/info")
    async def info() -> dict[str, Any]:
        from asearcher.models import REGISTRY

        return {"defaults": {"model": base.model.name, "source": base.knowledge.source,
                             "server_url": base.knowledge.server_url, "agent": base.agent.type,
                             "max_turns": base.agent.max_turns, "temperature": base.agent.temperature,
                             "engine": base.engine.type},
                "models": list(REGISTRY), "agents": list(AGENTS), "runs": runs}

    @api.post("/ask")
    async def ask(req: AskRequest) -> dict[str, str]:
        from asearcher.agent import build_agent

        cfg = _ask_config(base, req)
        engine, tokenizer = await res.engine(cfg)
        tools = await res.tools(cfg)
        agent = build_agent(cfg.agent, tokenizer, cfg.model.chat_template, topk=cfg.knowledge.topk)
        session = AskSession(req.question.strip())
        sessions.start(session, run_ask(session, agent, engine, tools, max_turns=cfg.agent.max_turns,
                                        temperature=cfg.agent.temperature))
        return {"id": session.id}

    @api.get("/ask/{session_id}/events")
    async def events(session_id: str, request: Request) -> Response:
        session = sessions.get(session_id)
        if session is None:
            raise HTTPException(404, "no such question (the server restarted?); ask again")
        last = request.headers.get("last-event-id", "")
        start = int(last) + 1 if last.isdigit() else 0
        if session.finished and start >= len(session.events):
            return Response(status_code=204)  # tells EventSource not to reconnect

        async def stream():
            async for ev in session.follow(start):
                yield f"id: {ev['seq']}\ndata: {json.dumps(ev, ensure_ascii=False)}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @api.post("/ask/{session_id}/stop")
    async def stop(session_id: str) -> dict[str, bool]:
        session = sessions.get(session_id)
        if session is None:
            raise HTTPException(404, "no such question")
        return {"stopped": session.stop()}

    return api


def _run_routes(res: _Resources, runs: list[str]) -> APIRouter:
    """The inspector's and the dashboard's API over run / evaluation folders."""
    api = APIRouter(prefix="/api")
    reader = RunReader()

    @api.get("/runs")
    async def list_runs() -> dict[str, Any]:
        return {"runs": runs}

    @api.post("/runs/open")
    async def open_run(req: OpenRun) -> dict[str, Any]:
        root = _root(req.path)
        desc = reader.describe(root)
        if not desc["sources"]:
            raise HTTPException(404, f"{root}: no metrics.jsonl, trajectories/ or trajectories.jsonl here")
        if str(root) not in runs:
            runs.append(str(root))
        return desc

    @api.get("/run")
    async def describe(path: str) -> dict[str, Any]:
        return reader.describe(_root(path))

    @api.get("/trajectories")
    async def trajectories(path: str, source: str = "") -> dict[str, Any]:
        root = _root(path)
        rows = await asyncio.to_thread(reader.rows, root, _source(root, source))
        return {"rows": rows}

    @api.get("/trajectory")
    async def trajectory(path: str, ref: str) -> dict[str, Any]:
        root = _root(path)
        traj, rec = await asyncio.to_thread(reader.load, root, ref)
        name = model_name(root, (root / ref.rpartition(":")[0]).parent)
        tokenizer = await res.tokenizer(name)
        step = reader.step_of(ref)
        consumer = consumer_versions(root / METRICS).get(step) if step is not None else None
        return await asyncio.to_thread(_detail, traj, rec, tokenizer, consumer, name, step)

    @api.get("/metrics")
    async def metrics(path: str, offset: int = 0) -> dict[str, Any]:
        rows, new_offset, reset = read_jsonl_tail(_root(path) / METRICS, max(0, offset))
        return {"rows": rows, "offset": new_offset, "reset": reset}

    return api


def _detail(traj: dict[str, Any], rec: dict[str, Any], tokenizer: Any, consumer: int | None,
            tokenizer_name: str | None, step: int | None) -> dict[str, Any]:
    """What the inspector shows of one trajectory: summary, readable turns, and the token view of each call
    (or the call summaries when the token ids were not saved)."""
    calls = traj.get("calls") or []
    saved = all("input_ids" in c for c in calls)
    ex = traj.get("example") or {}
    meta = {k: traj.get(k) for k in ("id", "answer", "reward", "score", "format_ok", "error", "agent",
                                      "valid_instruction", "stats")}
    meta |= {"question": ex.get("question"), "gold": ex.get("answers", []), "scores": rec.get("scores"),
             "step": step, "consumer_version": consumer}
    if saved:
        views = call_views(Trajectory.model_validate(traj), tokenizer, consumer)
    else:
        views = [{"index": i, "purpose": c.get("purpose"), "finish_reason": c.get("finish_reason"),
                  "text": c.get("text", ""), "input_len": c.get("input_tokens"),
                  "output_len": c.get("output_tokens")} for i, c in enumerate(calls)]
    return {"meta": meta, "turns": traj.get("turns") or [], "tokens_saved": saved, "calls": views,
            "tokenizer": tokenizer_name if tokenizer is not None else None}
