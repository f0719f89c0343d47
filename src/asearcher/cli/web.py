"""``asearcher web``: check a web setup by hand — ``search "query"`` prints normalized hits, ``fetch URL`` prints
the cleaned page text. Uses ``asearcher.web.open_web_tools`` with the ``web`` config section (cache included)."""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from typing import Any


def add_parser(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="web_cmd", metavar="ACTION", required=True)
    search = sub.add_parser("search", help="search the web with the configured provider; print normalized hits")
    search.add_argument("query")
    search.add_argument("--topk", type=int, default=5, help="number of hits (default 5)")
    search.add_argument("--provider", choices=["serper", "searxng", "brave", "tavily"], help="web.search_provider")
    search.add_argument("--base-url", help="web.search_base_url (e.g. your SearXNG, http://127.0.0.1:8888)")
    fetch = sub.add_parser("fetch", help="fetch one page through the address guard; print its cleaned text")
    fetch.add_argument("url")
    fetch.add_argument("--allow", action="append", default=[], metavar="HOST",
                       help="allow a host, IP or CIDR the guard refuses by default (repeatable)")
    fetch.add_argument("--reader", action="store_true", help="use the reader service (web.access=reader)")
    fetch.add_argument("--max-chars", type=int, default=0, help="print at most this many characters (0 = all)")
    for p in (search, fetch):
        p.add_argument("--config", help="YAML/TOML file: a web section, or a full config with a `web:` key")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="web config override, e.g. --set cache_path=null (repeatable)")
        p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
        p.add_argument("--json", action="store_true", help="print JSON")


def load_web_config(args: argparse.Namespace) -> Any:
    """The ``WebConfig`` from ``--config``, ``--set`` overrides and the command's own flags."""
    from pydantic import ValidationError

    from asearcher.config.base import apply_overrides, format_validation_error, read_config_file
    from asearcher.config.web import WebConfig
    from asearcher.errors import ConfigError

    data = read_config_file(args.config) if args.config else {}
    if isinstance(data.get("web"), dict):
        data = data["web"]
    apply_overrides(data, list(args.set))
    if getattr(args, "provider", None):
        data["search_provider"] = args.provider
    if getattr(args, "base_url", None):
        data["search_base_url"] = args.base_url
    if getattr(args, "reader", False):
        data["access"] = "reader"
    for item in getattr(args, "allow", []):
        field = "allow_cidrs" if "/" in item else "allow_hosts"
        if field == "allow_cidrs":
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as e:
                raise ConfigError(f"--allow {item}: {e}") from None
        data.setdefault(field, []).append(item)
    if args.no_cache:
        data["cache_path"] = None
    try:
        return WebConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(WebConfig, e, args.config or "--set overrides")) from None


def run(args: argparse.Namespace) -> int:
    import asyncio

    from asearcher.web import open_web_tools

    cfg = load_web_config(args)
    tools = open_web_tools(cfg, need_search=args.web_cmd == "search")

    async def go() -> Any:
        try:
            if args.web_cmd == "search":
                return await tools.search(args.query, args.topk)
            return await tools.access(args.url)
        finally:
            await tools.aclose()

    result = asyncio.run(go())
    counters = " ".join(f"{k.split('/', 1)[1]}={v:g}" for k, v in tools.metrics().items())
    print(f"[web] {counters}", file=sys.stderr)
    if args.web_cmd == "search":
        return _print_hits(result, args.json)
    if result is None:
        print(f"no such page: {args.url} (HTTP 404/410)", file=sys.stderr)
        return 1
    text = result.contents[: args.max_chars] if args.max_chars > 0 else result.contents
    if args.json:
        print(json.dumps({"url": result.url, "title": result.title, "contents": text}, ensure_ascii=False))
    else:
        print(f"# {result.title}\n{result.url}\n\n{text}")
    return 0


def _print_hits(hits: list[Any], as_json: bool) -> int:
    if as_json:
        print(json.dumps([h.model_dump() for h in hits], ensure_ascii=False, indent=2))
        return 0
    if not hits:
        print("no results")
    for i, h in enumerate(hits, 1):
        score = f"  (score {h.score:.3g})" if h.score is not None else ""
        print(f"{i}. {h.title}{score}\n   {h.url}\n   {h.contents}")
    return 0
