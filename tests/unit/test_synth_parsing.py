"""Pure helpers of the synthesis agent: JSON extraction, field checks, normalisation, support, pages,
truth check and the statistics summary (hand-computed values)."""

from __future__ import annotations

import json

import pytest

from asearcher.errors import DataError
from asearcher.synth.pages import load_pages
from asearcher.synth.parsing import (
    ReplyError,
    answer_matches,
    contains_phrase,
    extract_direct_answer,
    get_bool,
    get_str,
    get_str_list,
    normalize,
    parse_json_object,
    support,
)
from asearcher.synth.report import summarize, to_markdown
from asearcher.synth.truth import load_world_facts, truth_check


def test_parse_json_object_variants():
    assert parse_json_object('{"a": 1}') == {"a": 1}
    assert parse_json_object('Sure: {"a": "x {y}"} done') == {"a": "x {y}"}
    assert parse_json_object('```json\n{"q": "w"}\n```\n{"other": 1}') == {"q": "w"}
    assert parse_json_object('[1, 2] then {"b": [1]}') == {"b": [1]}
    assert parse_json_object('{bad} {"ok": true}') == {"ok": True}
    with pytest.raises(ReplyError, match="no JSON object"):
        parse_json_object("plain text")
    with pytest.raises(ReplyError, match="no complete, valid JSON"):
        parse_json_object('{"a": 1')


def test_field_getters():
    o = {"s": "  x ", "e": "", "n": 3, "b": "yes", "l": ["a", " ", "b"]}
    assert get_str(o, "s") == "x" and get_str(o, "e", allow_empty=True) == ""
    assert get_bool({"b": False}, "b") is False and get_bool(o, "b") is True
    assert get_str_list(o, "l") == ["a", "b"]
    for fn, key, msg in [(get_str, "e", "must not be empty"), (get_str, "n", "must be a string"),
                         (get_str, "zz", "no key 'zz'"), (get_bool, "n", "true or false"),
                         (get_str_list, "s", "list of strings")]:
        with pytest.raises(ReplyError, match=msg):
            fn(o, key)
    with pytest.raises(ReplyError, match="at least 3"):
        get_str_list(o, "l", min_len=3)


def test_normalize_and_matching():
    assert normalize("The  Eiffel-Tower!") == "eiffel tower"
    assert contains_phrase("Where was Alice Smith born?", "alice smith")
    assert not contains_phrase("Where was Alicesmith born?", "Alice Smith")
    assert not contains_phrase("anything", "the")  # normalises to empty
    assert answer_matches("riverton.", "Riverton")
    assert answer_matches("It is Riverton", "Riverton")
    assert not answer_matches("It is not Riverton but somewhere near the river", "Riverton")
    assert not answer_matches("", "Riverton") and not answer_matches("Lakeside", "Riverton")


def test_extract_direct_answer():
    assert extract_direct_answer("Let me think.\nAnswer: Paris\nmore") == "Paris"
    assert extract_direct_answer("<think>Answer: Rome</think>Final answer: **Oslo**") == "Oslo"
    assert extract_direct_answer("Reasoning...\n\nLondon\n") == "London"
    assert extract_direct_answer("") == ""
    assert len(extract_direct_answer("Answer: " + "x" * 500)) == 200


def test_support_fraction():
    page = "Acme Labs is a research company founded in 1990 by Alice Smith."
    assert support("Acme Labs was founded in 1990 by Alice Smith.", page) == 1.0
    # content words {acme, labs, founded, 1995, bob}: 3 of 5 occur
    assert support("Acme Labs was founded in 1995 by Bob.", page) == pytest.approx(3 / 5)
    assert support("it was the", page) == 1.0


def _write(tmp_path, rows, name="pages.jsonl"):
    p = tmp_path / name
    p.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return p


def test_load_pages_links_from_mentions_and_explicit(tmp_path):
    p = _write(tmp_path, [
        {"url": "u/a", "title": "Alice Smith", "contents": "Alice Smith founded Acme Labs near Riverton."},
        {"url": "u/b", "title": "Acme Labs", "contents": "Acme Labs was founded by Alice Smith."},
        {"url": "u/c", "title": "Riverton", "contents": "A town.", "links": ["u/a", "Acme Labs", "Nowhere", "Riverton"]},
    ])
    g = load_pages(p)
    assert g.links == {"Alice Smith": ["Acme Labs", "Riverton"], "Acme Labs": ["Alice Smith"],
                       "Riverton": ["Alice Smith", "Acme Labs"]}
    assert g.by_url("u/b")["title"] == "Acme Labs" and g.by_url("nope") is None


@pytest.mark.parametrize("row,msg", [
    ("{not json", "line 2|:2: invalid JSON"),
    ({"url": "u", "title": "", "contents": "c"}, "'title'"),
    ({"url": "u", "title": "A", "contents": "c"}, "duplicate title"),
    ({"url": "u", "title": "B", "contents": "c", "links": "A"}, "'links' must be a list"),
])
def test_load_pages_errors_name_line_and_field(tmp_path, row, msg):
    p = _write(tmp_path, [{"url": "u", "title": "A", "contents": "c"}, row])
    with pytest.raises(DataError) as e:
        load_pages(p)
    assert f"{p}:2" in str(e.value) and any(m in str(e.value) for m in msg.split("|"))
    with pytest.raises(DataError, match="does not exist"):
        load_pages(tmp_path / "missing.jsonl")


