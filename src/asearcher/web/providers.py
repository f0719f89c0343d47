"""Web search providers (Serper, SearXNG, Brave, Tavily): request building and response normalization to
``Hit(id=url, title, contents=snippet, url, score)``.

Used by ``web.tools.WebTools``. Each provider is two small pure pieces — ``request(query, topk)`` and
``parse(json)`` — so its format is tested against a local imitation server. Keys are read from the environment
by the caller and only ever placed in request headers; error messages are passed through ``redact``.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from asearcher.errors import ToolError
from asearcher.types import Hit

_TAG_RE = re.compile(r"<[^>]+>")


def clean_snippet(text: Any) -> str:
    """Provider snippets → plain text: tags (``<strong>``) removed, entities decoded, whitespace collapsed."""
    if not isinstance(text, str):
        return ""
    return " ".join(html.unescape(_TAG_RE.sub("", text)).split())


def _hits(rows: Any, title: str, url: str, snippet: str, score: str | None, topk: int) -> list[Hit]:
    """Normalize a list of result dicts; rows without a URL are dropped, duplicate URLs keep the first."""
    if not isinstance(rows, list):
        return []
    out: list[Hit] = []
    seen: set[str] = set()
    for row in rows:
        if not isinstance(row, dict):
            continue
        link = row.get(url)
        if not isinstance(link, str) or not link.strip() or link in seen:
            continue
        seen.add(link)
        raw_score = row.get(score) if score else None
        out.append(Hit(id=link, title=clean_snippet(row.get(title)) or link, contents=clean_snippet(row.get(snippet)),
                       url=link, score=float(raw_score) if isinstance(raw_score, int | float) else None))
        if len(out) >= topk:
            break
    return out


@dataclass
class Provider:
    """One search API: where to send the query, how to authenticate, how to read the answer."""

    name: str
    base_url: str
    key: str | None = field(default=None, repr=False)

    def request(self, query: str, topk: int) -> httpx.Request:
        raise NotImplementedError

    def parse(self, data: Any, topk: int) -> list[Hit]:
        raise NotImplementedError

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path


class Serper(Provider):
    """Google results through serper.dev: ``POST /search`` with ``X-API-KEY``; hits in ``organic``."""

    def request(self, query: str, topk: int) -> httpx.Request:
        return httpx.Request("POST", self.url("/search"), json={"q": query, "num": max(10, topk)},
                             headers={"X-API-KEY": self.key or ""})

    def parse(self, data: Any, topk: int) -> list[Hit]:
        return _hits(data.get("organic"), "title", "link", "snippet", None, topk)


class SearXNG(Provider):
    """A self-hosted SearXNG instance: ``GET /search?q=…&format=json`` (enable ``json`` under
    ``search.formats`` in its settings.yml); hits in ``results``."""

    def request(self, query: str, topk: int) -> httpx.Request:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        return httpx.Request("GET", self.url("/search"), params={"q": query, "format": "json", "pageno": 1},
                             headers=headers)

    def parse(self, data: Any, topk: int) -> list[Hit]:
        return _hits(data.get("results"), "title", "url", "content", "score", topk)


class Brave(Provider):
    """Brave Search API: ``GET /res/v1/web/search`` with ``X-Subscription-Token``; hits in ``web.results``."""

    def request(self, query: str, topk: int) -> httpx.Request:
        return httpx.Request("GET", self.url("/res/v1/web/search"), params={"q": query, "count": min(20, topk)},
                             headers={"X-Subscription-Token": self.key or "", "Accept": "application/json"})

    def parse(self, data: Any, topk: int) -> list[Hit]:
        web = data.get("web")
        return _hits(web.get("results") if isinstance(web, dict) else None, "title", "url", "description", None,
                     topk)


class Tavily(Provider):
    """Tavily: ``POST /search`` with a Bearer key; hits (with relevance scores) in ``results``."""

    def request(self, query: str, topk: int) -> httpx.Request:
        return httpx.Request("POST", self.url("/search"),
                             json={"query": query, "max_results": min(20, topk), "search_depth": "basic"},
                             headers={"Authorization": f"Bearer {self.key or ''}"})

    def parse(self, data: Any, topk: int) -> list[Hit]:
        return _hits(data.get("results"), "title", "url", "content", "score", topk)


PROVIDERS: dict[str, tuple[type[Provider], str | None]] = {
    "serper": (Serper, "https://google.serper.dev"),
    "searxng": (SearXNG, None),
    "brave": (Brave, "https://api.search.brave.com"),
    "tavily": (Tavily, "https://api.tavily.com"),
}


def make_provider(name: str, base_url: str | None, key: str | None) -> Provider:
    """The provider ``name`` talking to ``base_url`` (None = its public API)."""
    cls, default = PROVIDERS[name]
    return cls(name=name, base_url=base_url or default or "", key=key)


def parse_response(provider: Provider, response: httpx.Response, topk: int) -> list[Hit]:
    """Decode a 2xx provider answer; a body that is not the expected JSON object raises ``ToolError``."""
    try:
        data = response.json()
    except ValueError:
        raise ToolError(f"{provider.name} returned a non-JSON answer "
                        f"({response.headers.get('content-type', 'no content type')})") from None
    if not isinstance(data, dict):
        raise ToolError(f"{provider.name} returned JSON that is not an object")
    return provider.parse(data, topk)


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every secret replaced by ``***`` (for messages built from provider answers)."""
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return text
