"""Retrieval server as a real subprocess (`asearcher kb serve`): documented shapes, 4xx on bad requests,
and a client that fails cleanly (bounded retries, ToolUnavailableError) when the server is killed."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from asearcher.errors import ToolError, ToolUnavailableError
from asearcher.knowledge.client import RetrievalClient
from asearcher.types import Hit, Page


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(world: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "asearcher.cli.main", "kb", "serve", "--index", str(world / "kb"),
         "--pages", str(world / "pages.jsonl"), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early: {proc.stdout.read()}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not come up within 60 s")


@pytest.fixture(scope="module")
def server(small_world):
    proc, url = _start(small_world)
    yield url
    proc.kill()
    proc.wait(10)


@pytest.fixture(scope="module")
def gold(small_world):
    q = json.loads((small_world / "questions" / "dev.jsonl").read_text().splitlines()[0])
    return q["chain"][0]


def test_health(server):
    body = httpx.get(server + "/health").json()
    assert body["status"] == "ok" and body["passages"] > 100 and body["pages"] == 60
    assert body["retrievers"] == ["bm25"]


def test_retrieve_batch_shapes(server, gold):
    queries = [gold["query"], "zzzz qqqq", "founded"]
    r = httpx.post(server + "/retrieve", json={"queries": queries, "topk": 3, "return_scores": True})
    assert r.status_code == 200
    result = r.json()["result"]
    assert len(result) == 3 and len(result[0]) == 3 and result[1] == []
    top = result[0]
    assert gold["passage_id"] in [h["id"] for h in top]  # oracle query works through the server too
    hit = next(h for h in top if h["id"] == gold["passage_id"])
    assert hit["contents"].startswith(f'"{gold["title"]}"\n') and gold["fact"] in hit["contents"]
    assert hit["url"].startswith("https://world.local/wiki/") and isinstance(hit["score"], float)
    assert hit["document"] == {"id": hit["id"], "contents": hit["contents"]}  # Search-R1 shape
    assert [h["score"] for h in top] == sorted((h["score"] for h in top), reverse=True)
    plain = httpx.post(server + "/retrieve", json={"queries": [gold["query"]], "topk": 2}).json()["result"][0]
    assert len(plain) == 2 and "score" not in plain[0] and set(plain[0]) >= {"id", "contents"}


def test_access_shapes(server, gold):
    url = "https://world.local/wiki/" + gold["title"].replace(" ", "_")
    r = httpx.post(server + "/access", json={"urls": [url + "/", "https://world.local/wiki/Nobody_Here"]})
    assert r.status_code == 200
    page, missing = r.json()["result"]
    assert page["url"] == url and page["title"] == gold["title"] and gold["fact"] in page["contents"]
    assert missing is None


@pytest.mark.parametrize("path, body", [
    ("/retrieve", {"queries": [], "topk": 3}),
    ("/retrieve", {"topk": 3}),
    ("/retrieve", {"queries": ["x"], "topk": 0}),
    ("/retrieve", {"queries": "not a list"}),
    ("/retrieve", {"queries": ["x" * 3000]}),
    ("/retrieve", {"queries": ["x"], "retriever": "dense"}),
    ("/access", {"urls": []}),
    ("/access", {}),
])
def test_bad_requests_get_4xx_with_a_reason(server, path, body):
    r = httpx.post(server + path, json=body)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["detail"]


def test_invalid_json_is_4xx(server):
    r = httpx.post(server + "/retrieve", content=b"{not json", headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500


def test_client_search_access_and_concurrency(server, gold):
    async def main():
        client = RetrievalClient(server, timeout_s=5, retries=1)
        hits = await client.search(gold["query"], 3)
        assert all(isinstance(h, Hit) for h in hits) and gold["passage_id"] in [h.id for h in hits]
        hit = next(h for h in hits if h.id == gold["passage_id"])
        assert hit.title == gold["title"] and gold["fact"] in hit.contents
        assert not hit.contents.startswith('"')  # the title line is not part of Hit.contents
        page = await client.access("https://world.local/wiki/" + gold["title"].replace(" ", "_"))
        assert isinstance(page, Page) and page.title == gold["title"]
        assert await client.access("https://world.local/wiki/Nobody_Here") is None
        with pytest.raises(ToolError):
            await client.search("   ", 3)
        with pytest.raises(ToolError, match="422"):
            await client.search("x" * 3000, 3)
        many = await asyncio.gather(*[client.search(gold["query"], 3) for _ in range(40)])
        assert all([h.id for h in m] == [h.id for h in hits] for m in many)
        await client.aclose()
        await client.aclose()

    asyncio.run(main())


def test_killing_the_server_mid_run_fails_cleanly(small_world, gold):
    proc, url = _start(small_world)

    async def main() -> tuple[int, float]:
        client = RetrievalClient(url, timeout_s=2, retries=2, backoff_s=0.05)
        done = 0
        try:
            with pytest.raises(ToolUnavailableError, match="unreachable after 3 attempts") as err:
                for i in range(10_000):
                    await client.search(gold["query"], 3)
                    done += 1
                    if i == 20:
                        proc.kill()
                        proc.wait(10)
            t0 = time.monotonic()
            with pytest.raises(ToolUnavailableError):
                await client.access("https://world.local/wiki/x")
            assert "kb serve" in str(err.value)  # says how to fix it
            return done, time.monotonic() - t0
        finally:
            await client.aclose()

    try:
        done, elapsed = asyncio.run(main())
    finally:
        proc.kill()
    assert done == 21
    assert elapsed < 2.0  # 3 attempts with 0.05 s + 0.1 s backoff, no hanging
