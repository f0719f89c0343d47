"""Web section: search providers, page access, cache, rate limits and the address guard.

Read by ``asearcher.web.open_web_tools`` and ``asearcher web``. API keys are never part of the config: it only
names the environment variables that hold them, so saved run configs cannot leak a key.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator

from asearcher.config.base import Section

DEFAULT_KEY_ENV = {"serper": "SERPER_API_KEY", "brave": "BRAVE_API_KEY", "tavily": "TAVILY_API_KEY"}
"""Environment variable read for each provider's key when ``api_key_env`` is not set (SearXNG needs none)."""


class WebConfig(Section):
    search_provider: Literal["serper", "searxng", "brave", "tavily"] = "serper"
    """Search provider; keys come from environment variables (never from config files)."""
    search_base_url: str | None = None
    """Provider endpoint base; None = the provider's public API (required for SearXNG, e.g. http://127.0.0.1:8888)."""
    api_key_env: str | None = None
    """NAME of the environment variable holding the search key; None = SERPER_API_KEY / BRAVE_API_KEY /
    TAVILY_API_KEY for the chosen provider. SearXNG needs no key."""
    access: Literal["direct", "reader"] = "direct"
    """Page access: ``direct`` = fetch with httpx and extract the main text locally (trafilatura, pypdf);
    ``reader`` = ask a Jina-Reader-style service (GET {reader_base_url}/{url})."""
    reader_base_url: str = "https://r.jina.ai"
    """Reader service base URL (``access: reader``)."""
    reader_key_env: str | None = "JINA_API_KEY"
    """NAME of the environment variable with the reader key (sent as a Bearer token when set; optional)."""
    timeout_s: float = Field(default=20.0, gt=0)
    """Wall-clock limit of one HTTP attempt (connect + read), seconds."""
    max_page_bytes: int = Field(default=5_000_000, gt=0)
    """Download limit per page (decoded bytes); HTML/text beyond it is truncated, PDFs/binaries are refused."""
    max_page_chars: int = Field(default=100_000, gt=0)
    """Limit on the cleaned text returned for one page (characters)."""
    max_redirects: int = Field(default=5, ge=0)
    """Redirect hops followed by the direct fetcher; every hop passes the address guard."""
    user_agent: str = "Mozilla/5.0 (compatible; asearcher/0.1; research search agent)"
    """User-Agent sent by the direct fetcher."""
    cache_path: str | None = "~/.cache/asearcher/web-cache.sqlite"
    """SQLite file caching search results and pages (shared by concurrent processes); None disables the cache."""
    cache_ttl_s: float | None = Field(default=7 * 24 * 3600.0, gt=0)
    """Age after which a cached entry is refetched; None = never expires. Replay-only mode ignores it."""
    replay_only: bool = False
    """Offline replay: answer only from the cache, never touch the network; a miss is an observation."""
    search_concurrency: int = Field(default=4, ge=1)
    """Concurrent requests in flight to the search provider."""
    search_rps: float | None = Field(default=5.0, gt=0)
    """Search requests per second (spacing between request starts); None = unlimited."""
    access_concurrency: int = Field(default=8, ge=1)
    """Concurrent page fetches (direct or via the reader)."""
    access_rps: float | None = Field(default=None, gt=0)
    """Page fetches per second; None = unlimited (set it for a metered reader service)."""
    max_retries: int = Field(default=3, ge=0)
    """Retries after a 429, a 5xx or a transport error (timeouts, refused connections); other errors never retry."""
    backoff_s: float = Field(default=0.5, ge=0)
    """First retry delay; doubles each retry (a Retry-After header wins, capped by ``backoff_max_s``)."""
    backoff_max_s: float = Field(default=8.0, ge=0)
    """Upper bound of one retry delay, seconds."""
    allow_hosts: list[str] = Field(default_factory=list)
    """Host names or IP literals the access tool may open although the guard would refuse them (e.g. an
    intranet wiki, or 127.0.0.1 for tests)."""
    allow_cidrs: list[str] = Field(default_factory=list)
    """Address ranges (CIDR) the access tool may connect to although they are private/loopback/…"""
    trust_env: bool = False
    """Let the search/reader clients use HTTP(S)_PROXY and SSL_CERT_FILE from the environment (the direct page
    fetcher always connects directly, to the address the guard checked)."""

    @field_validator("allow_cidrs")
    @classmethod
    def _valid_cidrs(cls, v: list[str]) -> list[str]:
        for c in v:
            try:
                ipaddress.ip_network(c.strip(), strict=False)
            except ValueError as e:
                raise ValueError(f"{c!r} is not a CIDR ({e}); write e.g. 127.0.0.1/32 or 10.0.0.0/8") from None
        return v

    def key_env(self) -> str | None:
        """The NAME of the environment variable holding the search key (None for SearXNG without one)."""
        return self.api_key_env or DEFAULT_KEY_ENV.get(self.search_provider)
