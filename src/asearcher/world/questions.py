"""Questions over the world: compositional chains of 1..K hops and two-entity comparisons, each with the
oracle search path (query → passage → fact → bridge) that the SFT warm start imitates.

Talks to: ``world.build`` (facts), ``world.render`` (where each fact is written), ``knowledge.bm25``
(every oracle query is checked to put its passage in the top 3 of the project's BM25; facts whose
query fails are not used). Used by ``world.generate``.

A chain question asks about the last entity reached by following functional relations from a named
start entity: "Where was the founder of the company that published the novel "X" born?" names X; hop 1
reads X's passage to find the publisher, hop 2 the publisher's passage to find the founder, hop 3 the
founder's passage to find the birthplace, which is the answer. Each hop but the last also records the
``next_question`` that remains once its bridge is known ("Where was the founder of Obel Press born?").
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field

from asearcher.knowledge.bm25 import BM25Index
from asearcher.world.build import Entity, WorldGraph
from asearcher.world.render import COUNT_RELATIONS, Renderer
from asearcher.world.schema import COMPARISONS, RELS_OF, WORK_KINDS, Rel

log = logging.getLogger(__name__)

ORACLE_TOPK = 3
COMPARISON = "comparison"


@dataclass
class OracleStats:
    """How often a fact's oracle query put its passage in the top k (before unusable facts are dropped)."""

    checked: int = 0
    top1: int = 0
    topk: int = 0
    ranks: dict[tuple[int, str], int | None] = field(default_factory=dict)


def _kind_words(e: Entity) -> dict[str, str]:
    if e.type != "work":
        return {}
    return {k: v for k, v in WORK_KINDS[e.kind].items() if isinstance(v, str)}


def _mention(e: Entity, rng: random.Random) -> str:
    """How a question names the start entity."""
    if e.type == "work":
        return f'the {e.kind} "{e.name}"'
    if e.type == "event":
        return f"the {e.name}"
    if e.type == "city" and rng.random() < 0.3:
        return f"the city of {e.name}"
    if e.type == "org" and rng.random() < 0.3:
        return f"the company {e.name}"
    return e.name


def _bare(e: Entity) -> str:
    return f'"{e.name}"' if e.type == "work" else (f"the {e.name}" if e.type == "event" else e.name)


def _aliases(rel: str, value: str) -> list[str]:
    if rel in COUNT_RELATIONS and "," in value:
        return [value, value.replace(",", "")]
    return [value]


