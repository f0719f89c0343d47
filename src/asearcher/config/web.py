"""Web section: search providers, page access, cache, rate limits and the address guard."""

from __future__ import annotations

from typing import Literal

from asearcher.config.base import Section


class WebConfig(Section):
    search_provider: Literal["serper", "searxng", "brave", "tavily"] = "serper"
    """Search provider; keys come from environment variables (never from config files)."""
