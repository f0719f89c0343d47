"""In-process search/access tools over an opened KB and an optional page store (``Tools`` protocol).

Talks to: ``knowledge.kb`` (search) and ``knowledge.pages`` (access). Created by ``open_tools`` for the
``world`` and ``index`` sources; shared by every concurrent episode of a rollout.

BM25 search runs inline: it is pure CPU work of about a millisecond (p50 < 5 ms even at 100k passages,
see ``bench/retrieval_speed.py``), cheaper than a thread hop. Dense and hybrid search encode the query
with a transformer (tens of milliseconds), so they run in a worker thread to keep the event loop free.
"""

from __future__ import annotations

import asyncio

from asearcher.errors import ToolError
from asearcher.knowledge.kb import KnowledgeBase, Retriever
from asearcher.knowledge.pages import PageStore
from asearcher.types import Hit, Page

MAX_QUERY_CHARS = 2000


class LocalTools:
    """``Tools`` over a local KB: ``search`` → KB hits (with page URLs when known), ``access`` → pages."""

    def __init__(self, kb: KnowledgeBase, pages: PageStore | None = None, retriever: Retriever = "bm25"):
        self.kb = kb
        self.pages = pages
        self.retriever = retriever

    def with_urls(self, hits: list[Hit]) -> list[Hit]:
        if self.pages is None:
            return hits
        return [h if h.url else h.model_copy(update={"url": self.pages.url_for_title(h.title)}) for h in hits]

    def search_sync(self, query: str, topk: int) -> list[Hit]:
        """Blocking search (also used by the retrieval server and the CLI)."""
        q = query.strip()
        if not q:
            raise ToolError("empty search query: write the words to search for inside the search tags")
        if len(q) > MAX_QUERY_CHARS:
            raise ToolError(f"search query too long ({len(q)} characters, at most {MAX_QUERY_CHARS})")
        if topk < 1:
            raise ToolError(f"topk must be at least 1, got {topk}")
        return self.with_urls(self.kb.search(q, topk, self.retriever))

    async def search(self, query: str, topk: int) -> list[Hit]:
        if self.retriever == "bm25":
            return self.search_sync(query, topk)
        return await asyncio.to_thread(self.search_sync, query, topk)

    async def access(self, url: str) -> Page | None:
        if self.pages is None:
            return None
        return self.pages.get(url)

    async def aclose(self) -> None:
        return None
