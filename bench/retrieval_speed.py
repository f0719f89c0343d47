"""Search latency and throughput of the project's BM25 over ≥ 100k passages, against rank_bm25 in the same run.

Corpus: a generated world (default 40,000 entities ≈ 144k passages, cached in
``$ASEARCHER_HOME/worlds``). Queries: the world's oracle chain queries and its question texts, mixed
half and half. All engines index the same tokens (``asearcher.knowledge.bm25.tokenize``) and search
single-threaded, one query at a time. Latency is measured per call (top-10); QPS = calls / total time.

    python bench/retrieval_speed.py            # full: 40k entities, 1000 queries (rank_bm25: 60)
    python bench/retrieval_speed.py --quick    # ~15k passages, 200 queries (rank_bm25: 40), < 1 min

The last line is ``bm25_speedup_vs_rank_bm25: <p50 ratio>x``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def _queries(world: Path, n: int, seed: int = 0) -> list[str]:
    records = [json.loads(line) for line in (world / "questions" / "train.jsonl").read_text().splitlines()]
    rng = random.Random(seed)
    rng.shuffle(records)
    oracle = [h["query"] for r in records for h in r["chain"]]
    questions = [r["question"] for r in records]
    return [q for pair in zip(oracle[: n // 2], questions[: n - n // 2], strict=False) for q in pair][:n]


def _measure(fn, queries: list[str]) -> dict[str, float]:
    fn(queries[0])  # warm-up
    lat = []
    t0 = time.perf_counter()
    for q in queries:
        t = time.perf_counter()
        fn(q)
        lat.append(time.perf_counter() - t)
    total = time.perf_counter() - t0
    lat_ms = np.array(lat) * 1000
    return {"p50_ms": float(np.percentile(lat_ms, 50)), "p95_ms": float(np.percentile(lat_ms, 95)),
            "qps": len(queries) / total, "n": len(queries)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller world and fewer queries (< 1 min)")
    ap.add_argument("--entities", type=int, help="world size (default 40000, quick 4000)")
    ap.add_argument("--queries", type=int, help="queries for our BM25 (default 1000, quick 200)")
    ap.add_argument("--rank-bm25-queries", type=int, help="queries for rank_bm25 (default 60, quick 40)")
    ap.add_argument("--world", help="use this world directory (generated there if missing)")
    args = ap.parse_args()
    entities = args.entities or (4000 if args.quick else 40_000)
    n_q = args.queries or (200 if args.quick else 1000)
    n_rank = args.rank_bm25_queries or (40 if args.quick else 60)

    from asearcher.config.world import WorldConfig
    from asearcher.knowledge.bm25 import tokenize
    from asearcher.knowledge.kb import KnowledgeBase
    from asearcher.world import ensure_world

    t0 = time.perf_counter()
    world = ensure_world(WorldConfig(entities=entities, dir=args.world))
    print(f"world {world} ready in {time.perf_counter() - t0:.1f}s", flush=True)
    t0 = time.perf_counter()
    kb = KnowledgeBase.open(world / "kb", dense=False)
    print(f"KB loaded: {len(kb.passages):,} passages in {time.perf_counter() - t0:.1f}s", flush=True)
    queries = _queries(world, n_q)
    print(f"queries: {len(queries)} (mean {statistics.mean(len(tokenize(q)) for q in queries):.1f} tokens)")

    rows = {"asearcher BM25 (bm25s index, KB.search top-10)": _measure(lambda q: kb.search(q, 10), queries)}
    sub = queries[:n_rank]
    rows["asearcher BM25, same subset as rank_bm25"] = _measure(lambda q: kb.search(q, 10), sub)

    import bm25s

    model = kb.bm25._model
    rows["bm25s retrieve() on the same index"] = _measure(
        lambda q: model.retrieve([tokenize(q) or [""]], k=10, show_progress=False, n_threads=1), sub)

    from rank_bm25 import BM25Okapi

    t0 = time.perf_counter()
    rank = BM25Okapi([tokenize(p.index_text()) for p in kb.passages])
    print(f"rank_bm25 index built in {time.perf_counter() - t0:.1f}s", flush=True)

    def rank_search(q: str):
        scores = rank.get_scores(tokenize(q))
        top = np.argpartition(-scores, 10)[:10]
        return top[np.argsort(-scores[top])]

    rows["rank_bm25 BM25Okapi (get_scores + top-10)"] = _measure(rank_search, sub)

    print(f"\n{'engine':52s} {'n':>5s} {'p50 ms':>9s} {'p95 ms':>9s} {'QPS':>9s}   ({len(kb.passages):,} passages, "
          f"bm25s {bm25s.__version__}, 1 thread)")
    for name, r in rows.items():
        print(f"{name:52s} {r['n']:5d} {r['p50_ms']:9.2f} {r['p95_ms']:9.2f} {r['qps']:9.1f}")
    ours = rows["asearcher BM25, same subset as rank_bm25"]
    theirs = rows["rank_bm25 BM25Okapi (get_scores + top-10)"]
    print(f"QPS ratio (same queries): {ours['qps'] / theirs['qps']:.1f}x")
    print(f"bm25_speedup_vs_rank_bm25: {theirs['p50_ms'] / ours['p50_ms']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
