"""Web tools for the agent: search providers (Serper, SearXNG, Brave, Tavily), page access (guarded direct
fetch with text extraction, or a reader service), SQLite cache with replay-only mode, rate limits, retries and
the address guard.

``open_web_tools(cfg)`` is what ``asearcher ask/eval/train --source web`` and ``asearcher web`` call; it returns an
``asearcher.tools.Tools``. Keys are read here from the environment variables the config names, and nowhere else.
"""

from __future__ import annotations

import os

import httpx

from asearcher.config.web import WebConfig
from asearcher.errors import ConfigError
from asearcher.web.cache import WebCache
from asearcher.web.fetch import DirectFetcher, PageError, PageSource, ReaderFetcher
from asearcher.web.guard import AddressGuard, GuardError, Resolver, SystemResolver
from asearcher.web.limits import Metrics
from asearcher.web.providers import make_provider
from asearcher.web.tools import WebTools

__all__ = ["AddressGuard", "GuardError", "PageError", "Resolver", "WebConfig", "WebTools", "open_web_tools"]


class _Borrowed(httpx.AsyncBaseTransport):
    """An injected transport, passed on without taking ownership (closing the tools leaves it open)."""

    def __init__(self, inner: httpx.AsyncBaseTransport):
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        return None


def search_setup_error(cfg: WebConfig) -> str | None:
    """Why searching cannot work with ``cfg`` and this environment (None when it can)."""
    env = cfg.key_env()
    if cfg.search_provider == "searxng" and not cfg.search_base_url:
        return ("web.search_provider=searxng needs web.search_base_url (your instance, e.g. "
                "http://127.0.0.1:8888); see docs/web.md")
    if env and cfg.search_provider != "searxng" and not os.environ.get(env, "").strip() and not cfg.replay_only:
        return (f"web search provider {cfg.search_provider!r} needs an API key in the environment variable {env}: "
                f"export {env}=... (or name another variable with web.api_key_env, or use "
                "web.search_provider=searxng)")
    return None


def open_web_tools(cfg: WebConfig, *, resolver: Resolver | None = None,
                   transport: httpx.AsyncBaseTransport | None = None, need_search: bool = True) -> WebTools:
    """Build the web ``Tools`` from ``cfg``.

    Args:
        cfg: the ``web`` config section.
        resolver: host-name resolver used by the address guard (default: the system's ``getaddrinfo``).
        transport: httpx transport for every request — search API, reader and page fetches (default: a new
            ``httpx.AsyncHTTPTransport``). An injected transport stays the caller's: ``aclose`` leaves it open.
        need_search: check the search setup now (False for access-only use such as ``asearcher web fetch``;
            a search then fails with the same ``ConfigError``).

    Raises:
        ConfigError: missing key variable, SearXNG without a base URL, replay-only without a cache.
    """
    problem = search_setup_error(cfg)
    if problem and need_search:
        raise ConfigError(problem)
    env = cfg.key_env()
    key = (os.environ.get(env, "").strip() or None) if env else None
    if cfg.replay_only and not cfg.cache_path:
        raise ConfigError("web.replay_only=true needs web.cache_path (the cache to replay from)")
    metrics = Metrics()
    guard = AddressGuard(cfg.allow_hosts, cfg.allow_cidrs)
    resolver = resolver or SystemResolver(cfg.timeout_s)
    borrowed = _Borrowed(transport) if transport is not None else None
    client = httpx.AsyncClient(transport=borrowed, timeout=cfg.timeout_s, trust_env=cfg.trust_env,
                               follow_redirects=False, headers={"User-Agent": "asearcher/0.1"})
    pages: PageSource
    if cfg.access == "reader":
        reader_key = os.environ.get(cfg.reader_key_env, "").strip() if cfg.reader_key_env else ""
        pages = ReaderFetcher(cfg, guard, resolver, metrics, client, reader_key or None)
    else:
        pages = DirectFetcher(cfg, guard, resolver, metrics, borrowed)
    cache = WebCache(cfg.cache_path, cfg.cache_ttl_s) if cfg.cache_path else None
    provider = make_provider(cfg.search_provider, cfg.search_base_url, key)
    return WebTools(cfg, provider, pages, guard, client, cache, metrics, search_problem=problem)
