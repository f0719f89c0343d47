"""BM25 index over passages with ``bm25s`` (Lucene BM25, k1=1.5, b=0.75) and PyStemmer stemming.

Talks to: ``bm25s`` (index construction, on-disk format), PyStemmer, numpy. Used by ``knowledge.kb`` and
by the world generator, which checks its oracle queries against exactly this index.

Scoring: bm25s precomputes each (term, document) BM25 weight in a CSC matrix; a query's score for a
document is the sum over query tokens (repeats count) of those weights. Search sums the postings of
the query tokens with one ``np.bincount`` and selects the top k with ``argpartition`` (ties: lower
document index first), which keeps p50 latency around a millisecond on 100k passages.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

_WORD = re.compile(r"(?u)\b\w\w+\b")
_local = threading.local()
TOKENIZER = "regex-w2+/lower/bm25s-en-stopwords/snowball-english"


def _import_bm25s():
    """``import bm25s``, keeping JAX off the GPU: when JAX is installed, bm25s runs a JAX top-k at import
    (a selection path this module does not use), and JAX's default then preallocates 75 % of a GPU's memory
    in this process — measured on an H200: the trainer next to it ran out of memory. Set ``JAX_PLATFORMS``
    yourself to change this."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    import bm25s

    return bm25s


def _stopwords() -> frozenset[str]:
    sw = getattr(_local, "stopwords", None)
    if sw is None:
        _import_bm25s()
        from bm25s.stopwords import STOPWORDS_EN

        sw = _local.stopwords = frozenset(STOPWORDS_EN)
    return sw


def _stemmer():
    # PyStemmer objects are not thread-safe: one per thread.
    st = getattr(_local, "stemmer", None)
    if st is None:
        import Stemmer

        st = _local.stemmer = Stemmer.Stemmer("english")
    return st


def tokenize(text: str) -> list[str]:
    """Lowercase words of 2+ word characters, English stopwords removed, Snowball-stemmed."""
    stop = _stopwords()
    words = [w for w in _WORD.findall(text.lower()) if w not in stop]
    return _stemmer().stemWords(words) if words else []


class BM25Index:
    """A BM25 index over documents 0..n-1 (the caller maps indices to passage ids)."""

    def __init__(self, model) -> None:
        self._model = model
        s = model.scores
        self._data = np.asarray(s["data"], dtype=np.float32)
        self._indices = np.asarray(s["indices"])
        self._indptr = np.asarray(s["indptr"])
        self.n_docs = int(s["num_docs"])
        self._vocab: dict[str, int] = model.vocab_dict

    @classmethod
    def build(cls, texts: Iterable[str]) -> BM25Index:
        """Index ``texts`` (document i = the i-th text)."""
        bm25s = _import_bm25s()
        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every build at DEBUG
        tokens = [tokenize(t) for t in texts]
        model = bm25s.BM25()
        model.index(tokens, show_progress=False)
        return cls(model)

    def save(self, directory: str | Path) -> None:
        """Write the index files into ``directory`` (created)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self._model.save(str(d), show_progress=False)
        (d / "tokenizer.json").write_text(json.dumps({"tokenizer": TOKENIZER}))

    @classmethod
    def load(cls, directory: str | Path) -> BM25Index:
        """Load an index written by ``save``."""
        from asearcher.errors import DataError

        bm25s = _import_bm25s()

        d = Path(directory)
        info = d / "tokenizer.json"
        if not info.is_file():
            raise DataError(d, None, "not a BM25 index directory (no tokenizer.json); rebuild it with `kb build`")
        found = json.loads(info.read_text()).get("tokenizer")
        if found != TOKENIZER:
            raise DataError(d, None, f"index built with tokenizer {found!r}, this version uses {TOKENIZER!r}; rebuild it")
        return cls(bm25s.BM25.load(str(d), show_progress=False))

    def scores(self, query: str) -> np.ndarray | None:
        """BM25 score of every document for ``query``; None when no query token is in the vocabulary."""
        ids = [self._vocab[t] for t in tokenize(query) if t in self._vocab]
        if not ids:
            return None
        starts, ends = self._indptr[ids], self._indptr[np.asarray(ids) + 1]
        if len(ids) == 1:
            sl = slice(int(starts[0]), int(ends[0]))
            docs, weights = self._indices[sl], self._data[sl]
        else:
            docs = np.concatenate([self._indices[a:b] for a, b in zip(starts, ends, strict=True)])
            weights = np.concatenate([self._data[a:b] for a, b in zip(starts, ends, strict=True)])
        if docs.size == 0:
            return None
        return np.bincount(docs, weights=weights, minlength=self.n_docs)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Top-``k`` (document index, score) pairs with a positive score, best first."""
        scores = self.scores(query)
        if scores is None or k <= 0:
            return []
        return top_k(scores, k)

    def rank_of(self, query: str, doc: int) -> int | None:
        """1-based rank ``search`` would give ``doc`` (None if it does not match at all)."""
        scores = self.scores(query)
        if scores is None or scores[doc] <= 0:
            return None
        s = scores[doc]
        return int(np.count_nonzero(scores > s) + np.count_nonzero(scores[:doc] == s) + 1)


def top_k(scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Indices of the ``k`` largest positive scores, best first; ties go to the lower index."""
    positive = np.flatnonzero(scores > 0)
    if positive.size > k:
        part = np.argpartition(-scores[positive], k - 1)
        kth = scores[positive[part[k - 1]]]
        # Keep every candidate tied with the k-th score so the tie-break below is exact.
        positive = positive[scores[positive] >= kth]
    order = np.lexsort((positive, -scores[positive]))[:k]
    chosen = positive[order]
    return [(int(i), float(scores[i])) for i in chosen]
