"""Retrieval server (FastAPI): Search-R1-compatible ``/retrieve``, plus ``/access`` and ``/health``.

Talks to: ``knowledge.local`` (search over an opened KB, page lookup); uvicorn serves it. Clients:
``knowledge.client.RetrievalClient`` and Search-R1/ASearcher-style agents.

- ``POST /retrieve`` ``{"queries": [..], "topk": 3, "return_scores": false, "retriever"?: "bm25"}`` →
  ``{"result": [[{"id", "title", "contents", "url"?, "score"?, "document"?}, …], …]}``, one list per query.
  ``contents`` is the wiki-18 string (quoted title line + text) like Search-R1's corpus rows; with
  ``return_scores`` each hit also carries ``score`` and Search-R1's ``{"document": {id, contents}}``.
- ``POST /access`` ``{"urls": [..]}`` → ``{"result": [{"url", "title", "contents"} | null, …]}``.
- ``GET /health`` → ``{"status": "ok", "passages", "pages", "retrievers"}``.

Malformed requests get 422 (validation, with the field and reason) or 400 (e.g. a retriever the index
lacks), never a 500.
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from asearcher.errors import ConfigError, ToolError
from asearcher.knowledge.local import MAX_QUERY_CHARS, LocalTools

log = logging.getLogger(__name__)

Query = Annotated[str, StringConstraints(max_length=MAX_QUERY_CHARS)]
Url = Annotated[str, StringConstraints(max_length=4096)]


class RetrieveRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    queries: list[Query] = Field(min_length=1, max_length=512)
    topk: int = Field(default=3, ge=1, le=100)
    return_scores: bool = False
    retriever: Literal["bm25", "dense", "hybrid"] | None = None


class AccessRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    urls: list[Url] = Field(min_length=1, max_length=256)


def create_app(tools: LocalTools):
    """The FastAPI app serving ``tools`` (its KB, pages and default retriever)."""
    from fastapi import FastAPI, HTTPException

    app = FastAPI(title="asearcher retrieval server")
    kb = tools.kb
    retrievers = ["bm25"] + (["dense", "hybrid"] if kb.dense is not None else [])

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "passages": len(kb.passages), "pages": len(tools.pages or []),
                "retrievers": retrievers}

    @app.post("/retrieve")
    def retrieve(req: RetrieveRequest) -> dict:  # sync: FastAPI runs it in its thread pool
        retriever = req.retriever or tools.retriever
        if retriever not in retrievers:
            raise HTTPException(400, f"retriever {retriever!r} is not available here; available: {retrievers}")
        queries = [q.strip() for q in req.queries]
        try:
            found = kb.search_many([q for q in queries if q], req.topk, retriever)
        except (ConfigError, ToolError) as e:
            raise HTTPException(400, str(e)) from None
        results, it = [], iter(found)
        for q in queries:
            hits = tools.with_urls(next(it)) if q else []
            results.append([_hit_json(h, req.return_scores) for h in hits])
        return {"result": results}

    @app.post("/access")
    def access(req: AccessRequest) -> dict:
        out = []
        for url in req.urls:
            page = tools.pages.get(url) if tools.pages is not None else None
            out.append(None if page is None else {"url": page.url, "title": page.title, "contents": page.contents})
        return {"result": out}

    return app


def _hit_json(hit, with_score: bool) -> dict:
    contents = f'"{hit.title}"\n{hit.contents}'
    rec = {"id": hit.id, "title": hit.title, "contents": contents}
    if hit.url:
        rec["url"] = hit.url
    if with_score:
        rec["score"] = hit.score
        rec["document"] = {"id": hit.id, "contents": contents}
    return rec


def serve(tools: LocalTools, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve until interrupted (blocking)."""
    import uvicorn

    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("binding the retrieval server to %s: it is reachable from other machines", host)
    log.info("serving %d passages on http://%s:%d", len(tools.kb.passages), host, port)
    uvicorn.run(create_app(tools), host=host, port=port, log_level="warning")
