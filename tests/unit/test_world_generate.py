"""World generation: determinism, schema, balance, the checker (and that it catches broken worlds)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from asearcher.config.world import WorldConfig
from asearcher.errors import DataError
from asearcher.types import Example
from asearcher.world import check_world, ensure_world, generate_world, is_world, load_questions

FILES = ["world.json", "corpus.jsonl", "pages.jsonl", "entities.jsonl",
         "questions/train.jsonl", "questions/dev.jsonl", "questions/test.jsonl"]


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_same_seed_gives_byte_identical_files(small_world, tmp_path):
    again = generate_world(tmp_path / "again", seed=0, entities=60, max_hops=4)
    for name in FILES:
        assert (again / name).read_bytes() == (small_world / name).read_bytes(), name
    other = generate_world(tmp_path / "other", seed=1, entities=60, max_hops=4)
    assert (other / "corpus.jsonl").read_bytes() != (small_world / "corpus.jsonl").read_bytes()


def test_checker_passes_and_reports_bm25_ranks(small_world):
    report = check_world(small_world)
    assert report.ok, report.summary()
    assert report.passages > 100 and report.entities == 60
    # every oracle query puts its passage in the top 3 (the generator drops facts where it would not)
    assert report.rank_rate(3) == 1.0
    assert sum(report.ranks.values()) > 0 and report.ranks["4-10"] == report.ranks[">10"] == 0


def test_files_follow_the_documented_schema(small_world):
    corpus = _jsonl(small_world / "corpus.jsonl")
    assert set(corpus[0]) == {"id", "contents"} and corpus[0]["contents"].startswith('"')
    pages = _jsonl(small_world / "pages.jsonl")
    assert set(pages[0]) == {"url", "title", "contents"}
    assert pages[0]["url"] == "https://world.local/wiki/" + pages[0]["title"].replace(" ", "_")
    entities = _jsonl(small_world / "entities.jsonl")
    assert {e["type"] for e in entities} == {"person", "city", "org", "work", "event"}
    assert any("twin" in e for e in entities)
    q = _jsonl(small_world / "questions" / "test.jsonl")[0]
    assert {"id", "question", "answer", "hops", "type", "supporting", "chain"} <= set(q)
    hop = q["chain"][0]
    assert {"query", "passage_id", "title", "fact", "bridge"} <= set(hop)
    assert q["hops"] == len(q["chain"])


def test_questions_are_balanced_over_hops_and_comparisons(small_world):
    meta = json.loads((small_world / "world.json").read_text())
    assert meta["questions"] == {"train": 600, "dev": 30, "test": 45}
    for split in ("dev", "test"):
        records = _jsonl(small_world / "questions" / f"{split}.jsonl")
        kinds = [r["type"] if r["type"] == "comparison" else r["hops"] for r in records]
        counts = {k: kinds.count(k) for k in (1, 2, 3, 4, "comparison")}
        assert max(counts.values()) - min(counts.values()) <= 1, counts
    comparisons = [r for r in _jsonl(small_world / "questions" / "train.jsonl") if r["type"] == "comparison"]
    assert comparisons and all(len(r["chain"]) == 2 and r["hops"] == 2 for r in comparisons)


def test_chain_last_bridge_is_the_answer(small_world):
    for r in _jsonl(small_world / "questions" / "dev.jsonl"):
        if r["type"] == "chain":
            assert r["chain"][-1]["bridge"] in r["answer"]
            for prev, nxt in zip(r["chain"], r["chain"][1:], strict=False):
                assert nxt["title"] == prev["bridge"]


def test_each_hop_but_the_last_records_the_question_that_remains(small_world):
    records = [r for r in _jsonl(small_world / "questions" / "dev.jsonl") if r["type"] == "chain"]
    assert {r["hops"] for r in records} == {1, 2, 3, 4}
    for r in records:
        assert "next_question" not in r["chain"][-1]
        for hop in r["chain"][:-1]:
            rest = hop["next_question"]
            assert hop["bridge"] in rest and rest.endswith("?") and rest[0].isupper()
            assert len(rest) < len(r["question"]) + len(hop["bridge"])
            # the entity this hop read about is gone from what remains
            assert hop["title"] not in rest or hop["title"] in hop["bridge"]
        if r["hops"] >= 3:  # each restatement is one level shallower than the one before
            rests = [h["next_question"] for h in r["chain"][:-1]]
            assert all(rests[k + 1] != rests[k] for k in range(len(rests) - 1))


def test_fixed_wording_states_each_relation_one_way(small_world, tmp_path, monkeypatch):
    from asearcher.world.schema import REL

    fixed = generate_world(tmp_path / "fixed", seed=0, entities=60, max_hops=4, wording="fixed")
    assert json.loads((fixed / "world.json").read_text())["wording"] == "fixed"
    assert check_world(fixed).ok
    queries: dict[str, set[str]] = {"fixed": set(), "varied": set()}
    for name, d in (("fixed", fixed), ("varied", small_world)):
        for r in _jsonl(d / "questions" / "train.jsonl"):
            for hop in r["chain"]:
                queries[name].add((hop["relation"], hop["query"][len(hop["title"]) + 1:]))
    # the oracle query's phrase is the relation's first wording, for every entity
    assert all(phrase == REL[rel].facts[0][1] for rel, phrase in queries["fixed"])
    assert len(queries["varied"]) > len({rel for rel, _ in queries["varied"]})  # several wordings per relation
    monkeypatch.setenv("ASEARCHER_HOME", str(tmp_path))
    assert ensure_world(WorldConfig(seed=3, entities=30, max_hops=2, wording="fixed")).name == "seed3-n30-h2-fixed"
    with pytest.raises(Exception, match="wording"):
        generate_world(tmp_path / "bad", seed=0, entities=30, max_hops=2, wording="odd")


def test_load_questions_gives_examples_with_meta(small_world):
    examples = load_questions(small_world, "dev")
    assert len(examples) == 30 and isinstance(examples[0], Example)
    ex = examples[0]
    assert {"hops", "type", "supporting", "chain"} <= set(ex.meta)
    assert ex.meta["hops"] == len(ex.meta["chain"]) and ex.answers
    with pytest.raises(Exception, match="unknown split"):
        load_questions(small_world, "validation")


@pytest.mark.parametrize("tamper", ["fact", "answer", "bridge"])
def test_checker_catches_broken_chains(small_world, tmp_path, tamper):
    broken = tmp_path / "broken"
    shutil.copytree(small_world, broken, ignore=shutil.ignore_patterns("kb"))
    path = broken / "questions" / "dev.jsonl"
    records = _jsonl(path)
    r = next(r for r in records if r["type"] == "chain" and r["hops"] >= 2)
    if tamper == "fact":
        r["chain"][0]["fact"] = r["chain"][0]["fact"].replace(r["chain"][0]["bridge"], "Nobody Atall")
    elif tamper == "answer":
        r["answer"] = ["something else"]
    else:  # a chain that jumps to an entity the previous hop did not lead to
        r["chain"][1]["title"] = r["chain"][0]["title"]
    path.write_text("".join(json.dumps(x) + "\n" for x in records))
    report = check_world(broken, ranks=False)
    assert not report.ok
    assert any("dev.jsonl" in e for e in report.errors)


def test_checker_catches_a_page_that_contradicts_its_passages(small_world, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(small_world, broken, ignore=shutil.ignore_patterns("kb"))
    pages = _jsonl(broken / "pages.jsonl")
    pages[0]["contents"] = pages[0]["contents"][: len(pages[0]["contents"]) // 3]
    (broken / "pages.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pages))
    report = check_world(broken, ranks=False)
    assert not report.ok and any("not on the page" in e for e in report.errors)


def test_generation_is_atomic(tmp_path, monkeypatch):
    import asearcher.knowledge.kb as kb

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(kb, "build_kb", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        generate_world(tmp_path / "w", seed=0, entities=30, max_hops=2)
    assert list(tmp_path.iterdir()) == []


def test_ensure_world_generates_once_and_reuses(tmp_path, monkeypatch):
    monkeypatch.setenv("ASEARCHER_HOME", str(tmp_path))
    cfg = WorldConfig(seed=3, entities=30, max_hops=2)
    d = ensure_world(cfg)
    assert d == tmp_path / "worlds" / "seed3-n30-h2" and is_world(d)
    stamp = (d / "world.json").stat().st_mtime_ns
    assert ensure_world(cfg) == d and (d / "world.json").stat().st_mtime_ns == stamp
    meta = json.loads((d / "world.json").read_text())
    (d / "world.json").write_text(json.dumps({**meta, "generator": "asearcher.world/0"}))
    assert ensure_world(cfg) == d  # a cached world from an older generator is regenerated
    assert json.loads((d / "world.json").read_text()) == meta
    explicit = ensure_world(WorldConfig(seed=3, entities=30, max_hops=2, dir=str(tmp_path / "mine")))
    assert explicit == tmp_path / "mine" and is_world(explicit)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x").write_text("x")
    with pytest.raises(DataError, match="no complete world"):
        ensure_world(WorldConfig(dir=str(tmp_path / "junk")))


def test_passage_words_sets_passage_length_and_keeps_the_world_checkable(small_world, tmp_path, monkeypatch):
    def mean_words(d: Path) -> float:
        texts = [rec["contents"].split("\n", 1)[1] for rec in _jsonl(d / "corpus.jsonl")]
        return sum(len(t.split()) for t in texts) / len(texts)

    short = generate_world(tmp_path / "short", seed=0, entities=60, max_hops=4, passage_words=40)
    assert json.loads((short / "world.json").read_text())["passage_words"] == 40
    assert mean_words(short) < 0.6 * mean_words(small_world)
    # the same facts and questions, only less filler around them
    assert (short / "entities.jsonl").read_bytes() == (small_world / "entities.jsonl").read_bytes()
    report = check_world(short)
    assert report.ok and report.rank_rate(3) == 1.0, report.summary()
    monkeypatch.setenv("ASEARCHER_HOME", str(tmp_path))
    assert ensure_world(WorldConfig(seed=3, entities=30, max_hops=2, passage_words=40)).name == "seed3-n30-h2-w40"
    with pytest.raises(Exception, match="passage_words"):
        generate_world(tmp_path / "bad", seed=0, entities=30, max_hops=2, passage_words=5)
