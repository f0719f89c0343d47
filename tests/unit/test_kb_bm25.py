"""BM25 index: tokenisation, hand-checked ranking, tie-breaking, save/load, and the KB directory."""

from __future__ import annotations

import math

import numpy as np
import pytest

from asearcher.errors import ConfigError, DataError
from asearcher.knowledge.bm25 import BM25Index, tokenize, top_k
from asearcher.knowledge.corpus import Passage, iter_passages
from asearcher.knowledge.kb import KnowledgeBase, build_kb

DOCS = ["the cat sat on the mat", "dogs chase cats", "a bird sang", "cat cat cat"]


def test_tokenize_lowercases_stems_and_drops_stopwords():
    assert tokenize("The Cats are Running to the Markets!") == ["cat", "run", "market"]
    assert tokenize("a I the") == []


def test_bm25_scores_match_lucene_formula():
    index = BM25Index.build(DOCS)
    # Lucene BM25: idf = ln(1 + (N - df + 0.5) / (df + 0.5)); tf part = tf / (tf + k1 (1 - b + b |d| / avgdl))
    n, k1, b = 4, 1.5, 0.75
    lengths = [3, 3, 2, 3]  # tokens after stopwords: [cat sat mat], [dog chase cat], [bird sang], [cat cat cat]
    avg = sum(lengths) / n
    idf = math.log(1 + (n - 3 + 0.5) / (3 + 0.5))

    def score(tf, dl):
        return idf * tf / (tf + k1 * (1 - b + b * dl / avg))

    scores = index.scores("cat")
    expected = [score(1, 3), score(1, 3), 0.0, score(3, 3)]
    assert np.allclose(scores, expected, atol=1e-5)
    assert [i for i, _ in index.search("cat", 10)] == [3, 0, 1]
    assert index.search("zebra", 3) == []
    assert index.rank_of("cat", 0) == 2 and index.rank_of("cat", 2) is None


def test_top_k_breaks_ties_by_lower_index():
    scores = np.array([0.0, 2.0, 5.0, 2.0, 2.0, 1.0])
    assert top_k(scores, 3) == [(2, 5.0), (1, 2.0), (3, 2.0)]
    assert top_k(scores, 10) == [(2, 5.0), (1, 2.0), (3, 2.0), (4, 2.0), (5, 1.0)]


def test_save_and_load_round_trip(tmp_path):
    index = BM25Index.build(DOCS)
    index.save(tmp_path / "bm25")
    again = BM25Index.load(tmp_path / "bm25")
    assert again.search("cats sat", 4) == index.search("cats sat", 4)
    with pytest.raises(DataError, match="not a BM25 index"):
        BM25Index.load(tmp_path)


def test_kb_build_open_and_search(tmp_path):
    passages = [Passage(str(i), f"Doc {i}", t, f"https://x.local/{i}" if i == 1 else None) for i, t in enumerate(DOCS)]
    build_kb(passages, tmp_path / "kb", source="test")
    kb = KnowledgeBase.open(tmp_path / "kb")
    hits = kb.search("cat", 2)
    assert [h.id for h in hits] == ["3", "0"] and hits[0].contents == "cat cat cat" and hits[0].title == "Doc 3"
    assert hits[0].score > hits[1].score
    assert kb.search("chase", 1)[0].url == "https://x.local/1"
    with pytest.raises(ConfigError, match="dense"):
        kb.search("cat", 2, "hybrid")
    # rebuilding replaces the KB in place
    build_kb(passages[:2], tmp_path / "kb")
    assert len(KnowledgeBase.open(tmp_path / "kb").passages) == 2


def test_kb_build_fails_cleanly_on_a_bad_corpus_line(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "0", "contents": "\\"T\\"\\nfine"}\n{"id": "1"}\n')
    with pytest.raises(DataError, match=r"c.jsonl:2: missing field 'contents'"):
        build_kb(iter_passages(corpus), tmp_path / "kb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.jsonl"]  # no half-built index left behind


def test_kb_refuses_to_replace_a_non_kb_directory(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "precious.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not a KB directory"):
        build_kb([Passage("0", "T", "text")], tmp_path / "out")
    assert (tmp_path / "out" / "precious.txt").read_text() == "keep me"


def test_importing_bm25s_keeps_jax_off_the_gpu():
    # bm25s initialises JAX at import when it is installed; JAX's default would then take 75 % of a GPU
    import os
    import subprocess
    import sys

    code = ("import os, sys; sys.modules['jax'] = None; from asearcher.knowledge.bm25 import tokenize; "
            "tokenize('warm up'); print(os.environ.get('JAX_PLATFORMS'), os.environ.get('XLA_PYTHON_CLIENT_PREALLOCATE'))")
    env = {k: v for k, v in os.environ.items() if k not in ("JAX_PLATFORMS", "XLA_PYTHON_CLIENT_PREALLOCATE")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["cpu", "false"]
    env["JAX_PLATFORMS"] = "cuda"  # a user's own setting wins
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["cuda", "false"]
