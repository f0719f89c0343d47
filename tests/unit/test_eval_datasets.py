"""Dataset loaders on small hand-written files (one test per format), format detection, errors, the xbench
cipher. The real files of ``shared/data`` are checked in ``tests/integration/test_eval_shared_data.py``."""

from __future__ import annotations

import csv
import json

import pytest

from asearcher.errors import DataError
from asearcher.evaluation import protect
from asearcher.evaluation.datasets import dataset_name, detect_format, load_dataset


def jl(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_generic_jsonl_and_json_array(tmp_path):
    p = jl(tmp_path / "mine" / "qs.jsonl", [
        {"question": "Q0?", "answer": "A"},
        {"id": "x", "question": "Q1?", "answers": ["B", "b2", "B"], "hops": 3, "source": "s"},
        {"question": "Q2?", "golden_answers": ["C"], "meta": {"level": 2}},
    ])
    ds = load_dataset(str(p))
    assert ds.format == "generic" and ds.name == "mine-qs" and not ds.protected
    assert [e.id for e in ds.examples] == ["0", "x", "2"]
    assert ds.examples[1].answers == ["B", "b2"] and ds.examples[1].meta == {"hops": 3, "source": "s"}
    assert ds.examples[2].meta == {"level": 2}
    arr = tmp_path / "arr.json"
    arr.write_text(json.dumps([{"id": 7, "question": "Q?", "answer": 1990}]))
    ex = load_dataset(str(arr)).examples[0]
    assert (ex.id, ex.answers) == ("7", ["1990"])


def test_per_hop_keeps_the_first_n_of_each_hop_count_then_limit(tmp_path):
    hops = [1, 1, 2, 1, 3, 2, 2, None, None]
    p = jl(tmp_path / "h" / "qs.jsonl", [{"id": str(i), "question": f"Q{i}?", "answer": "A",
                                          **({"hops": h} if h else {})} for i, h in enumerate(hops)])
    assert [e.id for e in load_dataset(str(p), per_hop=2).examples] == ["0", "1", "2", "4", "5", "7", "8"]
    assert [e.id for e in load_dataset(str(p), per_hop=1, limit=3).examples] == ["0", "2", "4"]
    assert len(load_dataset(str(p)).examples) == 9


def test_flashrag(tmp_path):
    p = jl(tmp_path / "popqa" / "test.jsonl",
           [{"id": "test_1", "question": "Who?", "golden_answers": ["R", "R2"], "metadata": {"s_pop": 3}}])
    ds = load_dataset(str(p))
    e = ds.examples[0]
    assert ds.format == "flashrag" and ds.name == "popqa-test"
    assert (e.id, e.answers, e.meta["source"], e.meta["metadata"]) == ("test_1", ["R", "R2"], "popqa", {"s_pop": 3})


def test_r1searcher(tmp_path):
    p = jl(tmp_path / "musique_500.jsonl", [{"idx": 1, "question": "Q?", "answer": "A", "gen_text_store": ""}])
    ds = load_dataset(str(p))
    assert ds.format == "r1searcher" and ds.examples[0].id == "1" and ds.examples[0].meta == {"source": "musique"}


def test_deepresearcher_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"data_source": "nq", "prompt": [{"role": "user", "content": "Q1?"}], "ability": "qa",
             "reward_model": {"ground_truth": "A<|answer_split|>A2", "style": "rule"},
             "extra_info": {"index": "nq_1", "split": "test"}},
            {"data_source": "2wiki", "prompt": [{"role": "user", "content": "Q2?"}], "ability": "qa",
             "reward_model": {"ground_truth": "B", "style": "rule"}, "extra_info": {"index": "w_2", "split": "test"}}]
    p = tmp_path / "test.parquet"
    pq.write_table(pa.Table.from_pylist(rows), p)
    ds = load_dataset(str(p))
    assert ds.format == "deepresearcher"
    assert [(e.id, e.question, e.answers, e.meta["source"]) for e in ds.examples] == [
        ("nq_1", "Q1?", ["A", "A2"], "nq"), ("w_2", "Q2?", ["B"], "2wiki")]


def test_ircot(tmp_path):
    p = jl(tmp_path / "hotpotqa" / "dev.jsonl", [{"question_id": "h1", "question_text": "Q?", "contexts": [],
                                                 "answers_objects": [{"number": "", "spans": ["Chief"]}]}])
    e = load_dataset(str(p)).examples[0]
    assert (e.id, e.answers, e.meta) == ("h1", ["Chief"], {"source": "hotpotqa", "hops": 2})


def test_hotpotqa_2wiki_musique_originals(tmp_path):
    hp = jl(tmp_path / "hotpot.json", [{"_id": "a", "question": "Q?", "answer": "yes", "type": "comparison",
                                        "level": "hard", "supporting_facts": [], "context": []}])
    e = load_dataset(str(hp)).examples[0]
    assert e.meta == {"source": "hotpotqa", "hops": 2, "type": "comparison", "level": "hard"}
    tw = jl(tmp_path / "wikihop.json", [
        {"_id": "b", "type": "bridge_comparison", "question": "Q?", "answer": "X", "evidences": "[[1,2,3]]"},
        {"_id": "c", "type": "odd", "question": "Q?", "answer": "Y", "evidences": "[[1,2,3],[4,5,6],[7,8,9]]"}])
    ds = load_dataset(str(tw))
    assert ds.format == "2wiki" and [e.meta["hops"] for e in ds.examples] == [4, 3]
    mu = jl(tmp_path / "musique.json", [{"id": "2hop__1", "question": "Q?", "answer": "Z", "answer_aliases": ["Zed"],
                                         "answerable": True, "question_decomposition": [{}, {}, {}]}])
    e = load_dataset(str(mu)).examples[0]
    assert e.answers == ["Z", "Zed"] and e.meta["hops"] == 3 and e.meta["source"] == "musique"


