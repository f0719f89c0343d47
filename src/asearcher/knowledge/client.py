"""Async client of the retrieval server (``Tools`` protocol): search via ``/retrieve``, pages via ``/access``.

Talks to: a server started by ``asearcher kb serve`` (or any Search-R1-compatible retriever, for
``search``) over HTTP with httpx. Created by ``open_tools`` for ``knowledge.source: server``.

Errors (STYLE habit 8): transport errors (refused connection, timeout, reset) are retried with
exponential backoff, ``retries`` times; if the server stays unreachable the call raises
``ToolUnavailableError`` (the episode fails, not the model). A 4xx answer means the request itself was
bad (e.g. a query over the length limit): ``ToolError``, shown to the model. A 5xx is not retried:
``ToolUnavailableError``.
"""

from __future__ import annotations

import asyncio
import logging

import httpx

from asearcher.errors import ToolError, ToolUnavailableError
from asearcher.knowledge.corpus import split_wiki18
from asearcher.types import Hit, Page

log = logging.getLogger(__name__)


def parse_hit(row: dict) -> Hit:
    """A ``Hit`` from one ``/retrieve`` row: ours (flat) or Search-R1's ``{"document": {...}, "score"}``."""
    doc = row.get("document") if isinstance(row.get("document"), dict) else row
    contents = str(doc.get("contents", row.get("contents", "")))
    title = row.get("title")
    if isinstance(title, str) and contents.startswith(f'"{title}"\n'):
        text = contents[len(title) + 3:]
    else:
        title, text = split_wiki18(contents)
    score = row.get("score")
    return Hit(id=str(doc.get("id", row.get("id", ""))), title=title, contents=text,
               url=row.get("url"), score=float(score) if score is not None else None)


class RetrievalClient:
    """Search/access tools backed by a retrieval server; safe for many concurrent episodes."""

    def __init__(self, base_url: str = "http://127.0.0.1:8000", timeout_s: float = 10.0, retries: int = 3,
                 backoff_s: float = 0.25, retriever: str | None = None, max_connections: int = 64):
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.retriever = retriever
        self._limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _http(self) -> httpx.AsyncClient:
        # An httpx client belongs to the event loop it was first used in; a new loop gets a new client.
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop or self._client.is_closed:
            self._client = httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout_s, limits=self._limits)
            self._loop = loop
        return self._client

    async def _post(self, path: str, payload: dict) -> dict:
        url = self.base_url + path
        for attempt in range(self.retries + 1):
            try:
                resp = await self._http().post(path, json=payload)
            except httpx.TransportError as e:
                if attempt == self.retries:
                    raise ToolUnavailableError(
                        f"retrieval server {url} unreachable after {attempt + 1} attempts "
                        f"({type(e).__name__}: {e}); start it with `asearcher kb serve --index DIR` "
                        "or fix knowledge.server_url") from e
                delay = self.backoff_s * 2 ** attempt
                log.warning("retrieval server %s: %s, retry %d/%d in %.2fs",
                            url, type(e).__name__, attempt + 1, self.retries, delay)
                await asyncio.sleep(delay)
                continue
            if resp.status_code >= 500:
                raise ToolUnavailableError(f"retrieval server {url} failed: HTTP {resp.status_code} {resp.text[:300]}")
            if resp.status_code >= 400:
                raise ToolError(f"the retrieval server rejected the request (HTTP {resp.status_code}): "
                                f"{resp.text[:300]}")
            try:
                return resp.json()
            except ValueError as e:
                raise ToolUnavailableError(f"retrieval server {url} sent a non-JSON answer: {resp.text[:200]}") from e
        raise AssertionError("unreachable")  # pragma: no cover

    async def search_many(self, queries: list[str], topk: int) -> list[list[Hit]]:
        """One batched ``/retrieve`` call; a list of hits per query."""
        payload: dict = {"queries": queries, "topk": topk, "return_scores": True}
        if self.retriever:
            payload["retriever"] = self.retriever
        data = await self._post("/retrieve", payload)
        try:
            result = data["result"]
            return [[parse_hit(row) for row in rows] for rows in result]
        except (KeyError, TypeError, AttributeError) as e:
            raise ToolUnavailableError(f"retrieval server sent an unexpected /retrieve answer: {str(data)[:200]}") from e

    async def search(self, query: str, topk: int) -> list[Hit]:
        q = query.strip()
        if not q:
            raise ToolError("empty search query: write the words to search for inside the search tags")
        return (await self.search_many([q], topk))[0]

    async def access(self, url: str) -> Page | None:
        if not url.strip():
            return None
        data = await self._post("/access", {"urls": [url]})
        try:
            row = data["result"][0]
        except (KeyError, TypeError, IndexError) as e:
            raise ToolUnavailableError(f"retrieval server sent an unexpected /access answer: {str(data)[:200]}") from e
        if row is None:
            return None
        return Page(url=row["url"], title=row.get("title") or "", contents=row["contents"])

    async def health(self) -> dict:
        """``GET /health`` (no retries: used to wait for a starting server)."""
        resp = await self._http().get("/health")
        resp.raise_for_status()
        return resp.json()

    async def aclose(self) -> None:
        if self._client is not None and not self._client.is_closed:
            await self._client.aclose()
        self._client = None
