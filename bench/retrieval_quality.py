"""Recall@1/5/10 of gold supporting paragraphs on IRCoT HotpotQA dev500, for BM25, dense and hybrid (RRF).

KB = every paragraph of the file (4,858 unique; 10 per question, 2 of them gold). Query = the question
text. recall@k = share of a question's gold paragraphs found in the top k, averaged over questions;
"both@k" = share of questions with both gold paragraphs in the top k. Dense = the bundled
all-MiniLM-L6-v2 (no prefixes); hybrid = RRF (k=60) of BM25 and dense top-50 lists.

    python bench/retrieval_quality.py            # all 500 questions, KB of 4,858 paragraphs
    python bench/retrieval_quality.py --quick    # first 50 questions, KB of their ~500 paragraphs

Needs ``../shared/data`` (or ASEARCHER_SHARED_DATA) and the ``dense`` extra. The last line is
``hybrid_recall@5: <value>``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_FILE = Path(os.environ.get("ASEARCHER_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) \
    / "hotpotqa_ircot_dev500" / "dev_subsampled.jsonl"
KS = (1, 5, 10)
BOTH_KS = (5, 10)  # with k=1 both gold paragraphs can never be in the top k


def _gold(records: list[dict]) -> list[tuple[str, set[str]]]:
    from asearcher.knowledge.corpus import paragraph_id

    out = []
    for r in records:
        gold = {paragraph_id(str(c.get("title", "")), c["paragraph_text"].strip())
                for c in r["contexts"] if c.get("is_supporting")}
        out.append((r["question_text"], gold))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="first 50 questions and only their paragraphs")
    ap.add_argument("--file", default=str(DEFAULT_FILE), help="IRCoT processed-data jsonl")
    ap.add_argument("--dense-model", default=None, help="sentence-transformers model (default: bundled MiniLM)")
    args = ap.parse_args()

    from asearcher.knowledge.corpus import load_passages
    from asearcher.knowledge.kb import KnowledgeBase, build_kb

    path = Path(args.file)
    if not path.is_file():
        print(f"error: {path} not found (set ASEARCHER_SHARED_DATA or pass --file)", file=sys.stderr)
        return 2
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if args.quick:
        records = records[:50]
    questions = [(q, g) for q, g in _gold(records) if g]
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "subset.jsonl"
        corpus.write_text("".join(json.dumps(r) + "\n" for r in records))
        passages = load_passages(corpus, "ircot")
        t0 = time.perf_counter()
        build_kb(passages, Path(tmp) / "kb", dense=True, dense_model=args.dense_model, source=str(path))
        print(f"KB: {len(passages):,} paragraphs, {len(questions)} questions; BM25 + dense built in "
              f"{time.perf_counter() - t0:.1f}s", flush=True)
        kb = KnowledgeBase.open(Path(tmp) / "kb")
        print(f"\n{'retriever':10s} " + " ".join(f"{'recall@' + str(k):>10s}" for k in KS)
              + " " + " ".join(f"{'both@' + str(k):>8s}" for k in BOTH_KS) + f" {'s/query':>9s}")
        results = {}
        for retriever in ("bm25", "dense", "hybrid"):
            t0 = time.perf_counter()
            ranked = kb.search_many([q for q, _ in questions], max(KS), retriever)
            per_q = (time.perf_counter() - t0) / len(questions)
            recall = {k: sum(len(g & {h.id for h in hits[:k]}) / len(g) for (_, g), hits in zip(questions, ranked,
                          strict=True)) / len(questions) for k in KS}
            both = {k: sum(g <= {h.id for h in hits[:k]} for (_, g), hits in zip(questions, ranked, strict=True))
                    / len(questions) for k in BOTH_KS}
            results[retriever] = recall
            print(f"{retriever:10s} " + " ".join(f"{recall[k]:10.3f}" for k in KS) + " "
                  + " ".join(f"{both[k]:8.3f}" for k in BOTH_KS) + f" {per_q:9.4f}")
    print(f"hybrid_recall@5: {results['hybrid'][5]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
