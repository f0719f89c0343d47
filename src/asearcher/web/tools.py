"""``WebTools``: the agent's ``Tools`` (search + access) over a web search provider and a page source,
with the on-disk cache, replay-only mode, rate limits, retries and counters.

Built by ``asearcher.web.open_web_tools``; called concurrently by agent episodes. Identical requests in flight at
the same time (a GRPO group asking the same first query) share one network call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from asearcher.config.web import WebConfig
from asearcher.errors import ConfigError, ToolError, ToolUnavailableError
from asearcher.types import Hit, Page
from asearcher.web.cache import WebCache, normalize_query, normalize_url
from asearcher.web.fetch import PageError, PageSource, retry_policy
from asearcher.web.guard import AddressGuard, GuardError
from asearcher.web.limits import (
    Metrics,
    RateLimiter,
    RetryableStatus,
    parse_retry_after,
    retryable_status,
    with_retries,
)
from asearcher.web.providers import Provider, parse_response, redact

log = logging.getLogger(__name__)
T = TypeVar("T")


class WebTools:
    """Web search and page access for the agent (implements ``asearcher.tools.Tools``)."""

    def __init__(self, cfg: WebConfig, provider: Provider, pages: PageSource, guard: AddressGuard,
                 client: httpx.AsyncClient, cache: WebCache | None, metrics: Metrics | None = None,
                 search_problem: str | None = None):
        self.cfg, self.provider, self.pages, self.guard = cfg, provider, pages, guard
        self.cache = cache
        self._client = client
        self._metrics = metrics or Metrics()
        self._limiter = RateLimiter(cfg.search_concurrency, cfg.search_rps)
        self._retry = retry_policy(cfg)
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self._closed = False
        self._search_problem = search_problem

    def metrics(self) -> dict[str, float]:
        """Counters since start: ``web/search_calls``, ``web/search_cache_hits``, ``web/search_failures``,
        ``web/access_calls``, ``web/access_cache_hits``, ``web/access_refused``, ``web/access_failures``,
        ``web/unavailable``, ``web/retries``, ``web/http_429``, ``web/redirects``, ``web/bytes_downloaded``,
        ``web/search_latency_s_sum`` / ``web/search_live`` … (absent = 0)."""
        return self._metrics.snapshot()

    async def search(self, query: str, topk: int) -> list[Hit]:
        q = " ".join(query.split())
        if not q:
            raise ToolError("empty search query")
        if topk < 1:
            raise ToolError(f"topk must be at least 1, got {topk}")
        if self._search_problem:
            raise ConfigError(self._search_problem)
        self._metrics.inc("search_calls")
        key = f"search|{self.provider.name}|{topk}|{normalize_query(q)}"
        cached = await self._cached(key)
        if cached is not None:
            self._metrics.inc("search_cache_hits")
            return [Hit(**h) for h in cached["hits"]]
        if self.cfg.replay_only:
            self._metrics.inc("replay_misses")
            raise ToolError(f"replay-only mode: no recorded {self.provider.name} results for {q!r} (top {topk}); "
                            "run once with web.replay_only=false and the same cache to record them")
        try:
            return await self._once(key, lambda: self._search_live(q, topk, key))
        except ToolUnavailableError:
            self._metrics.inc("unavailable")
            raise
        except ToolError:
            self._metrics.inc("search_failures")
            raise

    async def _search_live(self, q: str, topk: int, key: str) -> list[Hit]:
        p = self.provider

        async def attempt() -> httpx.Response:
            async with self._limiter:
                r = await self._client.send(p.request(q, topk))
            if retryable_status(r.status_code):
                raise RetryableStatus(r.status_code, parse_retry_after(r.headers.get("retry-after")))
            return r

        start = time.monotonic()
        try:
            r = await with_retries(attempt, self._retry, self._metrics, f"{p.name} search")
        except RetryableStatus as e:
            raise ToolUnavailableError(f"{p.name} search answered HTTP {e.status} after {self._retry.max_retries} "
                                       "retries (rate limit or outage); lower web.search_rps or retry later") from None
        except httpx.TransportError as e:
            raise ToolUnavailableError(f"{p.name} search at {p.base_url} unreachable after {self._retry.max_retries}"
                                       f" retries ({type(e).__name__}); check web.search_base_url") from None
        finally:
            self._metrics.inc("search_live")
            self._metrics.inc("search_latency_s_sum", time.monotonic() - start)
        if r.status_code in (401, 403):
            raise ToolUnavailableError(self._auth_hint(r.status_code))
        if r.status_code >= 400:
            raise ToolError(f"{p.name} search failed: HTTP {r.status_code}: {redact(r.text[:200], p.key)}")
        hits = parse_response(p, r, topk)
        await self._store(key, {"hits": [h.model_dump() for h in hits]})
        return hits

    def _auth_hint(self, status: int) -> str:
        if self.provider.name == "searxng":
            return (f"SearXNG at {self.provider.base_url} answered HTTP {status}: enable the json format "
                    "(search.formats: [html, json] in its settings.yml)")
        return (f"{self.provider.name} rejected the API key (HTTP {status}); check the environment variable "
                f"{self.cfg.key_env()}")

    async def access(self, url: str) -> Page | None:
        u = url.strip()
        if not u:
            raise ToolError("empty URL")
        self._metrics.inc("access_calls")
        try:
            target = self.guard.parse(u)
            if target.ip is not None:
                self.guard.check_addresses(target, [target.ip])
        except GuardError:
            self._metrics.inc("access_refused")
            raise
        key = f"page|{self.pages.name}|{normalize_url(u)}"
        cached = await self._cached(key)
        if cached is not None:
            self._metrics.inc("access_cache_hits")
            if "error" in cached:
                raise PageError(cached["error"])
            return Page(**cached["page"]) if "page" in cached else None
        if self.cfg.replay_only:
            self._metrics.inc("replay_misses")
            raise ToolError(f"replay-only mode: no recorded page for {u}; run once with web.replay_only=false "
                            "and the same cache to record it")
        try:
            return await self._once(key, lambda: self._access_live(u, key))
        except GuardError:
            self._metrics.inc("access_refused")
            raise
        except ToolUnavailableError:
            self._metrics.inc("unavailable")
            raise
        except ToolError:
            self._metrics.inc("access_failures")
            raise

    async def _access_live(self, url: str, key: str) -> Page | None:
        try:
            page = await self.pages.fetch(url)
        except PageError as e:
            await self._store(key, {"error": str(e)})
            raise
        await self._store(key, {"page": page.model_dump()} if page is not None else {"absent": True})
        return page

    async def _cached(self, key: str) -> Any | None:
        if self.cache is None:
            return None
        return await self.cache.get(key, replay=self.cfg.replay_only)

    async def _store(self, key: str, value: Any) -> None:
        if self.cache is not None:
            await self.cache.put(key, value)

    async def _once(self, key: str, make: Callable[[], Awaitable[T]]) -> T:
        """Run ``make()`` once per key among concurrent callers; a cancelled caller does not cancel the others."""
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(make())
            self._inflight[key] = task

            def done(t: asyncio.Future[Any], key: str = key) -> None:
                self._inflight.pop(key, None)
                if not t.cancelled():
                    t.exception()  # mark retrieved even if every caller was cancelled

            task.add_done_callback(done)
        else:
            self._metrics.inc("shared_requests")
        return await asyncio.shield(task)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.pages.aclose()
        await self._client.aclose()
        if self.cache is not None:
            self.cache.close()

