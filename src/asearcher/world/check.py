"""The world checker: proves every question's answer is derivable from its supporting passages.

Talks to: the world directory's files and its BM25 KB (``knowledge.kb``). Run by ``asearcher world check``
and by the tests.

For every question it follows the chain: each hop's ``fact`` must be literally in its passage, that
passage must be about the entity the previous hop led to (hop 1: an entity named in the question),
the fact must state the hop's ``bridge``, the bridge must agree with ``entities.jsonl``, and the last
bridge must be an answer alias (comparisons: the answer is the entity whose value wins). It also checks
names are unique, pages repeat their passages' facts, ids are unique, and (reported, never failed) the
BM25 rank of each hop's passage for the hop's query.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from asearcher.errors import DataError
from asearcher.jsonl import iter_objects

_MAX_ERRORS = 50


@dataclass
class CheckReport:
    """What ``check_world`` found. ``ok`` is False when any error was found."""

    world_dir: str
    passages: int = 0
    pages: int = 0
    entities: int = 0
    questions: dict[str, int] = field(default_factory=dict)
    hops: dict[str, int] = field(default_factory=dict)
    """Questions per hop count (comparisons counted under "comparison")."""
    errors: list[str] = field(default_factory=list)
    n_errors: int = 0
    ranks: dict[str, int] = field(default_factory=dict)
    """BM25 rank of each hop's passage for its query: "1", "2", "3", "4-10", ">10" (or no match)."""

    @property
    def ok(self) -> bool:
        return self.n_errors == 0

    def error(self, msg: str) -> None:
        self.n_errors += 1
        if len(self.errors) < _MAX_ERRORS:
            self.errors.append(msg)

    def rank_rate(self, k: int) -> float | None:
        """Share of hop queries whose passage is in the BM25 top ``k`` (k ≤ 3)."""
        total = sum(self.ranks.values())
        if not total:
            return None
        return sum(self.ranks.get(str(i), 0) for i in range(1, k + 1)) / total

    def summary(self) -> str:
        lines = [f"world {self.world_dir}: {self.entities} entities, {self.passages} passages, {self.pages} pages",
                 f"questions: {self.questions}  by hops: {self.hops}"]
        if self.ranks:
            lines.append(f"BM25 rank of hop passages: {self.ranks}  top1={self.rank_rate(1):.3f} "
                         f"top3={self.rank_rate(3):.3f}")
        lines.append("OK: every answer is derivable from its supporting passages" if self.ok
                     else f"FAILED: {self.n_errors} problems")
        lines += [f"  - {e}" for e in self.errors]
        if self.n_errors > len(self.errors):
            lines.append(f"  … and {self.n_errors - len(self.errors)} more")
        return "\n".join(lines)


def _jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise DataError(path, None, "missing; regenerate the world with `asearcher world generate`")
    return [obj for _, obj in iter_objects(path, "(one record of a generated world)",
                                            hint="regenerate the world with `asearcher world generate`")]


def _norm(s: str) -> str:
    return " ".join(s.lower().split())


def _number(s: str) -> int | None:
    try:
        return int(s.replace(",", ""))
    except ValueError:
        return None


