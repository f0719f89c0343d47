"""Dense retrieval: e5 prefixes (no download), the bundled MiniLM path, and a tiny real index."""

from __future__ import annotations

from pathlib import Path

import pytest

from asearcher.knowledge.dense import prefixes, resolve_model, with_prefix


@pytest.mark.parametrize("name, expected", [
    ("intfloat/e5-base-v2", ("query: ", "passage: ")),
    ("intfloat/multilingual-e5-large", ("query: ", "passage: ")),
    ("/models/e5_small", ("query: ", "passage: ")),
    ("all-MiniLM-L6-v2", ("", "")),
    ("BAAI/bge-base-en-v1.5", ("", "")),
    ("sentence-transformers/msmarco-e5ish-not", ("", "")),  # "e5ish" is not an e5 model
])
def test_e5_prefixes(name, expected):
    assert prefixes(name) == expected


def test_with_prefix():
    assert with_prefix(["who founded x", "y"], "query: ") == ["query: who founded x", "query: y"]


def test_bundled_minilm_resolves_to_local_files():
    path = Path(resolve_model("all-MiniLM-L6-v2"))
    assert (path / "config.json").is_file() and (path / "model.safetensors").is_file()
    assert resolve_model("intfloat/e5-base-v2") == "intfloat/e5-base-v2"


def test_dense_and_hybrid_search_on_a_tiny_kb(tmp_path):
    pytest.importorskip("faiss")
    pytest.importorskip("sentence_transformers")
    from asearcher.knowledge.corpus import Passage
    from asearcher.knowledge.kb import KnowledgeBase, build_kb

    texts = ["The violin is a string instrument played with a bow.",
             "Paris is the capital and largest city of France.",
             "Photosynthesis converts light energy into chemical energy in plants."]
    build_kb([Passage(str(i), f"T{i}", t) for i, t in enumerate(texts)], tmp_path / "kb", dense=True)
    kb = KnowledgeBase.open(tmp_path / "kb")
    assert kb.search("what is the French capital", 1, "dense")[0].id == "1"
    assert kb.search("how do leaves make sugar from sunlight", 1, "dense")[0].id == "2"
    hybrid = kb.search("violin bow instrument", 3, "hybrid")
    assert hybrid[0].id == "0" and len(hybrid) == 3
    assert KnowledgeBase.open(tmp_path / "kb", dense=False).dense is None
