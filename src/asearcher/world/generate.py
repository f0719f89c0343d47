"""Write a world directory (atomically), find or create the configured one, and read its questions.

Talks to: ``world.build``/``render``/``questions`` (content), ``knowledge.kb`` (the BM25 KB saved in
``DIR/kb``), ``filelock`` (concurrent ``ensure_world`` calls), the filesystem.

Layout of a world directory::

    world.json                 parameters and counts (written last: marks the world complete)
    corpus.jsonl               {"id", "contents": "\\"Title\\"\\ntext"}  (wiki-18 format)
    pages.jsonl                {"url", "title", "contents"}  one per entity
    entities.jsonl             {"name", "type", "kind"?, "url", "attrs", "relations", "twin"?}
    questions/{train,dev,test}.jsonl
    kb/                        BM25 KB over the corpus (``asearcher kb`` layout; urls included)

Every file except ``kb/`` is byte-identical for the same (seed, entities, max_hops, passage_words, wording).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

from asearcher.config.world import WorldConfig
from asearcher.errors import ConfigError, DataError
from asearcher.types import Example

log = logging.getLogger(__name__)

WORLD_FORMAT = 1
GENERATOR = "asearcher.world/3"
"""Bump when generation changes: cached default worlds made by another generator are regenerated."""
SPLITS = ("train", "dev", "test")


def split_sizes(entities: int) -> dict[str, int]:
    """Questions per split: 10 train questions per entity (≤ 10,000), 200 dev and 300 test at 400
    entities (fewer for small worlds)."""
    return {"train": min(10 * entities, 10_000), "dev": min(200, max(10, entities // 2)),
            "test": min(300, max(10, 3 * entities // 4))}


def _write_jsonl(path: Path, records) -> None:
    with path.open("w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")


def _replace_world(tmp: Path, out: Path) -> None:
    if out.exists():
        if not (out / "world.json").is_file() and any(out.iterdir()):
            raise ConfigError(f"{out} exists and is not a world directory; choose another --out")
        trash = out.with_name(f".{out.name}.old-{time.time_ns()}")
        out.rename(trash)
        tmp.rename(out)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        tmp.rename(out)


def generate_world(out_dir: str | Path, seed: int = 0, entities: int = 400, max_hops: int = 4,
                   passage_words: int = 100, wording: str = "varied") -> Path:
    """Generate a world into ``out_dir`` (written to a temporary sibling, then renamed).

    Args:
        out_dir: target directory; an existing world there is replaced.
        seed: generator seed (same seed ⇒ byte-identical files).
        entities: number of entities (~4 passages each).
        max_hops: longest chain question (K); questions are balanced over 1..K hops and comparisons.
        passage_words: target passage length in words (±15 %; fact-free filler pads each passage to it;
            100 = wiki-18 style). Shorter passages mean fewer tokens per search result.
        wording: ``varied`` (a relation's wording drawn per entity) or ``fixed`` (one per relation).

    Returns:
        The world directory.
    """
    from asearcher.knowledge.bm25 import BM25Index
    from asearcher.knowledge.kb import build_kb
    from asearcher.world.build import build_graph
    from asearcher.world.questions import ORACLE_TOPK, QuestionMaker
    from asearcher.world.render import Renderer, page_url
    from asearcher.world.schema import WORDINGS

    if entities < 20 or not 1 <= max_hops <= 8:
        raise ConfigError(f"world needs entities >= 20 and 1 <= max_hops <= 8 (got {entities}, {max_hops})")
    if passage_words < 10:
        raise ConfigError(f"world passage_words must be >= 10 (got {passage_words})")
    if wording not in WORDINGS:
        raise ConfigError(f"world wording must be one of {WORDINGS} (got {wording!r})")
    out = Path(out_dir).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    graph = build_graph(seed, entities)
    renderer = Renderer(graph, seed, passage_words, wording)
    renderer.render()
    t1 = time.perf_counter()
    bm25 = BM25Index.build(p.index_text() for p in renderer.passages)
    t2 = time.perf_counter()
    maker = QuestionMaker(graph, renderer, bm25, seed, max_hops)
    splits = maker.generate(split_sizes(entities), seed)
    t3 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        _write_jsonl(tmp / "corpus.jsonl", ({"id": p.id, "contents": p.wiki18_contents()} for p in renderer.passages))
        _write_jsonl(tmp / "pages.jsonl", (pg.model_dump() for pg in renderer.pages()))
        names = [e.name for e in graph.entities]
        _write_jsonl(tmp / "entities.jsonl", (
            {"name": e.name, "type": e.type, **({"kind": e.kind} if e.kind else {}), "url": page_url(e.name),
             "attrs": e.attrs, "relations": {k: names[v] for k, v in e.rels.items()},
             **({"twin": names[e.twin]} if e.twin is not None else {})}
            for e in graph.entities))
        (tmp / "questions").mkdir()
        for split in SPLITS:
            _write_jsonl(tmp / "questions" / f"{split}.jsonl", splits[split])
        build_kb(renderer.passages, tmp / "kb", source="world", bm25=bm25)
        st = maker.stats
        meta = {
            "format": WORLD_FORMAT, "generator": GENERATOR, "seed": seed, "entities": entities, "max_hops": max_hops,
            "passage_words": passage_words, "wording": wording, "passages": len(renderer.passages), "pages": len(graph.entities),
            "types": {t: len(graph.of_type(t)) for t in ("person", "city", "org", "work", "event")},
            "twins": sum(e.twin is not None for e in graph.entities),
            "questions": {s: len(splits[s]) for s in SPLITS},
            "oracle_queries": {"checked": st.checked, "top1": st.top1, f"top{ORACLE_TOPK}": st.topk},
        }
        (tmp / "world.json").write_text(json.dumps(meta, indent=1) + "\n")
        _replace_world(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("world %s: %d passages, questions %s (graph+text %.1fs, bm25 %.1fs, questions %.1fs, total %.1fs)",
             out, len(renderer.passages), meta["questions"], t1 - t0, t2 - t1, t3 - t2, time.perf_counter() - t0)
    return out


def is_world(path: str | Path) -> bool:
    """True when ``path`` holds a complete world (``world.json`` is written last)."""
    return (Path(path) / "world.json").is_file()


def _generator(d: Path) -> str | None:
    try:
        return json.loads((d / "world.json").read_text()).get("generator")
    except (OSError, json.JSONDecodeError):
        return None


def default_world_dir(cfg: WorldConfig) -> Path:
    from asearcher.models import asearcher_home

    words = "" if cfg.passage_words == 100 else f"-w{cfg.passage_words}"
    fixed = "-fixed" if cfg.wording == "fixed" else ""
    return asearcher_home() / "worlds" / f"seed{cfg.seed}-n{cfg.entities}-h{cfg.max_hops}{words}{fixed}"


def ensure_world(cfg: WorldConfig) -> Path:
    """The configured world's directory, generated on first use.

    ``cfg.dir`` is used as given (generated there if missing); otherwise the world lives in
    ``$ASEARCHER_HOME/worlds/seed{seed}-n{entities}-h{max_hops}[-w{passage_words}][-fixed]`` (regenerated when it was made by an
    older generator). Concurrent callers wait on a file lock and reuse the finished world.
    """
    from filelock import FileLock

    d = Path(cfg.dir).expanduser() if cfg.dir else default_world_dir(cfg)

    def usable() -> bool:
        # A cached default world from an older generator is stale; an explicit dir is used as given.
        return is_world(d) and (cfg.dir is not None or _generator(d) == GENERATOR)

    if usable():
        return d
    d.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(d.parent / f".{d.name}.lock")):
        if usable():
            return d
        if d.exists() and any(d.iterdir()) and not is_world(d):
            raise DataError(d, None, "exists but holds no complete world (no world.json); delete it or set world.dir")
        log.info("generating world seed=%d entities=%d max_hops=%d into %s", cfg.seed, cfg.entities, cfg.max_hops, d)
        return generate_world(d, cfg.seed, cfg.entities, cfg.max_hops, cfg.passage_words, cfg.wording)


def load_questions(world_dir: str | Path, split: str) -> list[Example]:
    """The questions of one split as ``Example`` records.

    ``Example.meta`` holds ``hops``, ``type`` (chain | comparison), ``supporting`` passage ids,
    ``chain`` (the oracle hops), ``source`` ("world") and, for comparisons, ``compare``.
    """
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; use one of {SPLITS}")
    path = Path(world_dir) / "questions" / f"{split}.jsonl"
    if not path.is_file():
        raise DataError(path, None, "no such question file; generate the world with `asearcher world generate`")
    out = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            try:
                rec = json.loads(line)
                meta = {k: rec[k] for k in ("hops", "type", "supporting", "chain")}
                if "compare" in rec:
                    meta["compare"] = rec["compare"]
                out.append(Example(id=rec["id"], question=rec["question"], answers=rec["answer"],
                                   meta={**meta, "source": "world"}))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                raise DataError(path, lineno, f"bad question record: {e}") from None
    return out
