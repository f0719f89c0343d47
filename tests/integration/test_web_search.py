"""Search providers against local imitations of their APIs: normalized hits, retries, errors, cache, replay,
rate limits, shared in-flight requests, and that a planted API key never reaches logs, outputs or the cache."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest

from asearcher.config.base import save_config
from asearcher.config.web import WebConfig
from asearcher.errors import ConfigError, ToolError, ToolUnavailableError
from asearcher.web import open_web_tools
from tests.integration import test_web_support as support
from tests.integration.test_web_support import PLANTED_KEY, make_tools

net, web_server = support.net, support.web_server  # the local test web's fixtures

ENV = {"serper": "SERPER_API_KEY", "brave": "BRAVE_API_KEY", "tavily": "TAVILY_API_KEY"}


@pytest.fixture
def keys(monkeypatch):
    for env in ENV.values():
        monkeypatch.setenv(env, PLANTED_KEY)


def provider_tools(net, tmp_path, name, **kw):
    base = f"http://127.0.0.1:{net.port}/{kw.pop('path', name)}"
    return make_tools(net, tmp_path, search_provider=name, search_base_url=base, **kw)


def search_all(tools, calls):
    """Run (query, topk) searches in one loop; hits or the raised exception per call; closes the tools."""
    async def go():
        out = []
        for q, k in calls:
            try:
                out.append(await tools.search(q, k))
            except (ToolError, ToolUnavailableError) as e:
                out.append(e)
        await tools.aclose()
        return out

    return asyncio.run(go())


@pytest.mark.parametrize("name, scores", [("serper", [None, None, None]), ("searxng", [3.0, 2.0, 0.0]),
                                          ("brave", [None, None, None]), ("tavily", [0.9, 0.8, 0.6])])
def test_each_provider_normalizes_hits(web_server, net, tmp_path, keys, name, scores):
    hits, one = search_all(provider_tools(net, tmp_path, name), [("moon  distance", 5), ("moon", 1)])
    site = f"http://site.test:{web_server.port}"
    assert [h.id for h in hits] == [f"{site}/article", f"{site}/doc.pdf", f"{site}/tiny"]  # duplicate URL dropped
    assert all(h.url == h.id for h in hits)
    assert hits[0].title == "The Moon — moon distance"
    assert hits[0].contents == "The Moon is Earth's only natural satellite."  # tags and entities cleaned
    assert hits[1].contents == "Regolith samples contain helium-3."
    assert hits[2].title == f"{site}/tiny"  # empty title falls back to the URL
    assert [h.score for h in hits] == pytest.approx(scores) if scores[0] else all(h.score is None for h in hits)
    assert len(one) == 1


def test_retries_on_5xx_then_unavailable(web_server, net, tmp_path, keys):
    flaky = provider_tools(net, tmp_path, "serper", path="serper-flaky", max_retries=3)
    (hits,) = search_all(flaky, [("moon", 3)])
    assert len(hits) == 3 and flaky.metrics()["web/retries"] == 2
    before = web_server.count("/serper-down")
    down = provider_tools(net, tmp_path, "serper", path="serper-down", max_retries=2, cache_path=None)
    (err,) = search_all(down, [("moon", 3)])
    assert isinstance(err, ToolUnavailableError) and "HTTP 503 after 2 retries" in str(err)
    assert web_server.count("/serper-down") - before == 3
    assert down.metrics()["web/unavailable"] == 1 and down.metrics()["web/retries"] == 2


def test_auth_and_request_errors(web_server, net, tmp_path, monkeypatch, keys):
    tools = provider_tools(net, tmp_path, "serper")
    empty, bad = search_all(tools, [("   ", 3), ("bad request", 3)])
    assert isinstance(empty, ToolError) and "empty search query" in str(empty)
    assert isinstance(bad, ToolError) and "HTTP 400" in str(bad) and "***" in str(bad)
    assert PLANTED_KEY not in str(bad)  # the server echoed the key; the observation must not
    monkeypatch.setenv("SERPER_API_KEY", "wrong-key")
    (denied,) = search_all(provider_tools(net, tmp_path, "serper", cache_path=None), [("moon", 3)])
    assert isinstance(denied, ToolUnavailableError) and "SERPER_API_KEY" in str(denied)
    (searx,) = search_all(provider_tools(net, tmp_path, "searxng", path="searxng-no-json"), [("moon", 3)])
    assert isinstance(searx, ToolUnavailableError) and "enable the json format" in str(searx)


def test_config_errors_name_the_variable(monkeypatch, tmp_path):
    monkeypatch.delenv("TAVILY_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="TAVILY_API_KEY"):
        open_web_tools(WebConfig(search_provider="tavily", cache_path=None))
    monkeypatch.setenv("MY_KEY", "x")
    tools = open_web_tools(WebConfig(search_provider="tavily", api_key_env="MY_KEY", cache_path=None))
    asyncio.run(tools.aclose())
    with pytest.raises(ConfigError, match="search_base_url"):
        open_web_tools(WebConfig(search_provider="searxng", cache_path=None))
    access_only = open_web_tools(WebConfig(search_provider="tavily", cache_path=None), need_search=False)
    with pytest.raises(ConfigError, match="TAVILY_API_KEY"):
        asyncio.run(access_only.search("q", 3))
    asyncio.run(access_only.aclose())
    with pytest.raises(ConfigError, match="cache_path"):
        open_web_tools(WebConfig(search_provider="serper", replay_only=True, cache_path=None))


def test_cache_hit_on_rerun_and_replay_only(web_server, net, tmp_path, monkeypatch, keys):
    before = web_server.count("/serper")
    (first,) = search_all(provider_tools(net, tmp_path, "serper"), [("Moon distance", 3)])
    rerun = provider_tools(net, tmp_path, "serper")
    (second,) = search_all(rerun, [("  moon   DISTANCE ", 3)])  # normalized query → same key
    assert second == first and web_server.count("/serper") - before == 1
    assert rerun.metrics()["web/search_cache_hits"] == 1
    brave_before = web_server.count("/brave")
    (other,) = search_all(provider_tools(net, tmp_path, "brave"), [("moon distance", 3)])
    assert web_server.count("/brave") - brave_before == 1 and len(other) == 3  # keyed by provider too
    monkeypatch.delenv("SERPER_API_KEY")  # replay needs no key and no network
    connected, n = len(net.connected), len(web_server.requests)
    replay = provider_tools(net, tmp_path, "serper", replay_only=True)
    hit, miss = search_all(replay, [("moon distance", 3), ("never asked", 3)])
    assert hit == first
    assert isinstance(miss, ToolError) and "replay-only mode" in str(miss) and "never asked" in str(miss)
    assert len(net.connected) == connected and len(web_server.requests) == n
    assert replay.metrics()["web/replay_misses"] == 1


def test_rate_limit_and_shared_inflight(web_server, net, tmp_path):
    tools = make_tools(net, tmp_path, search_rps=10.0, cache_path=None)

    async def go():
        start = time.monotonic()
        await asyncio.gather(*(tools.search(f"rate {i}", 2) for i in range(4)))
        spaced = time.monotonic() - start
        before = web_server.count("/searxng")
        same = await asyncio.gather(*(tools.search("same query", 2) for _ in range(8)))
        await tools.aclose()
        return spaced, web_server.count("/searxng") - before, same

    spaced, requests, same = asyncio.run(go())
    assert spaced >= 0.29  # 4 starts spaced by 1/10 s
    assert requests == 1 and all(s == same[0] for s in same)
    assert tools.metrics()["web/shared_requests"] == 7


def test_planted_key_never_reaches_logs_outputs_or_cache(web_server, net, tmp_path, caplog, keys, run_dir):
    caplog.set_level(logging.DEBUG)
    for logger in ("httpx", "httpcore", "asearcher"):
        logging.getLogger(logger).setLevel(logging.DEBUG)
    cfg_tools = {}
    outputs = []
    for name in ("serper", "brave", "tavily"):
        tools = provider_tools(net, tmp_path, name, cache_path=str(run_dir / "web-cache.sqlite"))
        cfg_tools[name] = tools.cfg
        outputs.append(repr(tools.provider))
        results = search_all(tools, [("moon", 3), ("bad request", 3)])
        outputs += [json.dumps([h.model_dump() for h in r]) if isinstance(r, list) else str(r) for r in results]
        (run_dir / f"metrics-{name}.json").write_text(json.dumps(tools.metrics()))
        save_config(tools.cfg, run_dir / f"config-{name}.yaml")
    (run_dir / "trajectory.json").write_text(json.dumps(outputs))
    assert "HTTP Request: POST" in caplog.text  # the loggers really were recording
    assert PLANTED_KEY not in caplog.text
    assert all(PLANTED_KEY not in o for o in outputs)
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert any(p.name.startswith("web-cache.sqlite") for p in files)
    for p in files:
        assert PLANTED_KEY.encode() not in p.read_bytes(), p
    assert "SERPER_API_KEY" not in (run_dir / "config-serper.yaml").read_text()  # default: not even the name
