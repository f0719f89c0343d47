"""The pages the synthesis agent reads: a JSONL file of ``{url, title, contents}`` (the generated world's
``pages.jsonl`` or any other), with the links between them.

Links come from an optional ``links`` field (titles or URLs of other pages); without it, page A links to
page B when B's title occurs as a phrase in A's contents (the generated world mentions linked entities
by title). Talks to the filesystem only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from asearcher.errors import DataError
from asearcher.jsonl import iter_objects
from asearcher.synth.parsing import normalize


@dataclass
class PageGraph:
    """Pages by title plus the outgoing links of each page (titles, in order of first mention)."""

    pages: dict[str, dict[str, str]]
    """title → ``{url, title, contents}``."""
    links: dict[str, list[str]] = field(default_factory=dict)
    path: Path | None = None
    """The pages file (a generated world keeps ``entities.jsonl`` next to it)."""

    def titles(self) -> list[str]:
        return list(self.pages)

    def by_url(self, url: str) -> dict[str, str] | None:
        for page in self.pages.values():
            if page["url"] == url:
                return page
        return None


def _read(path: Path) -> tuple[dict[str, dict[str, str]], dict[str, list[str]]]:
    pages: dict[str, dict[str, str]] = {}
    explicit: dict[str, list[str]] = {}
    for lineno, row in iter_objects(path, "{url, title, contents}"):
        for key in ("url", "title", "contents"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise DataError(path, lineno, f"field {key!r} is missing or not a non-empty string")
        if row["title"] in pages:
            raise DataError(path, lineno, f"duplicate title {row['title']!r}; titles must be unique")
        pages[row["title"]] = {k: row[k] for k in ("url", "title", "contents")}
        if "links" in row:
            if not isinstance(row["links"], list) or not all(isinstance(x, str) for x in row["links"]):
                raise DataError(path, lineno, "field 'links' must be a list of titles or URLs")
            explicit[row["title"]] = row["links"]
    if not pages:
        raise DataError(path, None, "no pages found; expected JSONL lines {url, title, contents}")
    return pages, explicit


def _mentioned_titles(contents: str, own: str, norm_titles: list[tuple[str, str]]) -> list[str]:
    text = f" {normalize(contents)} "
    found = [(text.find(f" {nt} "), t) for t, nt in norm_titles if t != own and f" {nt} " in text]
    return [t for _, t in sorted(found)]


def load_pages(path: str | Path) -> PageGraph:
    """Read a pages file and resolve its links (see the module docstring). Raises ``DataError`` naming the
    file, line and field of bad input."""
    p = Path(path)
    if not p.is_file():
        raise DataError(p, None, "pages file does not exist (give --pages FILE or --world DIR)")
    pages, explicit = _read(p)
    url_to_title = {pg["url"]: t for t, pg in pages.items()}
    norm_titles = [(t, normalize(t)) for t in pages if len(normalize(t)) >= 3]
    links: dict[str, list[str]] = {}
    for title, page in pages.items():
        if title in explicit:
            resolved = [url_to_title.get(x, x) for x in explicit[title]]
            links[title] = [t for t in dict.fromkeys(resolved) if t in pages and t != title]
        else:
            links[title] = _mentioned_titles(page["contents"], title, norm_titles)
    return PageGraph(pages=pages, links=links, path=p)
