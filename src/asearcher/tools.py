"""The agent's tool seam: one small protocol implemented by the local KB (in-process index or retrieval
server client), the web tools, and the test fake.

Errors: raise ``ToolError`` for what the model caused (empty query, unknown URL) — the agent shows it as an
observation; raise ``ToolUnavailableError`` when the backend stays down after bounded retries — the episode
fails and is recorded (it is not the model's fault).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from asearcher.types import Hit, Page


@runtime_checkable
class Tools(Protocol):
    """Search and page access. Implementations must be safe to call from many concurrent episodes."""

    async def search(self, query: str, topk: int) -> list[Hit]:
        """Top-``topk`` hits for ``query`` (best first)."""
        ...

    async def access(self, url: str) -> Page | None:
        """The page at ``url``, or None when there is no such page."""
        ...

    async def aclose(self) -> None:
        """Release connections/resources (idempotent)."""
        ...


class StaticTools:
    """In-memory tools over a few passages and pages (the fake used by agent tests and demos).

    Search ranks passages by the number of distinct query words they contain (ties: corpus order).
    ``fail_search``/``fail_access`` make every call raise ``ToolUnavailableError`` (backend down)."""

    def __init__(self, passages: list[Hit], pages: dict[str, Page] | None = None):
        self.passages = passages
        self.pages = dict(pages or {})
        self.fail_search = False
        self.fail_access = False
        self.calls: list[tuple[str, str]] = []

    async def search(self, query: str, topk: int) -> list[Hit]:
        from asearcher.errors import ToolError, ToolUnavailableError

        self.calls.append(("search", query))
        if self.fail_search:
            raise ToolUnavailableError("StaticTools: search backend is down (fail_search=True)")
        words = {w for w in query.lower().split() if w.isalnum()}
        if not query.strip():
            raise ToolError("empty search query")
        scored = [(len(words & set(p.contents.lower().replace(".", " ").split())), -i, p)
                  for i, p in enumerate(self.passages)]
        scored.sort(key=lambda t: (t[0], t[1]), reverse=True)
        return [p for s, _, p in scored[:topk] if s > 0]

    async def access(self, url: str) -> Page | None:
        from asearcher.errors import ToolUnavailableError

        self.calls.append(("access", url))
        if self.fail_access:
            raise ToolUnavailableError("StaticTools: access backend is down (fail_access=True)")
        return self.pages.get(url.strip())

    async def aclose(self) -> None:
        return None
