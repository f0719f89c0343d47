"""Local knowledge: corpus loaders, BM25/dense/hybrid indexes, the retrieval server and its client.

Public API: ``open_tools(cfg, world_dir)`` returns the agent's ``Tools`` for ``knowledge.source``:

- ``world``: in-process BM25 over the generated world (its ``kb/`` index, built on demand) + its pages;
- ``index``: a directory built by ``asearcher kb build`` + an optional pages file;
- ``server``: an HTTP client of ``asearcher kb serve``;
- ``web``: not here — web tools are built by ``asearcher.web``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from asearcher.config.knowledge import KnowledgeConfig
from asearcher.errors import ConfigError
from asearcher.tools import Tools

log = logging.getLogger(__name__)


def _world_kb(world: Path, dense: bool):
    """Open ``world/kb``, building the BM25 index (or adding the dense one) under a file lock if missing."""
    from filelock import FileLock

    from asearcher.knowledge.corpus import load_passages
    from asearcher.knowledge.kb import KnowledgeBase, add_dense, build_kb, read_meta
    from asearcher.world.render import page_url

    kb_dir = world / "kb"

    def ready() -> bool:
        if not (kb_dir / "meta.json").is_file():
            return False
        return not dense or read_meta(kb_dir).get("dense") is not None

    if not ready():
        try:
            lock = FileLock(str(world / ".kb.lock"))
            with lock:
                if not (kb_dir / "meta.json").is_file():
                    passages = [replace(p, url=page_url(p.title))
                                for p in load_passages(world / "corpus.jsonl", "wiki18")]
                    build_kb(passages, kb_dir, source="world")
                if dense and read_meta(kb_dir).get("dense") is None:
                    add_dense(kb_dir)
        except PermissionError:
            log.warning("world %s is read-only: indexing it in memory (not cached)", world)
            import tempfile

            tmp = Path(tempfile.mkdtemp(prefix="asearcher-world-kb-"))
            passages = load_passages(world / "corpus.jsonl", "wiki18")
            kb_dir = build_kb(passages, tmp / "kb", dense=dense, source="world")
    return KnowledgeBase.open(kb_dir, dense=dense)


def open_tools(cfg: KnowledgeConfig, world_dir: str | Path | None = None) -> Tools:
    """The agent's search/access tools for ``cfg.source`` (see the module docstring).

    Args:
        cfg: the knowledge config section.
        world_dir: the world for ``source: world``; None = the default world (generated on first use).

    Raises:
        ConfigError: missing ``index_dir``, ``source: web``, a dense retriever without a dense index.
    """
    dense = cfg.retriever != "bm25"
    if cfg.source == "web":
        raise ConfigError(
            "knowledge.source=web: web search/access tools are built by asearcher.web "
            "(see the `web` config section), not by asearcher.knowledge.open_tools"
        )
    if cfg.source == "server":
        from asearcher.knowledge.client import RetrievalClient

        return RetrievalClient(cfg.server_url, timeout_s=cfg.timeout_s, retries=cfg.retries, retriever=cfg.retriever)
    from asearcher.knowledge.kb import KnowledgeBase
    from asearcher.knowledge.local import LocalTools
    from asearcher.knowledge.pages import load_pages

    if cfg.source == "index":
        if not cfg.index_dir:
            raise ConfigError("knowledge.source=index needs knowledge.index_dir (a directory from `asearcher kb build`)")
        kb = KnowledgeBase.open(cfg.index_dir, dense=dense)
        pages = load_pages(cfg.pages) if cfg.pages else None
        return LocalTools(kb, pages, cfg.retriever)
    from asearcher.config.world import WorldConfig
    from asearcher.world.generate import ensure_world, is_world

    world = Path(world_dir) if world_dir is not None else ensure_world(WorldConfig())
    if not is_world(world):
        raise ConfigError(f"{world} is not a generated world (no world.json); run `asearcher world generate`")
    return LocalTools(_world_kb(world, dense), load_pages(world / "pages.jsonl"), cfg.retriever)


__all__ = ["open_tools"]
