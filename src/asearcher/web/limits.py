"""Rate limits, bounded retries with exponential backoff, and the web tools' counters.

Used by the search providers and page fetchers (``web.providers``, ``web.fetch``). Only 429, 5xx and transport
errors (timeouts, refused connections) are retried; everything else is returned to the caller at once.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx

log = logging.getLogger(__name__)
T = TypeVar("T")


class RetryableStatus(Exception):
    """An HTTP answer worth retrying (429 or 5xx)."""

    def __init__(self, status: int, retry_after_s: float | None = None):
        super().__init__(f"HTTP {status}")
        self.status, self.retry_after_s = status, retry_after_s


def retryable_status(status: int) -> bool:
    return status == 429 or 500 <= status <= 599


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date); None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    backoff_s: float = 0.5
    backoff_max_s: float = 8.0

    def delay(self, attempt: int, retry_after_s: float | None = None) -> float:
        """Delay before retry number ``attempt`` (0-based): ``backoff_s · 2^attempt``, or the server's
        Retry-After when given; both capped at ``backoff_max_s``."""
        d = retry_after_s if retry_after_s is not None else self.backoff_s * (2 ** attempt)
        return min(d, self.backoff_max_s)


class RateLimiter:
    """At most ``concurrency`` requests in flight and request starts spaced by ``1/rps`` seconds."""

    def __init__(self, concurrency: int, rps: float | None):
        self._sem = asyncio.Semaphore(concurrency)
        self._interval = 1.0 / rps if rps else 0.0
        self._next = 0.0

    async def __aenter__(self) -> RateLimiter:
        await self._sem.acquire()
        if self._interval:
            now = time.monotonic()
            slot = max(now, self._next)  # no await between reading and writing _next: atomic in asyncio
            self._next = slot + self._interval
            if slot > now:
                await asyncio.sleep(slot - now)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._sem.release()


class Metrics:
    """Monotonic counters (``web/search_requests``, ``web/retries`` …) that the agent/eval can log."""

    def __init__(self) -> None:
        self._c: Counter[str] = Counter()

    def inc(self, name: str, n: float = 1) -> None:
        self._c[f"web/{name}"] += n

    def snapshot(self) -> dict[str, float]:
        return {k: float(v) for k, v in sorted(self._c.items())}


async def with_retries(attempt: Callable[[], Awaitable[T]], policy: RetryPolicy, metrics: Metrics,
                       what: str) -> T:
    """Run ``attempt`` until it succeeds, retrying ``RetryableStatus`` and ``httpx.TransportError`` up to
    ``policy.max_retries`` times with backoff; the last failure is re-raised."""
    for i in range(policy.max_retries + 1):
        try:
            return await attempt()
        except (RetryableStatus, httpx.TransportError) as e:
            if isinstance(e, RetryableStatus) and e.status == 429:
                metrics.inc("http_429")
            if i == policy.max_retries:
                raise
            delay = policy.delay(i, getattr(e, "retry_after_s", None))
            metrics.inc("retries")
            log.debug("%s: %s; retry %d/%d in %.2fs", what, type(e).__name__ if not str(e) else e,
                      i + 1, policy.max_retries, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")
