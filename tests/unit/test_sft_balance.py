"""Relation-balanced choice of warm-start questions (``sft.balance_relations``)."""

from __future__ import annotations

import random
from collections import Counter

from asearcher.trainer.sft import balanced_by_relation
from asearcher.types import Example


def _q(i: int, hops: int, kind: str, rels: list[str]) -> Example:
    chain = [{"relation": r, "title": f"t{i}", "query": "q", "fact": "f", "bridge": "b"} for r in rels]
    return Example(id=f"q{i}", question="?", answers=["a"], meta={"hops": hops, "type": kind, "chain": chain})


def _pool(seed: int = 0) -> list[Example]:
    rng = random.Random(seed)
    common, rare = ["born"] * 12 + ["founded"] * 8, ["genre", "setting", "venue"]
    pool = []
    for i in range(600):
        kind = i % 3
        if kind == 0:
            pool.append(_q(i, 1, "chain", [rng.choice(common + rare)]))
        elif kind == 1:
            pool.append(_q(i, 2, "chain", [rng.choice(common + rare), rng.choice(common)]))
        else:
            pool.append(_q(i, 2, "comparison", ["born", "born"]))
    rng.shuffle(pool)
    return pool


def test_kinds_keep_their_share_and_rare_relations_catch_up():
    pool = _pool()
    got = balanced_by_relation(pool, 60)
    assert len(got) == 60 and len({q.id for q in got}) == 60
    kinds = Counter((q.meta["hops"], q.meta["type"]) for q in got)
    assert kinds == {(1, "chain"): 20, (2, "chain"): 20, (2, "comparison"): 20}
    rels = Counter(h["relation"] for q in got for h in q.meta["chain"])
    plain = Counter(h["relation"] for q in pool[:60] for h in q.meta["chain"])
    for r in ("genre", "setting", "venue"):
        assert rels[r] >= 8 > plain[r]  # ~3 each when taken in pool order
    assert [q.id for q in got] == [q.id for q in pool if q in got]  # pool order kept
    assert balanced_by_relation(pool, 60) == got  # deterministic


def test_quotas_sum_to_n_and_small_or_chainless_pools_pass_through():
    pool = _pool(1)
    for n in (1, 7, 59, 61):
        assert len(balanced_by_relation(pool, n)) == n
    assert balanced_by_relation(pool[:5], 10) == pool[:5]
    plain = [Example(id=f"p{i}", question="?", answers=["a"]) for i in range(10)]
    assert balanced_by_relation(plain, 4) == plain[:4]