def test_frames(tmp_path):
    p = tmp_path / "frames.json"
    p.write_text(json.dumps([{"id": "0", "Question": "Q?", "Answer": "Jane", "answer": ["Jane", "J."],
                              "reasoning_types": "Multiple constraints", "wiki_links": "[]"}]))
    ds = load_dataset(str(p))
    assert ds.format == "frames" and ds.examples[0].answers == ["Jane", "J."]


def test_gaia_is_protected(tmp_path):
    p = tmp_path / "gaia.json"
    p.write_text(json.dumps([{"id": 1, "task_id": "t-1", "Question": "Q?", "answer": ["17"], "Level": 2,
                              "Annotator_Metadata": {}, "source": "gaia_level2"}]))
    ds = load_dataset(str(p))
    e = ds.examples[0]
    assert ds.format == "gaia" and ds.protected and e.id == "t-1" and e.meta["level"] == 2
    assert e.meta["protected"] == "gaia" and e.meta["canary"] == protect.GAIA_CANARY


def _xbench(path, rows, canary="CANARY-key-123"):
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "prompt", "answer", "reference_steps", "canary"])
        for rid, q, a in rows:
            w.writerow([rid, protect.encrypt(q, canary), protect.encrypt(a, canary), protect.encrypt("s", canary),
                        canary])
    return path


def test_xbench_decrypts_in_memory(tmp_path):
    p = _xbench(tmp_path / "DeepSearch-2505.csv", [(1, "哪一年？", "2019年"), (2, "Who?", "Ann")])
    raw = p.read_text(encoding="utf-8")
    assert "哪一年" not in raw and "Ann" not in raw  # the file itself is encrypted
    ds = load_dataset(str(p))
    assert ds.format == "xbench" and ds.protected
    assert [(e.id, e.question, e.answers) for e in ds.examples] == [("1", "哪一年？", ["2019年"]), ("2", "Who?", ["Ann"])]
    assert ds.examples[0].meta["source"] == "xbench-2505" and ds.examples[0].meta["canary"] == "CANARY-key-123"


def test_cipher_roundtrip_and_wrong_key():
    enc = protect.encrypt("xbench 数据", "k3y")
    assert enc != "xbench 数据" and protect.decrypt(enc, "k3y") == "xbench 数据"
    with pytest.raises(ValueError):
        protect.decrypt(protect.encrypt("é", "a"), "b")  # wrong key: bytes c0 aa are not UTF-8


def test_xbench_wrong_canary_names_line(tmp_path):
    p = _xbench(tmp_path / "x.csv", [(1, "Q", "A"), (2, "Q2", "ü")])
    text = p.read_text(encoding="utf-8").replace("CANARY-key-123", "\u00ff", 2)  # breaks rows 1 and 2
    p.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=r"x\.csv:\d"):
        load_dataset(str(p))


def test_malformed_line_names_file_and_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"question": "a", "answer": "b"}\n{"question": "c", "answer": \n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2: invalid JSON"):
        load_dataset(str(p))
    p.write_text('{"question": "a", "answer": "b"}\n{"question": "c"}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2: missing field 'answers' or 'golden_answers' or 'answer'"):
        load_dataset(str(p))
    p.write_text('{"question": "a", "answer": "b"}\n{"question": "c", "answer": {"x": 1}}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2: answer must be a string"):
        load_dataset(str(p))


def test_duplicate_ids_and_corpus_and_unknown_are_errors(tmp_path):
    p = jl(tmp_path / "d.jsonl", [{"id": 1, "question": "a", "answer": "b"}, {"id": 1, "question": "c", "answer": "d"}])
    with pytest.raises(DataError, match="duplicate id '1'"):
        load_dataset(str(p))
    c = jl(tmp_path / "corpus.jsonl", [{"id": "0", "contents": '"T"\ntext'}])
    with pytest.raises(DataError, match="passage corpus"):
        detect_format(c)
    with pytest.raises(DataError, match="no such file"):
        load_dataset(str(tmp_path / "nope.jsonl"))
    with pytest.raises(DataError, match="unknown format"):
        load_dataset(str(p), fmt="nope")


def test_known_name_needs_data_root(tmp_path, monkeypatch):
    monkeypatch.delenv("ASEARCHER_DATA", raising=False)
    with pytest.raises(DataError, match="ASEARCHER_DATA"):
        load_dataset("frames")
    jl(tmp_path / "r1searcher_eval" / "musique_500.jsonl", [{"idx": 1, "question": "Q?", "answer": "A"}])
    ds = load_dataset("musique-500", data_root=tmp_path, limit=1)
    assert ds.name == "musique-500" and len(ds.examples) == 1
    assert dataset_name("a/b/test.jsonl") == "b-test"