def _graph(tmp_path):
    return load_pages(_write(tmp_path, [
        {"url": "u/a", "title": "Alice Smith", "contents": "Alice Smith was born in Riverton. She founded Acme Labs."},
        {"url": "u/b", "title": "Acme Labs", "contents": "Acme Labs was founded in 1990 by Alice Smith."},
    ]))


def test_truth_check_correct_and_hallucinated(tmp_path):
    g = _graph(tmp_path)
    rec = {"root": "Alice Smith", "answer": "Riverton",
           "statements": [{"text": "Alice Smith was born in Riverton.", "source": "Alice Smith"},
                          {"text": "Acme Labs was founded by Alice Smith.", "source": "Acme Labs"}]}
    t = truth_check(rec, g, 0.8)
    assert t["correct"] and t["statement_support"] == [1.0, 1.0]
    bad = {**rec, "answer": "Lakeside",
           "statements": [rec["statements"][0], {"text": "Acme Labs moved to Mars in 2001.", "source": "Acme Labs"}]}
    t = truth_check(bad, g, 0.8)
    # {acme, labs, moved, mars, 2001}: 2 of 5 in the page
    assert t["statement_support"][1] == 0.4 and not t["statements_supported"]
    assert not t["answer_in_root"] and not t["answer_in_statement"] and not t["correct"]


def test_world_facts_ground_the_answer(tmp_path):
    g = _graph(tmp_path)
    ents = [{"name": "Alice Smith", "type": "person", "attrs": {"birth_year": 1961, "population": 12000},
             "relations": {"born_in": "Riverton"}},
            {"name": "Acme Labs", "type": "org", "attrs": {}, "relations": {"founder": "Alice Smith"}}]
    (tmp_path / "entities.jsonl").write_text("".join(json.dumps(e) + "\n" for e in ents))
    world = load_world_facts(g.path)
    assert world["Alice Smith"] == {"1961": "birth_year", "1 961": "birth_year", "12000": "population", "12 000": "population",
                                    "riverton": "born_in", "acme labs": "founder (inverse)"}
    rec = {"root": "Alice Smith", "answer": "Riverton",
           "statements": [{"text": "Alice Smith was born in Riverton.", "source": "Alice Smith"}]}
    t = truth_check(rec, g, 0.8, world)
    assert t["world_fact"] == "born_in" and t["correct"]
    # on the page, but no fact of the world links Alice Smith to it
    filler = {**rec, "answer": "She", "statements": [{"text": "She founded Acme Labs.", "source": "Alice Smith"}]}
    t = truth_check(filler, g, 0.8, world)
    assert t["answer_in_root"] and t["world_fact"] is None and not t["correct"]
    assert load_world_facts(tmp_path / "elsewhere" / "pages.jsonl") is None
    (tmp_path / "entities.jsonl").write_text('{"type": "person"}\n')
    with pytest.raises(DataError, match="entities.jsonl:1"):
        load_world_facts(g.path)


def test_summarize_counts_and_markdown():
    acts_ok = [{"type": "inject", "accepted": True}, {"type": "fuzz", "accepted": False, "reason": "validity"},
               {"type": "exit", "accepted": True}]
    acc = [{"id": "a", "status": "accepted", "statements": [1, 2], "n_inject": 1, "n_fuzz": 0,
            "direct_gen_accuracy": 0.0, "actions": acts_ok, "truth": {"correct": True, "answer_in_root": True,
            "answer_in_statement": True, "statements_supported": True}, "retried": {"extract": 1}, "llm_calls": 10},
           {"id": "b", "status": "accepted", "statements": [1], "n_inject": 0, "n_fuzz": 2,
            "direct_gen_accuracy": 0.25, "actions": [], "truth": {"correct": False, "answer_in_root": True,
            "answer_in_statement": True, "statements_supported": False}, "llm_calls": 5}]
    rej = [{"id": "c", "status": "rejected", "reason": "reply_error:extract", "detail": "x",
            "skipped_steps": {"extract": 1}, "llm_calls": 3}]
    s = summarize(acc + rej, acc)
    assert (s["attempts"], s["accepted"], s["rejected"], s["acceptance_rate"]) == (3, 2, 1, 0.6667)
    assert s["rejected_by_reason"] == {"reply_error:extract": 1} and s["llm_calls"] == 18
    assert s["truth"] == {"checked": 2, "correct": 1, "error_rate": 0.5, "answer_in_root": 2,
                          "answer_in_statement": 2, "statements_supported": 1, "world_fact": 0, "mode": "pages"}
    assert s["stats"]["n_statements"] == {"1": 1, "2": 1} and s["stats"]["n_fuzz"] == {"0": 1, "2": 1}
    assert s["stats"]["direct_gen_accuracy"] == {"0.0": 1, "0.25": 1} and s["stats"]["mean_statements"] == 1.5
    assert s["changes"]["fuzz"] == {"tried": 1, "accepted": 0, "rejected_by_reason": {"validity": 1}}
    md = to_markdown(s)
    assert "| 2 | 1 | 50% |" in md and "error rate 50.0%" in md and "| reply_error:extract | 1 |" in md
    assert "| extract | 1 | 1 |" in md