class _Checker:
    def __init__(self, d: Path, report: CheckReport):
        from asearcher.knowledge.corpus import split_wiki18
        from asearcher.world.render import format_value, page_url

        self.d, self.r = d, report
        self.format_value, self.page_url = format_value, page_url
        self.passages: dict[str, tuple[str, str]] = {}
        for i, rec in enumerate(_jsonl(d / "corpus.jsonl"), 1):
            if not isinstance(rec.get("id"), str) or not isinstance(rec.get("contents"), str):
                report.error(f"corpus.jsonl:{i}: needs string 'id' and 'contents'")
                continue
            if rec["id"] in self.passages:
                report.error(f"corpus.jsonl:{i}: duplicate passage id {rec['id']}")
            self.passages[rec["id"]] = split_wiki18(rec["contents"])
        self.entities = {e["name"]: e for e in _jsonl(d / "entities.jsonl")}
        self.pages = {p["title"]: p for p in _jsonl(d / "pages.jsonl")}
        report.passages, report.pages, report.entities = len(self.passages), len(self.pages), len(self.entities)

    def check_world_files(self) -> None:
        r = self.r
        folded = Counter(n.casefold() for n in self.entities)
        for name, n in folded.items():
            if n > 1:
                r.error(f"entity name {name!r} is used {n} times")
        if set(self.pages) != set(self.entities):
            r.error("pages.jsonl titles differ from entities.jsonl names")
        for name, e in self.entities.items():
            for rel, target in e.get("relations", {}).items():
                if target not in self.entities:
                    r.error(f"entity {name!r}: relation {rel} points to unknown entity {target!r}")
            twin = e.get("twin")
            if twin is not None and self.entities.get(twin, {}).get("twin") != name:
                r.error(f"entity {name!r}: twin {twin!r} does not point back")
            page = self.pages.get(name)
            if page is not None and page["url"] != self.page_url(name):
                r.error(f"page {name!r}: url {page['url']!r} is not {self.page_url(name)!r}")
        for pid, (title, text) in self.passages.items():
            page = self.pages.get(title)
            if page is None:
                r.error(f"passage {pid}: title {title!r} has no page")
            elif text not in page["contents"]:
                r.error(f"passage {pid}: its text is not on the page of {title!r} (facts would differ)")

    def _hop_ok(self, where: str, i: int, hop: dict) -> bool:
        r = self.r
        keys = ("query", "passage_id", "title", "fact", "bridge")
        if not all(isinstance(hop.get(k), str) for k in keys):
            r.error(f"{where}: chain[{i}] needs string fields {keys}")
            return False
        passage = self.passages.get(hop["passage_id"])
        if passage is None:
            r.error(f"{where}: chain[{i}] passage {hop['passage_id']} is not in the corpus")
            return False
        title, text = passage
        ok = True
        if title != hop["title"]:
            r.error(f"{where}: chain[{i}] passage {hop['passage_id']} is about {title!r}, not {hop['title']!r}")
            ok = False
        if hop["fact"] not in text:
            r.error(f"{where}: chain[{i}] fact {hop['fact']!r} is not in passage {hop['passage_id']}")
            ok = False
        if hop["bridge"] not in hop["fact"] or hop["title"] not in hop["fact"]:
            r.error(f"{where}: chain[{i}] fact does not state {hop['title']!r} → {hop['bridge']!r}")
            ok = False
        rel, ent = hop.get("relation"), self.entities.get(hop["title"])
        if rel and ent is not None:
            truth = ent["relations"].get(rel)
            if truth is None and rel in ent["attrs"]:
                truth = self.format_value(rel, ent["attrs"][rel])
            if truth != hop["bridge"]:
                r.error(f"{where}: chain[{i}] says {rel}({hop['title']}) = {hop['bridge']!r}, the world says {truth!r}")
                ok = False
        return ok

    def check_question(self, where: str, q: dict) -> None:
        r = self.r
        chain, answers = q.get("chain"), q.get("answer")
        if not isinstance(chain, list) or not chain or not isinstance(answers, list) or not answers:
            r.error(f"{where}: needs a non-empty 'chain' and 'answer' list")
            return
        if q.get("hops") != len(chain):
            r.error(f"{where}: hops={q.get('hops')} but the chain has {len(chain)} entries")
        if not all(self._hop_ok(where, i, hop) for i, hop in enumerate(chain)):
            return
        supporting = list(dict.fromkeys(h["passage_id"] for h in chain))
        if q.get("supporting") != supporting:
            r.error(f"{where}: supporting {q.get('supporting')} is not the chain's passages {supporting}")
        question, gold = q.get("question", ""), {_norm(a) for a in answers}
        if q.get("type") == "comparison":
            self._check_comparison(where, q, chain, question, gold)
            return
        if chain[0]["title"] not in question:
            r.error(f"{where}: the question does not name {chain[0]['title']!r}, where hop 1 starts")
        for i in range(1, len(chain)):
            if chain[i]["title"] != chain[i - 1]["bridge"]:
                r.error(f"{where}: hop {i + 1} reads about {chain[i]['title']!r}, "
                        f"but hop {i} led to {chain[i - 1]['bridge']!r}")
        if _norm(chain[-1]["bridge"]) not in gold:
            r.error(f"{where}: the chain ends at {chain[-1]['bridge']!r}, not an answer alias {answers}")

    def _check_comparison(self, where: str, q: dict, chain: list, question: str, gold: set[str]) -> None:
        r = self.r
        values = [_number(h["bridge"]) for h in chain]
        if len(chain) != 2 or None in values or values[0] == values[1]:
            r.error(f"{where}: a comparison needs two distinct numeric bridges, got {[h['bridge'] for h in chain]}")
            return
        for h in chain:
            if h["title"] not in question:
                r.error(f"{where}: the question does not name compared entity {h['title']!r}")
        pick = (q.get("compare") or {}).get("pick")
        if pick not in ("min", "max"):
            r.error(f"{where}: compare.pick must be min or max")
            return
        best = (min if pick == "min" else max)(range(2), key=lambda i: values[i])
        if _norm(chain[best]["title"]) not in gold:
            r.error(f"{where}: {pick} of {values} is {chain[best]['title']!r}, not the answer {q['answer']}")


