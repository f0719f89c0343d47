"""``asearcher kb``: build, query and serve local knowledge-base indexes."""

from __future__ import annotations

import argparse
import json

from asearcher.knowledge.corpus import FORMATS

RETRIEVERS = ("bm25", "dense", "hybrid")


def add_parser(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="kb_cmd", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="index a corpus file (BM25, optionally dense) into --out")
    build.add_argument("--corpus", required=True, help="passage file: wiki-18 jsonl, {id,title,text} json(l), or a "
                       "multi-hop QA file (IRCoT, HotpotQA/2Wiki, MuSiQue, HippoRAG corpus)")
    build.add_argument("--out", required=True, help="KB directory (replaced atomically if it exists)")
    build.add_argument("--format", choices=FORMATS, help="corpus format (default: detected from the first record)")
    build.add_argument("--dense", action="store_true", help="also build a dense FAISS index (extra `dense`)")
    build.add_argument("--dense-model", help="sentence-transformers name or path (default: bundled all-MiniLM-L6-v2)")

    search = sub.add_parser("search", help="query a KB directory")
    search.add_argument("--index", required=True, help="KB directory from `kb build`")
    search.add_argument("--topk", type=int, default=3)
    search.add_argument("--retriever", choices=RETRIEVERS, default="bm25")
    search.add_argument("--pages", help="pages.jsonl, to give hits their page URLs")
    search.add_argument("--json", action="store_true", help="print a JSON list of hits")
    search.add_argument("query")

    serve = sub.add_parser("serve", help="serve a KB over HTTP (/retrieve, /access, /health)")
    serve.add_argument("--index", required=True, help="KB directory from `kb build`")
    serve.add_argument("--pages", help="pages.jsonl for /access")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--retriever", choices=RETRIEVERS, default="bm25", help="default retriever of /retrieve")


def _tools(args: argparse.Namespace):
    from asearcher.knowledge.kb import KnowledgeBase
    from asearcher.knowledge.local import LocalTools
    from asearcher.knowledge.pages import load_pages

    kb = KnowledgeBase.open(args.index, dense=None if args.kb_cmd == "serve" else args.retriever != "bm25")
    return LocalTools(kb, load_pages(args.pages) if args.pages else None, args.retriever)


def run(args: argparse.Namespace) -> int:
    if args.kb_cmd == "build":
        import time

        from asearcher.knowledge.corpus import iter_passages
        from asearcher.knowledge.kb import build_kb, read_meta

        t0 = time.perf_counter()
        out = build_kb(iter_passages(args.corpus, args.format), args.out, dense=args.dense,
                       dense_model=args.dense_model, source=str(args.corpus))
        meta = read_meta(out)
        print(f"KB written to {out} in {time.perf_counter() - t0:.1f}s: {meta['n_passages']} passages, "
              f"BM25{' + dense (' + meta['dense']['model'] + ')' if meta['dense'] else ''}")
        return 0
    if args.kb_cmd == "search":
        hits = _tools(args).search_sync(args.query, args.topk)
        if args.json:
            print(json.dumps([h.model_dump() for h in hits], ensure_ascii=False, indent=1))
        else:
            for rank, h in enumerate(hits, 1):
                print(f"{rank}. [{h.id}] {h.title}  (score {h.score:.3f}){'  ' + h.url if h.url else ''}")
                print(f"   {h.contents[:300]}")
        return 0
    from asearcher.knowledge.server import serve

    serve(_tools(args), host=args.host, port=args.port)
    return 0
