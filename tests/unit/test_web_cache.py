"""SQLite web cache (keys, TTL, replay, concurrency) and the rate limiter / retry helpers."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from asearcher.web.cache import WebCache, normalize_query, normalize_url
from asearcher.web.limits import (
    Metrics,
    RateLimiter,
    RetryableStatus,
    RetryPolicy,
    parse_retry_after,
    with_retries,
)


def test_normalize_query_and_url():
    assert normalize_query("  Who   WROTE\tHamlet ") == "who wrote hamlet"
    assert normalize_url("HTTP://Example.COM:80/a?b=1#frag") == "http://example.com/a?b=1"
    assert normalize_url("https://example.com:443") == "https://example.com/"
    assert normalize_url("https://example.com:8443/x") == "https://example.com:8443/x"
    assert normalize_url("  /relative path ") == "/relative%20path"


def test_roundtrip_ttl_and_replay(tmp_path):
    c = WebCache(tmp_path / "sub" / "c.sqlite", ttl_s=60)
    c.put_sync("k", {"hits": [1, "é"]})
    assert c.get_sync("k") == {"hits": [1, "é"]} and c.get_sync("missing") is None
    c._db.execute("UPDATE entries SET created = ?", (time.time() - 120,))  # age the entry past the TTL
    assert c.get_sync("k") is None
    assert c.get_sync("k", replay=True) == {"hits": [1, "é"]}  # replay ignores the TTL
    c.close()
    forever = WebCache(tmp_path / "sub" / "c.sqlite", ttl_s=None)
    assert forever.get_sync("k") == {"hits": [1, "é"]} and len(forever) == 1
    forever.close()


def test_concurrent_writers_threads_and_two_connections(tmp_path):
    a, b = WebCache(tmp_path / "c.sqlite", None), WebCache(tmp_path / "c.sqlite", None)
    errors: list[Exception] = []

    def work(cache: WebCache, tag: str) -> None:
        try:
            for i in range(40):
                cache.put_sync(f"{tag}{i}", {"i": i})
                assert cache.get_sync(f"{tag}{i}") == {"i": i}
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(c, f"{c is a}-{t}-")) for c in (a, b) for t in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(a) == len(b) == 6 * 40
    asyncio.run(a.put("async", [1]))
    assert asyncio.run(b.get("async")) == [1]


def test_retry_delays_and_retry_after():
    p = RetryPolicy(max_retries=5, backoff_s=0.5, backoff_max_s=3.0)
    assert [p.delay(i) for i in range(4)] == [0.5, 1.0, 2.0, 3.0]
    assert p.delay(0, retry_after_s=2.5) == 2.5 and p.delay(0, retry_after_s=60) == 3.0
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_with_retries_only_retries_retryable_failures():
    m = Metrics()
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RetryableStatus(429)
        if len(calls) == 2:
            raise httpx.ConnectError("refused")
        return "ok"

    policy = RetryPolicy(max_retries=3, backoff_s=0.0)
    assert asyncio.run(with_retries(flaky, policy, m, "t")) == "ok" and len(calls) == 3
    assert m.snapshot() == {"web/http_429": 1.0, "web/retries": 2.0}

    async def always_503() -> str:
        calls.append(1)
        raise RetryableStatus(503)

    calls.clear()
    with pytest.raises(RetryableStatus):
        asyncio.run(with_retries(always_503, policy, m, "t"))
    assert len(calls) == 4  # 1 + 3 retries

    async def bad_request() -> str:
        calls.append(1)
        raise ValueError("not retryable")

    calls.clear()
    with pytest.raises(ValueError):
        asyncio.run(with_retries(bad_request, policy, m, "t"))
    assert len(calls) == 1


def test_rate_limiter_caps_concurrency_and_spaces_starts():
    async def main() -> tuple[int, list[float]]:
        limiter = RateLimiter(concurrency=2, rps=None)
        active, peak = 0, 0

        async def job() -> None:
            nonlocal active, peak
            async with limiter:
                active += 1
                peak = max(peak, active)
                await asyncio.sleep(0.02)
                active -= 1

        await asyncio.gather(*(job() for _ in range(6)))
        spaced = RateLimiter(concurrency=10, rps=20)
        starts: list[float] = []

        async def tick() -> None:
            async with spaced:
                starts.append(time.monotonic())

        await asyncio.gather(*(tick() for _ in range(5)))
        return peak, sorted(starts)

    peak, starts = asyncio.run(main())
    assert peak == 2
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 0.04 and starts[-1] - starts[0] >= 0.19