class QuestionMaker:
    """Draws questions and keeps only those whose every hop is findable by its oracle query."""

    def __init__(self, graph: WorldGraph, renderer: Renderer, bm25: BM25Index, seed: int, max_hops: int):
        self.g, self.r, self.bm25 = graph, renderer, bm25
        self.rng = random.Random(f"asearcher-questions-{seed}")
        self.max_hops = max_hops
        self.stats = OracleStats()
        self.by_type = {t: graph.of_type(t) for t in RELS_OF}

    def _findable(self, e: Entity, rel: str) -> bool:
        key = (e.idx, rel)
        if key not in self.stats.ranks:
            fact = self.r.facts[key]
            rank = self.bm25.rank_of(fact.query, fact.passage)
            self.stats.ranks[key] = rank
            self.stats.checked += 1
            self.stats.top1 += rank == 1
            self.stats.topk += rank is not None and rank <= ORACLE_TOPK
        rank = self.stats.ranks[key]
        return rank is not None and rank <= ORACLE_TOPK

    def _hop(self, e: Entity, rel: str) -> dict:
        fact = self.r.facts[(e.idx, rel)]
        return {"query": fact.query, "passage_id": str(fact.passage), "title": e.name,
                "fact": fact.sentence, "bridge": fact.value, "relation": rel}

    def chain(self, hops: int) -> tuple[tuple, dict] | None:
        """One chain question of ``hops`` hops, or None when this draw leads nowhere."""
        rng = self.rng
        path = [rng.choice(self.g.entities)]
        rels: list[Rel] = []
        for i in range(hops):
            e = path[-1]
            visited = {p.idx for p in path}
            links = [r for r in RELS_OF[e.type] if r.name in e.rels and e.rels[r.name] not in visited]
            attrs = [r for r in RELS_OF[e.type] if r.target is None and r.name in e.attrs]
            options = links if i < hops - 1 else (attrs if attrs and (not links or rng.random() < 0.5) else links)
            options = [r for r in options if self._findable(e, r.name)]
            if not options:
                return None
            r = rng.choice(options)
            rels.append(r)
            if r.target:
                path.append(self.g.entities[e.rels[r.name]])
        start = _mention(path[0], rng)
        nps = [rng.choice(r.np) for r in rels[:-1]]
        ask = rng.choice(rels[-1].ask)

        def phrase(x: str, level: int) -> str:
            """The question with the entity reached after ``level`` hops named as ``x``."""
            for i in range(level, hops - 1):
                x = nps[i].format(x=x, **_kind_words(path[i]))
            text = ask.format(x=x, **_kind_words(path[hops - 1]))
            return text[0].upper() + text[1:]

        chain = [self._hop(path[i], r.name) for i, r in enumerate(rels)]
        for k in range(hops - 1):
            chain[k]["next_question"] = phrase(_bare(path[k + 1]), k + 1)
        record = {"question": phrase(start, 0), "answer": _aliases(rels[-1].name, chain[-1]["bridge"]),
                  "hops": hops, "type": "chain", "supporting": _unique([c["passage_id"] for c in chain]),
                  "chain": chain}
        return (path[0].idx, tuple(r.name for r in rels)), record

    def comparison(self) -> tuple[tuple, dict] | None:
        """One comparison question, or None when this draw fails (equal values, unfindable facts)."""
        rng = self.rng
        comp = rng.choice(COMPARISONS)
        pool = self.by_type[comp.etype]
        a = rng.choice(pool)
        b = self.g.entities[a.twin] if a.twin is not None and rng.random() < 0.5 else rng.choice(pool)
        if a.idx == b.idx or a.attrs.get(comp.attr) is None or b.attrs.get(comp.attr) is None:
            return None
        if a.attrs[comp.attr] == b.attrs[comp.attr]:
            return None
        if not (self._findable(a, comp.attr) and self._findable(b, comp.attr)):
            return None
        pick = min if comp.pick == "min" else max
        winner = pick((a, b), key=lambda e: e.attrs[comp.attr])
        text = rng.choice(comp.ask).format(a=_bare(a), b=_bare(b))
        chain = [self._hop(a, comp.attr), self._hop(b, comp.attr)]
        record = {"question": text[0].upper() + text[1:], "answer": [winner.name], "hops": 2, "type": COMPARISON,
                  "supporting": _unique([c["passage_id"] for c in chain]), "chain": chain,
                  "compare": {"relation": comp.attr, "pick": comp.pick}}
        return (comp.attr, min(a.idx, b.idx), max(a.idx, b.idx)), record

    def generate(self, sizes: dict[str, int], seed: int) -> dict[str, list[dict]]:
        """Question splits of the given sizes, balanced over hop counts 1..K and comparisons."""
        categories: list[int | str] = [*range(1, self.max_hops + 1), COMPARISON]
        per_split = {s: _spread(n, len(categories)) for s, n in sizes.items()}
        pools: dict[int | str, list[dict]] = {}
        seen: set[tuple] = set()
        for ci, cat in enumerate(categories):
            need = sum(per_split[s][ci] for s in sizes)
            got: list[dict] = []
            for _ in range(40 * need + 200):
                if len(got) >= need:
                    break
                made = self.comparison() if cat == COMPARISON else self.chain(cat)
                if made is None or made[0] in seen:
                    continue
                seen.add(made[0])
                got.append(made[1])
            if len(got) < need:
                log.warning("only %d of %d questions of kind %s could be drawn", len(got), need, cat)
            pools[cat] = got
        splits: dict[str, list[dict]] = {s: [] for s in sizes}
        for ci, cat in enumerate(categories):
            pool = pools[cat]
            for s in sorted(sizes, key=lambda s: s == "train"):  # eval splits first: they must be balanced
                take = per_split[s][ci]
                splits[s] += pool[:take]
                pool = pool[take:]
        for s, records in splits.items():
            self.rng.shuffle(records)
            splits[s] = [{"id": f"w{seed}-{s}-{i:05d}", **rec} for i, rec in enumerate(records)]
        return splits


def _spread(n: int, k: int) -> list[int]:
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def _unique(ids: list[str]) -> list[str]:
    out: list[str] = []
    for i in ids:
        if i not in out:
            out.append(i)
    return out
