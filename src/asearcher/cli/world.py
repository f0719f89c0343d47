"""``asearcher world``: generate the procedural knowledge world and check it."""

from __future__ import annotations

import argparse
import json


def add_parser(parser: argparse.ArgumentParser) -> None:
    from asearcher.world.schema import WORDINGS

    sub = parser.add_subparsers(dest="world_cmd", metavar="ACTION", required=True)
    gen = sub.add_parser("generate", help="write corpus, pages, entities, questions and a BM25 KB into --out")
    gen.add_argument("--out", required=True, help="world directory (an existing world there is replaced)")
    gen.add_argument("--seed", type=int, default=0, help="generator seed; same seed = byte-identical files")
    gen.add_argument("--entities", type=int, default=400, help="number of entities (~3.5 passages each)")
    gen.add_argument("--max-hops", type=int, default=4, help="longest chain question (1..8)")
    gen.add_argument("--passage-words", type=int, default=100,
                     help="target passage length in words (100 = wiki-18 style; fewer = shorter search results)")
    gen.add_argument("--wording", choices=WORDINGS, default="varied",
                     help="a relation's passage wording: drawn per entity (varied) or one per relation (fixed)")
    chk = sub.add_parser("check", help="prove every answer is derivable from its supporting passages")
    chk.add_argument("dir", help="world directory")
    chk.add_argument("--no-ranks", action="store_true", help="skip the BM25 rank report of oracle queries")
    chk.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    import time

    from asearcher.world import check_world, generate_world

    if args.world_cmd == "generate":
        t0 = time.perf_counter()
        out = generate_world(args.out, seed=args.seed, entities=args.entities, max_hops=args.max_hops,
                             passage_words=args.passage_words, wording=args.wording)
        meta = json.loads((out / "world.json").read_text())
        print(f"world written to {out} in {time.perf_counter() - t0:.1f}s: {meta['passages']} passages, "
              f"{meta['pages']} pages, questions {meta['questions']}")
        return 0
    report = check_world(args.dir, ranks=not args.no_ranks)
    if args.json:
        print(json.dumps({**report.__dict__, "ok": report.ok}, indent=1))
    else:
        print(report.summary())
    return 0 if report.ok else 1
