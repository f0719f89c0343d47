"""Corpus loaders: every supported format, autodetection, and clear file:line errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from asearcher.errors import DataError
from asearcher.knowledge.corpus import (
    detect_format,
    iter_passages,
    join_sentences,
    load_passages,
    paragraph_id,
    split_wiki18,
)


def _write(path: Path, lines: list) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def test_split_wiki18_and_join_sentences():
    assert split_wiki18('"Evan Morris"\nEvan L. Morris was a lobbyist.') == ("Evan Morris", "Evan L. Morris was a lobbyist.")
    assert split_wiki18("No Quotes\ntext") == ("No Quotes", "text")
    assert join_sentences(["A b.", " C d."]) == "A b. C d."  # HotpotQA: leading spaces
    assert join_sentences(["A b.", "C d."]) == "A b. C d."  # 2Wiki: none


def test_wiki18_jsonl(tmp_path):
    f = _write(tmp_path / "c.jsonl", [{"id": "0", "contents": '"T one"\nfirst text'},
                                      {"id": 1, "contents": '"T two"\nsecond'}])
    ps = load_passages(f)
    assert [(p.id, p.title, p.text) for p in ps] == [("0", "T one", "first text"), ("1", "T two", "second")]


def test_generic_json_list_without_ids_gets_content_ids(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps([{"title": "A", "text": "alpha"}, {"title": "B", "text": "beta", "id": "b"}]))
    ps = load_passages(f)
    assert ps[0].id == paragraph_id("A", "alpha") and ps[1].id == "b"


def test_qa_formats_yield_unique_paragraphs(tmp_path):
    ircot = _write(tmp_path / "i.jsonl", [
        {"question_id": "q1", "contexts": [{"id": "0", "title": "X", "paragraph_text": "x text"},
                                           {"id": "1", "title": "Y", "paragraph_text": "y text"}]},
        {"question_id": "q2", "contexts": [{"id": "0", "title": "X", "paragraph_text": "x text"}]},
    ])
    assert [p.title for p in load_passages(ircot)] == ["X", "Y"]
    hotpot = _write(tmp_path / "h.json", [{"_id": "1", "question": "?", "supporting_facts": [],
                                           "context": [["T", ["S one.", " S two."]]]}])
    (p,) = load_passages(hotpot)
    assert p.text == "S one. S two." and p.id == paragraph_id("T", "S one. S two.")
    musique = _write(tmp_path / "m.json", [{"id": "1", "paragraphs": [{"idx": 0, "title": "M", "paragraph_text": "m"}]}])
    assert load_passages(musique)[0].title == "M"
    ts = tmp_path / "t.json"
    ts.write_text(json.dumps({"Demon Dice": ["A game.", " Of dice."]}, indent=2))
    assert load_passages(ts)[0].text == "A game. Of dice."


def test_detect_format():
    assert detect_format({"id": "1", "contents": "x"}) == "wiki18"
    assert detect_format({"contexts": []}) == "ircot"
    assert detect_format({"context": [], "question": "q"}) == "hotpot"
    assert detect_format({"paragraphs": []}) == "musique"
    assert detect_format({"title": "t", "text": "x"}) == "generic"
    assert detect_format({"Some Title": ["s."]}) == "title_sentences"
    with pytest.raises(DataError, match="--format"):
        detect_format({"foo": 1})


@pytest.mark.parametrize("bad, reason", [
    ('{"id": "2", "contents": ', "invalid JSON"),
    ('{"id": "2"}', "missing field 'contents'"),
    ('{"id": "2", "contents": 5}', "must be a string"),
    ('["not", "an", "object"]', "expected a JSON object"),
    ('{"id": "0", "contents": "\\"Other\\"\\ndifferent"}', "duplicate passage id"),
])
def test_bad_line_names_file_and_line(tmp_path, bad, reason):
    f = tmp_path / "c.jsonl"
    f.write_text('{"id": "0", "contents": "\\"T\\"\\nok"}\n{"id": "1", "contents": "\\"U\\"\\nok"}\n' + bad + "\n")
    with pytest.raises(DataError) as err:
        list(iter_passages(f, "wiki18"))
    assert str(err.value).startswith(f"{f}:3: ") and reason in str(err.value)


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such corpus file"):
        load_passages(tmp_path / "nope.jsonl")
    f = _write(tmp_path / "c.jsonl", [{"id": "0", "contents": "x"}])
    with pytest.raises(DataError, match="unknown format"):
        load_passages(f, "parquet")


def test_shared_multihop_files_load(shared_data):
    ircot = load_passages(shared_data / "hotpotqa_ircot_dev500" / "dev_subsampled.jsonl")
    assert len(ircot) == 4858  # the README's count of unique paragraphs
    wiki = load_passages(shared_data / "flashrag_wiki18_sample" / "sample_data.jsonl")
    assert len(wiki) == 1000 and wiki[0].title == "Evan Morris"
    for rel in ["migres_multihop/hotpot.json", "migres_multihop/wikihop.json", "migres_multihop/musique.json",
                "hipporag_subsets/hotpotqa_train_corpus.json", "hipporag_subsets/musique_train_corpus.json",
                "hipporag_subsets/2wikimultihopqa_corpus.json", "hipporag_subsets/hotpotqa_train.json",
                "hipporag_subsets/musique_train.json"]:
        ps = load_passages(shared_data / rel)
        assert len(ps) > 100 and all(p.text for p in ps), rel
