"""A knowledge-base directory: normalised passages + a BM25 index (+ an optional dense index).

Talks to: ``knowledge.bm25``, ``knowledge.dense``, ``knowledge.fusion``; the filesystem. Built by
``asearcher kb build`` and by the world generator; opened by the in-process tools and the retrieval server.

Layout of ``DIR``::

    meta.json        {"format": 1, "n_passages", "source", "dense": {"model"} | null}
    passages.jsonl   {"id", "title", "text", "url"?} in index order
    bm25/            bm25s index files
    dense/           index.faiss + dense.json (only with --dense)

Builds are atomic: everything is written to a temporary sibling directory that is renamed into place,
so a failed build (bad corpus line, interrupted run) leaves no half-built index.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from asearcher.errors import ConfigError, DataError
from asearcher.knowledge.bm25 import BM25Index
from asearcher.knowledge.corpus import Passage
from asearcher.knowledge.fusion import rrf
from asearcher.types import Hit

log = logging.getLogger(__name__)

KB_FORMAT = 1
Retriever = Literal["bm25", "dense", "hybrid"]
RETRIEVERS: tuple[str, ...] = ("bm25", "dense", "hybrid")


def _write_passages(passages: list[Passage], path: Path) -> None:
    with path.open("w", encoding="utf-8") as f:
        for p in passages:
            rec = {"id": p.id, "title": p.title, "text": p.text}
            if p.url:
                rec["url"] = p.url
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")


def _read_passages(path: Path) -> list[Passage]:
    out = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            try:
                r = json.loads(line)
                out.append(Passage(r["id"], r["title"], r["text"], r.get("url")))
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise DataError(path, lineno, f"corrupt KB passage record ({e}); rebuild the KB") from None
    return out


def _replace_dir(tmp: Path, out: Path) -> None:
    """Move the finished ``tmp`` to ``out``, replacing an older KB there."""
    if out.exists():
        if not (out / "meta.json").is_file() and any(out.iterdir()):
            raise ConfigError(f"{out} exists and is not a KB directory; choose another --out")
        trash = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(trash)
        tmp.rename(out)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        tmp.rename(out)


def build_kb(
    passages: Iterable[Passage], out: str | Path, *, dense: bool = False,
    dense_model: str | None = None, source: str | None = None, bm25: BM25Index | None = None,
) -> Path:
    """Index ``passages`` into the KB directory ``out`` (atomically; replaces an older KB there).

    Args:
        passages: the corpus (e.g. ``corpus.iter_passages(path)``); errors raised while iterating
            abort the build and leave nothing behind.
        out: the KB directory.
        dense: also build the dense index (needs the ``dense`` extra).
        dense_model: sentence-transformers name or path (default: the bundled MiniLM).
        source: where the passages came from (recorded in meta.json).
        bm25: an index already built over exactly these passages (the world generator has one).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        items = list(passages)
        if not items:
            raise DataError(source or out, None, "the corpus has no passages")
        _write_passages(items, tmp / "passages.jsonl")
        texts = [p.index_text() for p in items]
        if bm25 is None:
            log.info("indexing %d passages with BM25", len(items))
            bm25 = BM25Index.build(texts)
        elif bm25.n_docs != len(items):
            raise ValueError(f"bm25 index has {bm25.n_docs} documents, the corpus {len(items)}")
        bm25.save(tmp / "bm25")
        meta = {"format": KB_FORMAT, "n_passages": len(items), "source": source, "dense": None}
        if dense:
            from asearcher.knowledge.dense import DEFAULT_MODEL, DenseIndex

            model = dense_model or DEFAULT_MODEL
            DenseIndex.build(texts, model).save(tmp / "dense")
            meta["dense"] = {"model": model}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def add_dense(directory: str | Path, dense_model: str | None = None) -> None:
    """Add a dense index to an existing KB directory (atomic rename of ``dense/``, then meta.json)."""
    from asearcher.knowledge.dense import DEFAULT_MODEL, DenseIndex

    d = Path(directory)
    meta = read_meta(d)
    model = dense_model or DEFAULT_MODEL
    texts = [p.index_text() for p in _read_passages(d / "passages.jsonl")]
    tmp = Path(tempfile.mkdtemp(prefix=".dense.tmp-", dir=d))
    try:
        DenseIndex.build(texts, model).save(tmp)
        if (d / "dense").exists():
            shutil.rmtree(d / "dense")
        tmp.rename(d / "dense")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    meta["dense"] = {"model": model}
    (d / "meta.json.tmp").write_text(json.dumps(meta, indent=1))
    (d / "meta.json.tmp").replace(d / "meta.json")