def check_world(world_dir: str | Path, ranks: bool = True) -> CheckReport:
    """Check a world directory (see the module docstring); ``ranks`` adds the BM25 rank report.

    Returns:
        A ``CheckReport``; ``report.ok`` is False when any check failed.
    """
    from asearcher.world.generate import SPLITS

    d = Path(world_dir)
    report = CheckReport(str(d))
    if not (d / "world.json").is_file():
        report.error(f"{d}: no world.json (not a complete world)")
        return report
    checker = _Checker(d, report)
    checker.check_world_files()
    ids: set[str] = set()
    texts: set[str] = set()
    hops: Counter[str] = Counter()
    queries: list[tuple[str, str]] = []
    for split in SPLITS:
        records = _jsonl(d / "questions" / f"{split}.jsonl")
        report.questions[split] = len(records)
        for lineno, q in enumerate(records, 1):
            where = f"questions/{split}.jsonl:{lineno}"
            if q.get("id") in ids or q.get("question") in texts:
                report.error(f"{where}: duplicate question id or text")
            ids.add(q.get("id"))
            texts.add(q.get("question"))
            hops["comparison" if q.get("type") == "comparison" else str(q.get("hops"))] += 1
            checker.check_question(where, q)
            queries += [(h.get("query", ""), h.get("passage_id", "")) for h in q.get("chain") or []]
    report.hops = dict(sorted(hops.items()))
    if ranks:
        report.ranks = _rank_report(d, queries)
    return report


def _rank_report(d: Path, queries: list[tuple[str, str]]) -> dict[str, int]:
    from asearcher.knowledge.corpus import load_passages
    from asearcher.knowledge.kb import KnowledgeBase, build_kb

    kb_dir = d / "kb"
    if not (kb_dir / "meta.json").is_file():
        build_kb(load_passages(d / "corpus.jsonl", "wiki18"), kb_dir, source="world")
    kb = KnowledgeBase.open(kb_dir, dense=False)
    cache: dict[tuple[str, str], int | None] = {}
    hist: Counter[str] = Counter()
    for query, pid in queries:
        if (query, pid) not in cache:
            doc = kb.index_of(pid)
            cache[(query, pid)] = None if doc is None else kb.bm25.rank_of(query, doc)
        rank = cache[(query, pid)]
        hist[">10" if rank is None or rank > 10 else ("4-10" if rank > 3 else str(rank))] += 1
    return {k: hist.get(k, 0) for k in ("1", "2", "3", "4-10", ">10")}
