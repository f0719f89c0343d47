"""Corpus formats and loaders: turn a passage file (wiki-18, generic, or a multi-hop QA dataset) into
``Passage`` records for the indexes in ``asearcher.knowledge``.

Talks to: the filesystem only. Used by ``kb build``, the world generator's index and the benchmarks.

Formats (``detect_format`` picks one from the first record):

- ``wiki18``: jsonl ``{"id", "contents": "\\"Title\\"\\ntext"}`` (Search-R1 / FlashRAG / ASearcher).
- ``generic``: jsonl or a JSON list of ``{"id"?, "title"?, "text"}`` (HippoRAG corpora have no ids).
- ``ircot``: IRCoT processed data, ``contexts[{title, paragraph_text}]`` per question.
- ``hotpot``: original HotpotQA / 2WikiMultihopQA, ``context[[title, [sentences]]]`` per question.
- ``musique``: original MuSiQue, ``paragraphs[{title, paragraph_text}]`` per question.
- ``title_sentences``: one JSON object ``{title: [sentences]}`` (HippoRAG's HotpotQA corpus).

Passages derived from QA files (and generic records without an id) get a content id
``paragraph_id(title, text)``, so the same paragraph has the same id in every file and subset, and
gold labels can be joined by recomputing it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asearcher.errors import DataError

FORMATS = ("wiki18", "generic", "ircot", "hotpot", "musique", "title_sentences")


@dataclass(frozen=True)
class Passage:
    """One retrievable passage."""

    id: str
    title: str
    text: str
    """Passage text without the title line."""
    url: str | None = None

    def wiki18_contents(self) -> str:
        """The wiki-18 ``contents`` string: the quoted title, a newline, the text."""
        return f'"{self.title}"\n{self.text}'

    def index_text(self) -> str:
        """What the indexes see: title and text (as Search-R1 indexes wiki-18 ``contents``)."""
        return f"{self.title}\n{self.text}"


def paragraph_id(title: str, text: str) -> str:
    """Stable content id of a paragraph: 16 hex digits of sha1(title + newline + text)."""
    return hashlib.sha1(f"{title}\n{text}".encode()).hexdigest()[:16]


def split_wiki18(contents: str) -> tuple[str, str]:
    """Split wiki-18 ``contents`` into (title, text); the first line is the title, quoted or not."""
    first, _, rest = contents.partition("\n")
    title = first.strip()
    if len(title) >= 2 and title[0] == '"' and title[-1] == '"':
        title = title[1:-1]
    return title, rest.strip()


def join_sentences(sentences: list[str]) -> str:
    """Join HotpotQA-style sentences: they carry their own leading space, 2Wiki's do not."""
    out = ""
    for s in sentences:
        if out and not s[:1].isspace() and not out[-1:].isspace():
            out += " "
        out += s
    return out.strip()


# --------------------------------------------------------------------------------------- reading


Where = int | str | None
"""A record's location: its line (jsonl), "record i" (JSON list) or None (one JSON object)."""


def _error(path: Path, where: Where, reason: str) -> DataError:
    if isinstance(where, str):
        return DataError(path, None, f"{where}: {reason}")
    return DataError(path, where, reason)


def _records(path: Path) -> Iterator[tuple[Where, Any]]:
    """Yield (location, parsed record) from a jsonl file, a JSON list or a single JSON object."""
    with path.open("rb") as f:
        head = f.read(4096).lstrip()
    if not head:
        raise DataError(path, None, "the file is empty")
    if head[:1] == b"[":
        data = _load_json(path)
        if not isinstance(data, list):  # pragma: no cover - a leading "[" always parses to a list
            raise DataError(path, None, "expected a JSON list")
        for i, rec in enumerate(data):
            yield f"record {i}", rec
        return
    with path.open(encoding="utf-8") as f:
        first = f.readline()
        try:
            json.loads(first)
        except json.JSONDecodeError:
            # Not one record per line: a single (pretty-printed) JSON object.
            yield None, _load_json(path)
            return
        f.seek(0)
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(path, lineno, f"invalid JSON ({e.msg} at column {e.colno})") from None