def read_meta(directory: str | Path) -> dict:
    d = Path(directory)
    path = d / "meta.json"
    if not path.is_file():
        raise DataError(d, None, "not a KB directory (no meta.json); build one with `asearcher kb build`")
    meta = json.loads(path.read_text())
    if meta.get("format") != KB_FORMAT:
        raise DataError(path, None, f"KB format {meta.get('format')} is not {KB_FORMAT}; rebuild the KB")
    return meta


class KnowledgeBase:
    """An opened KB: passages plus their indexes. Read-only, safe to share between threads."""

    def __init__(self, passages: list[Passage], bm25: BM25Index, dense=None, directory: Path | None = None):
        if bm25.n_docs != len(passages):
            raise DataError(directory or "KB", None,
                            f"BM25 index has {bm25.n_docs} documents but there are {len(passages)} passages")
        self.passages = passages
        self.bm25 = bm25
        self.dense = dense
        self.directory = directory
        self._by_id = {p.id: i for i, p in enumerate(passages)}

    @classmethod
    def open(cls, directory: str | Path, dense: bool | None = None) -> KnowledgeBase:
        """Open a KB directory; ``dense`` None loads the dense index when the KB has one."""
        d = Path(directory)
        meta = read_meta(d)
        has_dense = meta.get("dense") is not None
        if dense and not has_dense:
            raise ConfigError(f"KB {d} has no dense index; rebuild it with `asearcher kb build --dense`")
        dense_index = None
        if has_dense and dense is not False:
            from asearcher.knowledge.dense import DenseIndex

            dense_index = DenseIndex.load(d / "dense")
        return cls(_read_passages(d / "passages.jsonl"), BM25Index.load(d / "bm25"), dense_index, d)

    def index_of(self, passage_id: str) -> int | None:
        return self._by_id.get(passage_id)

    def _hit(self, i: int, score: float) -> Hit:
        p = self.passages[i]
        return Hit(id=p.id, title=p.title, contents=p.text, url=p.url, score=round(score, 6))

    def search_many(self, queries: list[str], topk: int, retriever: Retriever = "bm25") -> list[list[Hit]]:
        """Top-``topk`` hits per query with ``retriever`` (bm25, dense or hybrid RRF)."""
        if retriever not in RETRIEVERS:
            raise ConfigError(f"unknown retriever {retriever!r}; use one of {RETRIEVERS}")
        if retriever != "bm25" and self.dense is None:
            raise ConfigError(f"retriever {retriever!r} needs a dense index; build the KB with --dense")
        if retriever == "bm25":
            ranked = [self.bm25.search(q, topk) for q in queries]
        elif retriever == "dense":
            ranked = self.dense.search_many(queries, topk)
        else:
            depth = max(50, 5 * topk)
            dense_ranked = self.dense.search_many(queries, depth)
            ranked = []
            for q, dr in zip(queries, dense_ranked, strict=True):
                lists = [[i for i, _ in self.bm25.search(q, depth)], [i for i, _ in dr]]
                ranked.append(rrf(lists, topk=topk))
        return [[self._hit(i, s) for i, s in r] for r in ranked]

    def search(self, query: str, topk: int, retriever: Retriever = "bm25") -> list[Hit]:
        return self.search_many([query], topk, retriever)[0]
