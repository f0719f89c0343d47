"""The ``Tools`` contract, run over every implementation: the test fake (StaticTools), the in-process
world tools (LocalTools via open_tools) and the retrieval-server client (against a real uvicorn server)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx
import pytest

from asearcher.config.knowledge import KnowledgeConfig
from asearcher.errors import ConfigError, ToolError
from asearcher.knowledge import open_tools
from asearcher.tools import StaticTools, Tools
from asearcher.types import Hit, Page

QUERY = "Press employs people"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(small_world):
    """A real uvicorn server over the small world, in a thread of this process."""
    import uvicorn

    from asearcher.knowledge.server import create_app

    port = _free_port()
    tools = open_tools(KnowledgeConfig(source="world"), small_world)
    server = uvicorn.Server(uvicorn.Config(create_app(tools), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def _page_url(small_world) -> str:
    import json

    return json.loads((small_world / "pages.jsonl").read_text().splitlines()[0])["url"]


@pytest.fixture(params=["static", "world", "server"])
def tools(request, small_world) -> Tools:
    url = _page_url(small_world)
    if request.param == "static":
        return StaticTools([Hit(id="1", title="A Press", contents="A Press employs people here", url=url),
                            Hit(id="2", title="B", contents="nothing relevant")],
                           {url: Page(url=url, title="A", contents="page")})
    if request.param == "world":
        return open_tools(KnowledgeConfig(source="world"), small_world)
    base = request.getfixturevalue("served")
    return open_tools(KnowledgeConfig(source="server", server_url=base, retries=1), None)


def test_is_a_tools(tools):
    assert isinstance(tools, Tools)


def test_search_returns_at_most_topk_hits_best_first(tools):
    hits = asyncio.run(tools.search(QUERY, 2))
    assert 1 <= len(hits) <= 2 and all(isinstance(h, Hit) for h in hits)
    scores = [h.score for h in hits if h.score is not None]
    assert scores == sorted(scores, reverse=True)
    assert all(h.id and h.contents for h in hits)


def test_empty_query_is_the_models_fault(tools):
    with pytest.raises(ToolError):
        asyncio.run(tools.search("  ", 3))


def test_access_known_and_unknown(tools, small_world):
    url = _page_url(small_world)

    async def main():
        page = await tools.access(url)
        missing = await tools.access("https://world.local/wiki/No_Such_Page_Here")
        return page, missing

    page, missing = asyncio.run(main())
    assert isinstance(page, Page) and page.url == url and missing is None


def test_concurrent_searches_match_sequential(tools):
    async def main():
        alone = await tools.search(QUERY, 3)
        many = await asyncio.gather(*[tools.search(QUERY, 3) for _ in range(25)])
        await tools.aclose()
        await tools.aclose()  # idempotent
        return alone, many

    alone, many = asyncio.run(main())
    assert all([h.id for h in m] == [h.id for h in alone] for m in many)


def test_world_hits_carry_page_urls(small_world):
    tools = open_tools(KnowledgeConfig(source="world"), small_world)
    hits = asyncio.run(tools.search(QUERY, 3))
    assert all(h.url and h.url.startswith("https://world.local/wiki/") for h in hits)
    assert httpx.URL(hits[0].url).path.endswith(hits[0].title.replace(" ", "_"))


def test_index_and_web_sources(small_world):
    tools = open_tools(KnowledgeConfig(source="index", index_dir=str(small_world / "kb"),
                                       pages=str(small_world / "pages.jsonl")))
    assert asyncio.run(tools.search(QUERY, 1))[0].url
    with pytest.raises(ConfigError, match="index_dir"):
        open_tools(KnowledgeConfig(source="index"))
    with pytest.raises(ConfigError, match="asearcher.web"):
        open_tools(KnowledgeConfig(source="web"))
