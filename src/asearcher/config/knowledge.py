"""Knowledge section: where the agent's search/access tools get their results."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from asearcher.config.base import Section
from asearcher.config.web import WebConfig


class KnowledgeConfig(Section):
    source: Literal["world", "index", "server", "web"] = "world"
    """``world``: in-process BM25 over the generated world; ``index``: an index dir built by ``kb build``;
    ``server``: a retrieval server (``kb serve``); ``web``: search providers + page fetching."""
    index_dir: str | None = None
    """Index directory for ``source: index``."""
    pages: str | None = None
    """Optional pages.jsonl for the ``access`` tool with ``source: index``."""
    server_url: str = "http://127.0.0.1:8000"
    """Retrieval server base URL for ``source: server``."""
    retriever: Literal["bm25", "dense", "hybrid"] = "bm25"
    """Which index to query (dense/hybrid need an index built with ``--dense``)."""
    topk: int = Field(default=3, ge=1, le=50)
    """Hits per search."""
    timeout_s: float = Field(default=10.0, gt=0)
    """Per-request timeout of the retrieval client."""
    retries: int = Field(default=3, ge=0)
    """Retries on transport errors (with exponential backoff) before the tool counts as down."""
    web: WebConfig = Field(default_factory=WebConfig)
    """Web tools (``source: web``)."""
