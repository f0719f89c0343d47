"""Shared fixtures: tiny random models with real tokenizers, scripted engines, temp run dirs.

The tiny models are built once per session with a fixed seed (STYLE habit 5). The bundled real model
(SmolLM2) is only used by tests marked ``slow``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = Path(os.environ.get("ASEARCHER_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ``../shared/data`` (real QA files); tests needing it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (set ASEARCHER_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_llama():
    """(model, tokenizer): 2-layer Llama, hidden 64, with the real SmolLM2 tokenizer (ChatML template)."""
    import torch

    from asearcher.models import build_tiny

    torch.set_num_threads(2)
    return build_tiny("tiny-llama", seed=0)


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_llama):
    """The real SmolLM2 tokenizer."""
    return tiny_llama[1]


@pytest.fixture(scope="session")
def tiny_qwen2():
    """(model, tokenizer): 2-layer Qwen2 with head_dim 64 (vLLM-loadable) and a tiny BPE tokenizer."""
    from asearcher.models import build_tiny

    return build_tiny("tiny-qwen2", seed=0)


@pytest.fixture
def fresh_tiny_llama():
    """A new tiny Llama per test (for tests that change weights)."""
    from asearcher.models import build_tiny

    return build_tiny("tiny-llama", seed=0)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """An empty run directory."""
    d = tmp_path / "run"
    d.mkdir()
    return d


@pytest.fixture(scope="session")
def small_world(tmp_path_factory) -> Path:
    """A small generated world (seed 0, 60 entities, up to 4 hops; ~1 s) with its BM25 KB in ``kb/``.

    Layout: ``corpus.jsonl``, ``pages.jsonl``, ``entities.jsonl``, ``questions/{train,dev,test}.jsonl``,
    ``kb/``, ``world.json`` (see ``asearcher.world.generate``). Treat it as read-only: it is shared.
    """
    from asearcher.world import generate_world

    return generate_world(tmp_path_factory.mktemp("world") / "w", seed=0, entities=60, max_hops=4)
