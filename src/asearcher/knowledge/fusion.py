"""Hybrid retrieval by reciprocal-rank fusion (pure function; used by ``knowledge.kb``)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

RRF_K = 60


def rrf(rankings: Sequence[Sequence[Hashable]], k: int = RRF_K, topk: int | None = None) -> list[tuple[Hashable, float]]:
    """Fuse ranked lists by reciprocal-rank fusion.

    ``score(d) = sum over lists r containing d of 1 / (k + rank_r(d))`` with 1-based ranks
    (Cormack, Clarke & Buettcher, SIGIR 2009, eq. 1; k = 60 as in the paper).

    Args:
        rankings: ranked lists of document keys, best first (a key repeated in one list counts once,
            at its best rank).
        k: the rank offset; larger k flattens the contribution of top ranks.
        topk: keep only the best ``topk`` fused documents (None = all).

    Returns:
        (key, fused score) pairs, best first; ties keep first-seen order.
    """
    scores: dict[Hashable, float] = {}
    for ranking in rankings:
        seen: set[Hashable] = set()
        for rank, key in enumerate(ranking, 1):
            if key in seen:
                continue
            seen.add(key)
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    fused = sorted(scores.items(), key=lambda kv: -kv[1])  # stable: ties keep insertion order
    return fused if topk is None else fused[:topk]
