"""Whole pages for the ``access`` tool: a ``pages.jsonl`` file looked up by (normalised) URL.

Talks to: the filesystem only. Used by the in-process tools and the retrieval server's ``/access``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from asearcher.errors import DataError
from asearcher.jsonl import iter_objects
from asearcher.types import Page


def normalize_url(url: str) -> str:
    """Lookup key of a URL: scheme-less, lower-case host, percent-decoded path with spaces as ``_``,
    no trailing slash, no fragment (the query string is kept).

    ``https://world.local/wiki/Mara%20Velin/`` and `` http://World.local/wiki/Mara_Velin#Life`` give
    the same key.
    """
    u = url.strip()
    if "://" not in u:
        u = "https://" + u
    parts = urlsplit(u)
    path = unquote(parts.path).strip().replace(" ", "_").rstrip("/")
    key = f"{parts.netloc.lower()}{path}"
    return f"{key}?{parts.query}" if parts.query else key


class PageStore:
    """Pages by URL; lookups tolerate trailing slashes, spaces, percent-encoding and letter case."""

    def __init__(self, pages: list[Page]):
        self.pages = pages
        self._by_key: dict[str, Page] = {}
        self._by_fold: dict[str, Page | None] = {}
        self._url_by_title: dict[str, str] = {}
        for p in pages:
            key = normalize_url(p.url)
            self._by_key.setdefault(key, p)
            fold = key.casefold()
            # Case-insensitive fallback only where it is unambiguous.
            self._by_fold[fold] = p if fold not in self._by_fold else None
            self._url_by_title.setdefault(p.title, p.url)

    def __len__(self) -> int:
        return len(self.pages)

    def get(self, url: str) -> Page | None:
        """The page at ``url`` (see ``normalize_url``), or None."""
        if not url or not url.strip():
            return None
        key = normalize_url(url)
        return self._by_key.get(key) or self._by_fold.get(key.casefold())

    def url_for_title(self, title: str) -> str | None:
        """URL of the page with this exact title (how KB hits get their ``url``)."""
        return self._url_by_title.get(title)


def load_pages(path: str | Path) -> PageStore:
    """Read ``pages.jsonl`` (``{"url", "title"?, "contents"}`` per line).

    Raises:
        DataError: ``file:line: reason`` for a malformed line.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(p, None, "no such pages file")
    pages = []
    for lineno, rec in iter_objects(p, "{url, title, contents}"):
        for key in ("url", "contents"):
            if not isinstance(rec.get(key), str):
                raise DataError(p, lineno, f"field {key!r} must be a string")
        pages.append(Page(url=rec["url"], title=str(rec.get("title") or ""), contents=rec["contents"]))
    return PageStore(pages)
