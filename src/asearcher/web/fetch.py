"""Page sources behind the access tool: the guarded direct fetcher and a Jina-Reader-style reader client.

Used by ``web.tools.WebTools``. The direct fetcher follows redirects itself so that every hop passes the address
guard, resolves each host once through the injected ``Resolver``, and connects to the very address that was
checked (the request goes to the IP, with the Host header and TLS SNI set to the name), so a DNS answer cannot
change between the check and the connection. Downloads are bounded in time and size.

Failures: ``PageError`` (a ToolError the cache may remember: HTTP 4xx, binary file, too large, unreadable PDF);
other ``ToolError`` (refused by the guard, site down or slow — not cached); ``ToolUnavailableError`` when the
reader service itself stays down.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

import httpx

from asearcher.config.web import WebConfig
from asearcher.errors import ToolError, ToolUnavailableError
from asearcher.types import Page
from asearcher.web.extract import classify, decode, html_to_text, pdf_to_text, short_ctype
from asearcher.web.guard import AddressGuard, IPAddress, Resolver, Target, resolve_checked
from asearcher.web.limits import (
    Metrics,
    RateLimiter,
    RetryableStatus,
    RetryPolicy,
    parse_retry_after,
    retryable_status,
    with_retries,
)
from asearcher.web.providers import redact

log = logging.getLogger(__name__)
REDIRECTS = (301, 302, 303, 307, 308)
_ACCEPT = "text/html,application/xhtml+xml,application/pdf;q=0.9,text/plain;q=0.8,*/*;q=0.5"


class PageError(ToolError):
    """A definite answer about a page (HTTP 4xx, binary, too large …): an observation the cache may replay."""


class PageSource(Protocol):
    """How the access tool gets a page: ``fetch(url)`` → Page, None (no such page) or an error."""

    name: str

    async def fetch(self, url: str) -> Page | None:
        ...

    async def aclose(self) -> None:
        ...


@dataclass
class Download:
    status: int
    headers: httpx.Headers
    body: bytes
    truncated: bool


def retry_policy(cfg: WebConfig) -> RetryPolicy:
    return RetryPolicy(cfg.max_retries, cfg.backoff_s, cfg.backoff_max_s)


def finish_text(url: str, title: str, text: str, cfg: WebConfig, truncated_bytes: bool) -> Page:
    """A ``Page`` with text capped at ``max_page_chars``; truncation is stated in the text."""
    text = text.strip()
    if not text:
        raise PageError(f"{url} has no readable text")
    notes = []
    if truncated_bytes:
        notes.append(f"[page truncated: larger than {cfg.max_page_bytes} bytes]")
    if len(text) > cfg.max_page_chars:
        text = text[: cfg.max_page_chars]
        notes.append(f"[text truncated at {cfg.max_page_chars} characters]")
    return Page(url=url, title=title or url, contents="\n".join([text, *notes]))


class DirectFetcher:
    """GET with httpx through the address guard; HTML → trafilatura text, PDF → pypdf text."""

    name = "direct"

    def __init__(self, cfg: WebConfig, guard: AddressGuard, resolver: Resolver, metrics: Metrics,
                 transport: httpx.AsyncBaseTransport | None = None):
        self.cfg, self.guard, self.resolver, self.metrics = cfg, guard, resolver, metrics
        self._owns_transport = transport is None
        self._transport = transport or httpx.AsyncHTTPTransport(retries=0)
        self._limiter = RateLimiter(cfg.access_concurrency, cfg.access_rps)
        self._retry = retry_policy(cfg)

    async def fetch(self, url: str) -> Page | None:
        current = url.strip()
        for hop in range(self.cfg.max_redirects + 1):
            target = self.guard.parse(current)
            ips = await resolve_checked(self.guard, target, self.resolver)
            got = await self._download(target, ips)
            location = got.headers.get("location")
            if not (got.status in REDIRECTS and location):
                return await self._to_page(str(target.url), got)
            if hop == self.cfg.max_redirects:
                break
            self.metrics.inc("redirects")
            current = str(target.url.join(location.strip()))
        raise PageError(f"{url}: more than {self.cfg.max_redirects} redirects")

    async def _download(self, target: Target, ips: list[IPAddress]) -> Download:
        async def attempt() -> Download:
            async with self._limiter:
                return await self._try_addresses(target, ips)

        try:
            return await with_retries(attempt, self._retry, self.metrics, f"GET {target.url}")
        except RetryableStatus as e:
            raise ToolError(f"{target.url} answered HTTP {e.status} ({self._retry.max_retries} retries)") from None
        except httpx.TimeoutException:
            raise ToolError(f"{target.url} did not answer within {self.cfg.timeout_s:g} s") from None
        except httpx.TransportError as e:
            raise ToolError(f"cannot connect to {target.url} ({type(e).__name__})") from None

    async def _try_addresses(self, target: Target, ips: list[IPAddress]) -> Download:
        for i, ip in enumerate(ips):
            try:
                async with asyncio.timeout(self.cfg.timeout_s):
                    return await self._get_once(target, ip)
            except TimeoutError:
                raise httpx.ReadTimeout(f"no complete answer within {self.cfg.timeout_s} s") from None
            except httpx.ConnectError:
                if i == len(ips) - 1:
                    raise
        raise AssertionError("unreachable: resolve_checked never returns an empty list")

    async def _get_once(self, target: Target, ip: IPAddress) -> Download:
        """One GET sent to the checked address ``ip`` with the original Host header (and SNI for https)."""
        https = target.url.scheme == "https"
        headers = {"Host": target.url.netloc.decode("ascii"), "User-Agent": self.cfg.user_agent,
                   "Accept": _ACCEPT, "Accept-Encoding": "gzip, deflate", "Accept-Language": "en;q=1.0, *;q=0.5"}
        t = self.cfg.timeout_s
        extensions: dict[str, object] = {"timeout": {"connect": t, "read": t, "write": t, "pool": t}}
        if https:
            # One TLS connection per request: the pool is keyed by IP, and must not reuse a session whose
            # certificate was checked for another name served from the same address.
            headers["Connection"] = "close"
            if target.ip is None:
                extensions["sni_hostname"] = target.host
        request = httpx.Request("GET", target.url.copy_with(host=str(ip)), headers=headers, extensions=extensions)
        response = await self._transport.handle_async_request(request)
        response.request = request
        try:
            status = response.status_code
            if retryable_status(status):
                raise RetryableStatus(status, parse_retry_after(response.headers.get("retry-after")))
            if status in REDIRECTS or status >= 400:
                return Download(status, response.headers, b"", False)
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.cfg.max_page_bytes and \
                    classify(response.headers.get("content-type"), b"") in ("pdf", "binary"):
                raise PageError(f"{target.url} is a {short_ctype(response.headers.get('content-type'))} file of "
                                f"{int(declared)} bytes, over the {self.cfg.max_page_bytes}-byte limit")
            body, truncated = await self._read_limited(response)
            return Download(status, response.headers, body, truncated)
        finally:
            await response.aclose()

    async def _read_limited(self, response: httpx.Response) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > self.cfg.max_page_bytes:
                break
        self.metrics.inc("bytes_downloaded", min(size, self.cfg.max_page_bytes))
        body = b"".join(chunks)
        return body[: self.cfg.max_page_bytes], size > self.cfg.max_page_bytes

    async def _to_page(self, url: str, got: Download) -> Page | None:
        if got.status in (404, 410):
            return None
        if got.status in REDIRECTS:
            raise PageError(f"{url} answered a redirect (HTTP {got.status}) without a Location")
        if got.status >= 400:
            hint = " (the site may block automated access)" if got.status in (401, 403) else ""
            raise PageError(f"{url} answered HTTP {got.status}{hint}")
        ctype = got.headers.get("content-type")
        kind = classify(ctype, got.body)
        if kind == "binary":
            raise PageError(f"{url} is a binary file ({short_ctype(ctype)}, {len(got.body)} bytes"
                            f"{' or more' if got.truncated else ''}); its text cannot be extracted")
        if kind == "pdf":
            if got.truncated:
                raise PageError(f"{url} is a PDF larger than the {self.cfg.max_page_bytes}-byte limit")
            title, text = await asyncio.to_thread(pdf_to_text, got.body)
        elif kind == "html":
            title, text = await asyncio.to_thread(html_to_text, decode(got.body, ctype), url)
        else:
            title, text = "", decode(got.body, ctype)
        return finish_text(url, title, text, self.cfg, got.truncated)

    async def aclose(self) -> None:
        if self._owns_transport:
            await self._transport.aclose()


class ReaderFetcher:
    """A reader service (Jina Reader style): ``GET {base}/{url}`` returns the page as clean text/markdown.
    The URL is still checked by the guard (the service may run inside your network); the service follows
    redirects itself."""

    name = "reader"

    def __init__(self, cfg: WebConfig, guard: AddressGuard, resolver: Resolver, metrics: Metrics,
                 client: httpx.AsyncClient, key: str | None):
        self.cfg, self.guard, self.resolver, self.metrics = cfg, guard, resolver, metrics
        self._client, self._key = client, key
        self._limiter = RateLimiter(cfg.access_concurrency, cfg.access_rps)
        self._retry = retry_policy(cfg)

    async def fetch(self, url: str) -> Page | None:
        url = url.strip()
        await resolve_checked(self.guard, self.guard.parse(url), self.resolver)
        headers = {"Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        endpoint = f"{self.cfg.reader_base_url.rstrip('/')}/{url}"

        async def attempt() -> httpx.Response:
            async with self._limiter:
                r = await self._client.get(endpoint, headers=headers, timeout=self.cfg.timeout_s)
            if retryable_status(r.status_code):
                raise RetryableStatus(r.status_code, parse_retry_after(r.headers.get("retry-after")))
            return r

        base = self.cfg.reader_base_url
        try:
            r = await with_retries(attempt, self._retry, self.metrics, f"reader {url}")
        except RetryableStatus as e:
            raise ToolUnavailableError(f"reader service {base} answered HTTP {e.status} after "
                                       f"{self._retry.max_retries} retries") from None
        except httpx.TransportError as e:
            raise ToolUnavailableError(f"reader service {base} unreachable after {self._retry.max_retries} "
                                       f"retries ({type(e).__name__}); check web.reader_base_url") from None
        if r.status_code == 401:
            raise ToolUnavailableError(f"reader service {base} rejected the key (HTTP 401); check the "
                                       f"environment variable {self.cfg.reader_key_env}")
        if r.status_code in (404, 410):
            return None
        if r.status_code >= 400:
            raise PageError(f"the reader could not read {url}: HTTP {r.status_code}: "
                            f"{redact(r.text[:200], self._key)}")
        self.metrics.inc("bytes_downloaded", len(r.content))
        title, text = parse_reader_answer(r)
        return finish_text(url, title, text, self.cfg, False)

    async def aclose(self) -> None:
        return None


def parse_reader_answer(r: httpx.Response) -> tuple[str, str]:
    """(title, text) from a reader answer: JSON ``{"data": {"title", "content"}}`` or the plain-text form
    ``Title: …`` / ``URL Source: …`` / ``Markdown Content:`` followed by the text."""
    if "json" in r.headers.get("content-type", ""):
        try:
            data = r.json().get("data") or {}
            return str(data.get("title") or ""), str(data.get("content") or "")
        except (ValueError, AttributeError):
            pass
    text, title = r.text, ""
    head, sep, rest = text.partition("Markdown Content:")
    if sep:
        text = rest
        for line in head.splitlines():
            if line.startswith("Title:"):
                title = line[len("Title:"):].strip()
    return title, text