def _load_json(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise DataError(path, e.lineno, f"invalid JSON ({e.msg} at column {e.colno})") from None


def detect_format(record: Any) -> str:
    """Name the corpus format of one parsed record (see the module docstring)."""
    if isinstance(record, dict):
        if "contents" in record:
            return "wiki18"
        if "contexts" in record:
            return "ircot"
        if "paragraphs" in record:
            return "musique"
        if "context" in record or ("question" in record and "supporting_facts" in record):
            return "hotpot"
        if "text" in record:
            return "generic"
        if record and all(isinstance(v, list) for v in record.values()):
            return "title_sentences"
    keys = sorted(record)[:8] if isinstance(record, dict) else type(record).__name__
    raise DataError(
        "corpus", None,
        f"cannot tell the corpus format from a record with keys {keys}; pass --format one of {FORMATS}",
    )


def _str_field(rec: dict, key: str, path: Path, where: Where, required: bool = True) -> str | None:
    value = rec.get(key)
    if value is None:
        if required:
            raise _error(path, where, f"missing field {key!r}")
        return None
    if isinstance(value, int) and key == "id":
        return str(value)
    if not isinstance(value, str):
        raise _error(path, where, f"field {key!r} must be a string, got {type(value).__name__}")
    return value


def _from_wiki18(rec: dict, path: Path, where: Where) -> Iterator[Passage]:
    pid = _str_field(rec, "id", path, where)
    contents = _str_field(rec, "contents", path, where)
    title, text = split_wiki18(contents)
    if not text and not title:
        raise _error(path, where, "field 'contents' is empty")
    yield Passage(pid, title, text, rec.get("url") if isinstance(rec.get("url"), str) else None)


def _from_generic(rec: dict, path: Path, where: Where) -> Iterator[Passage]:
    text = _str_field(rec, "text", path, where)
    title = _str_field(rec, "title", path, where, required=False) or ""
    pid = _str_field(rec, "id", path, where, required=False) or paragraph_id(title, text)
    if not text.strip():
        raise _error(path, where, "field 'text' is empty")
    yield Passage(pid, title, text.strip(), rec.get("url") if isinstance(rec.get("url"), str) else None)


def _from_ircot(rec: dict, path: Path, where: Where) -> Iterator[Passage]:
    contexts = rec.get("contexts")
    if not isinstance(contexts, list):
        raise _error(path, where, "field 'contexts' must be a list of {title, paragraph_text}")
    for c in contexts:
        if not isinstance(c, dict) or not isinstance(c.get("paragraph_text"), str):
            raise _error(path, where, "each context needs a string 'paragraph_text'")
        title, text = str(c.get("title", "")), c["paragraph_text"].strip()
        yield Passage(paragraph_id(title, text), title, text)


def _from_hotpot(rec: dict, path: Path, where: Where) -> Iterator[Passage]:
    context = rec.get("context", [])  # 2Wiki records without passages carry no context: nothing to add.
    if not isinstance(context, list):
        raise _error(path, where, "field 'context' must be a list of [title, [sentences]]")
    for item in context:
        if (not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], str)
                or not isinstance(item[1], list)):
            raise _error(path, where, "each context entry must be [title, [sentences]]")
        text = join_sentences([str(s) for s in item[1]])
        yield Passage(paragraph_id(item[0], text), item[0], text)


def _from_musique(rec: dict, path: Path, where: Where) -> Iterator[Passage]:
    paragraphs = rec.get("paragraphs")
    if not isinstance(paragraphs, list):
        raise _error(path, where, "field 'paragraphs' must be a list of {title, paragraph_text}")
    for p in paragraphs:
        if not isinstance(p, dict) or not isinstance(p.get("paragraph_text"), str):
            raise _error(path, where, "each paragraph needs a string 'paragraph_text'")
        title, text = str(p.get("title", "")), p["paragraph_text"].strip()
        yield Passage(paragraph_id(title, text), title, text)


def _from_title_sentences(rec: dict, path: Path, where: Where) -> Iterator[Passage]:
    for title, sentences in rec.items():
        if not isinstance(sentences, list):
            raise _error(path, where, f"title {title!r}: value must be a list of sentences")
        text = join_sentences([str(s) for s in sentences])
        yield Passage(paragraph_id(title, text), title, text)


_READERS = {
    "wiki18": _from_wiki18,
    "generic": _from_generic,
    "ircot": _from_ircot,
    "hotpot": _from_hotpot,
    "musique": _from_musique,
    "title_sentences": _from_title_sentences,
}


def iter_passages(path: str | Path, fmt: str | None = None) -> Iterator[Passage]:
    """Yield the passages of a corpus file, each id once.

    QA-derived formats repeat paragraphs across questions; repeats with the same content id are
    skipped. A repeated explicit id with different content is an error.

    Args:
        path: the corpus file (jsonl, JSON list, or one JSON object).
        fmt: one of ``FORMATS``; None detects it from the first record.

    Raises:
        DataError: ``file:line: reason`` for a malformed line or record.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(p, None, "no such corpus file")
    if fmt is not None and fmt not in _READERS:
        raise DataError(p, None, f"unknown format {fmt!r}; use one of {FORMATS}")
    seen: dict[str, int] = {}
    reader = _READERS[fmt] if fmt else None
    for where, rec in _records(p):
        if not isinstance(rec, dict):
            raise _error(p, where, f"expected a JSON object, got {type(rec).__name__}")
        if reader is None:
            try:
                reader = _READERS[detect_format(rec)]
            except DataError as e:
                raise _error(p, where, e.reason) from None
        for passage in reader(rec, p, where):
            h = hash((passage.title, passage.text))
            if passage.id in seen:
                if seen[passage.id] != h:
                    raise _error(p, where, f"duplicate passage id {passage.id!r} with different text")
                continue
            seen[passage.id] = h
            yield passage


def load_passages(path: str | Path, fmt: str | None = None) -> list[Passage]:
    """All passages of a corpus file (see ``iter_passages``); an empty corpus is an error."""
    passages = list(iter_passages(path, fmt))
    if not passages:
        raise DataError(path, None, "the corpus has no passages")
    return passages
