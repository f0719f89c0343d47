"""Every branch of the QA synthesis agent, driven by a scripted text-level engine (no model).

``Scenario`` answers each synthesis task (named by the ``## Task:`` line of its prompt) from a per-task
list of replies; an unexpected or exhausted task fails the test. Reused by the HTTP end-to-end test.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from asearcher.config.synth import SynthConfig
from asearcher.inference.chat import ChatModel
from asearcher.synth.agent import SynthAgent
from asearcher.synth.fake import ScriptedChatEngine, task_of
from asearcher.synth.llm import Role
from asearcher.synth.pages import PageGraph, load_pages

PAGES = [
    {"url": "https://world.local/wiki/Alice_Smith", "title": "Alice Smith", "links": ["Acme Labs", "Riverton"],
     "contents": "Alice Smith is a chemist who was born in Riverton. In 1990 Alice Smith founded Acme Labs."},
    {"url": "https://world.local/wiki/Acme_Labs", "title": "Acme Labs", "links": [],
     "contents": "Acme Labs is a research company founded in 1990 by Alice Smith. Acme Labs is based in Lakeside."},
    {"url": "https://world.local/wiki/Riverton", "title": "Riverton", "links": [],
     "contents": "Riverton is a town on the Blue River, founded in 1820."},
]

EXTRACT = {"summary": "Alice Smith, a chemist from Riverton, founded Acme Labs.",
           "facts": ["Alice Smith was born in Riverton.", "Alice Smith founded Acme Labs in 1990."]}
BASE = {"question": "Where was Alice Smith born?", "answer": "Riverton",
        "statement": "Alice Smith was born in Riverton."}
LINK = {"question": "Who founded Acme Labs?", "answer": "Alice Smith",
        "statement": "Acme Labs was founded in 1990 by Alice Smith."}
COMBINED = {"question": "Where was the founder of Acme Labs born?"}
VALID = {"valid": True, "reason": "ok"}
WRONG = {"correct": False}
UNIQUE = {"also_valid": False, "reason": "contradicts the statements"}


class Scenario:
    """Replies per task: a list (consumed in order), a callable ``(messages) -> reply`` or a constant.
    Dict replies are sent as JSON."""

    def __init__(self, **tasks: Any):
        self.tasks = {k: list(v) if isinstance(v, list) else v for k, v in tasks.items()}
        self.log: list[str] = []
        self.messages: list[list[dict[str, str]]] = []

    def __call__(self, messages: list[dict[str, str]], request: Any = None) -> str:
        task = task_of(messages)
        self.log.append(task)
        self.messages.append(messages)
        if task not in self.tasks:
            raise AssertionError(f"unexpected task {task!r}")
        v = self.tasks[task]
        if isinstance(v, list):
            if not v:
                raise AssertionError(f"script for {task!r} exhausted")
            v = v.pop(0)
        elif isinstance(v, Callable):
            v = v(messages)
        return v if isinstance(v, str) else json.dumps(v)


def graph_of(tmp_path: Path, pages: list[dict] = PAGES) -> PageGraph:
    p = tmp_path / "pages.jsonl"
    p.write_text("".join(json.dumps(x) + "\n" for x in pages))
    return load_pages(p)


def run_attempt(tmp_path: Path, scenario: Scenario, **overrides: Any) -> dict[str, Any]:
    cfg = SynthConfig(n_direct=2, max_steps=overrides.pop("max_steps", 3), json_retries=2, progress=False,
                      **overrides)
    role = Role(ChatModel(ScriptedChatEngine(scenario), name="scripted"), 256)
    return asyncio.run(SynthAgent(graph_of(tmp_path), role, role, cfg).attempt("synth-0-00000", 0))


def direct(*answers: str) -> list[str]:
    return [f"I think so.\nAnswer: {a}" for a in answers]


def happy(**changes: Any) -> Scenario:
    """Base QA half-hard (1 of 2 right), inject Acme Labs → hard, then exit."""
    tasks = dict(extract=[EXTRACT], base_qa=[BASE], validity=VALID, judge=WRONG, uniqueness=UNIQUE,
                 direct_answer=direct("Riverton", "Paris", "Paris", "London"),
                 choose_action=[{"action": "inject", "entity": "Acme Labs", "reason": "add a hop"},
                                {"action": "exit", "entity": "", "reason": "hard"}],
                 link_qa=[LINK], covered=[{"covered": False, "reason": "new"}], combine=[COMBINED])
    tasks.update(changes)
    return Scenario(**tasks)


def test_inject_accepted_then_exit(tmp_path):
    s = happy()
    rec = run_attempt(tmp_path, s)
    assert rec["status"] == "accepted", rec
    assert rec["question"] == COMBINED["question"] and rec["answer"] == "Riverton"
    assert [st["text"] for st in rec["statements"]] == [BASE["statement"], LINK["statement"]]
    assert [st["source"] for st in rec["statements"]] == ["Alice Smith", "Acme Labs"]
    assert rec["source_pages"] == [PAGES[0]["url"], PAGES[1]["url"]]
    assert [(a["type"], a["accepted"]) for a in rec["actions"]] == [("inject", True), ("exit", True)]
    assert rec["actions"][0]["direct_gen_accuracy"] == 0.0 and rec["direct_gen_accuracy"] == 0.0
    assert rec["n_inject"] == 1 and rec["n_fuzz"] == 0
    assert rec["base"]["question"] == BASE["question"]
    # the exact match "Riverton" needs no judge; each distinct wrong answer is judged once
    assert s.log.count("judge") == 3 and s.log.count("direct_answer") == 4
    assert s.log.count("uniqueness") == 3


def test_inject_rejected_when_covered_by_model(tmp_path):
    s = happy(direct_answer=direct("Paris", "London"), covered=[{"covered": True, "reason": "same fact"}],
              choose_action=[{"action": "inject", "entity": "Acme Labs"}, {"action": "exit"}])
    rec = run_attempt(tmp_path, s)
    assert rec["status"] == "accepted"
    inject = rec["actions"][0]
    assert (inject["type"], inject["accepted"], inject["reason"]) == ("inject", False, "covered")
    assert len(rec["statements"]) == 1 and rec["question"] == BASE["question"] and rec["n_inject"] == 0
    assert "combine" not in s.log


def test_inject_rejected_when_statement_repeats_a_known_one(tmp_path):
    dup = {**LINK, "statement": "Alice Smith was  born in Riverton!"}
    s = happy(direct_answer=direct("Paris", "London"), link_qa=[dup], covered=[],
              choose_action=[{"action": "inject", "entity": "Acme Labs"}, {"action": "exit"}])
    rec = run_attempt(tmp_path, s)
    assert rec["actions"][0]["reason"] == "covered" and "covered" not in s.log


def test_fuzz_accepted(tmp_path):
    fuzzed = {"question": "Where was the chemist who founded a lab in the early 1990s born?", "detail": "1990"}
    s = happy(choose_action=[{"action": "fuzz"}, {"action": "exit"}], fuzz=[fuzzed])
    rec = run_attempt(tmp_path, s)
    assert rec["status"] == "accepted" and rec["question"] == fuzzed["question"]
    assert rec["n_fuzz"] == 1 and rec["actions"][0]["obscured"] == "1990"
    assert len(rec["statements"]) == 1


def test_exit_refused_until_hard_then_taken(tmp_path):
    fuzzed = {"question": "In which town was the founder of a 1990 lab born?"}
    s = happy(choose_action=[{"action": "exit"}, {"action": "fuzz"}, {"action": "exit"}], fuzz=[fuzzed])
    rec = run_attempt(tmp_path, s)
    assert rec["status"] == "accepted" and [a["type"] for a in rec["actions"]] == ["fuzz", "exit"]
    feedback = s.messages[s.log.index("choose_action") + 1][-1]["content"]
    assert "exit is not allowed yet" in feedback
    assert rec["retried"] == {"choose_action": 1}


def test_change_rejected_by_validity_then_attempt_rejected_by_difficulty(tmp_path):
    s = happy(validity=[VALID, {"valid": False, "reason": "two questions joined"}],
              choose_action=[{"action": "fuzz"}], fuzz=[{"question": "Where and when was Alice born?"}],
              direct_answer=direct("Riverton", "Paris"))
    rec = run_attempt(tmp_path, s, max_steps=1)
    fuzz = rec["actions"][0]
    assert (fuzz["accepted"], fuzz["reason"], fuzz["detail"]) == (False, "validity", "two questions joined")
    assert rec["status"] == "rejected" and rec["reason"] == "difficulty"
    assert rec["question"] == BASE["question"] and rec["direct_gen_accuracy"] == 0.5


def test_base_rejected_by_validity(tmp_path):
    rec = run_attempt(tmp_path, happy(validity=[{"valid": False, "reason": "vague"}]))
    assert rec["status"] == "rejected" and rec["reason"] == "base_validity" and rec["detail"] == "vague"


def test_change_that_leaks_the_answer_is_refused_before_verification(tmp_path):
    s = happy(choose_action=[{"action": "fuzz"}],
              fuzz=[{"question": "Was Alice born in Riverton?"}, {"question": "Where was Riverton's chemist born?"},
                    {"question": "Is riverton right?"}])
    rec = run_attempt(tmp_path, s, max_steps=1)
    assert rec["actions"][0]["reason"] == "reply_error:fuzz" and rec["skipped_steps"] == {"fuzz": 1}


def test_change_rejected_by_difficulty_when_it_gets_easier(tmp_path):
    s = happy(choose_action=[{"action": "fuzz"}], fuzz=[{"question": "Which town on the Blue River was Alice born in?"}],
              direct_answer=direct("Riverton", "Paris", "Riverton", "riverton."))
    rec = run_attempt(tmp_path, s, max_steps=1, max_final_accuracy=0.5)
    fuzz = rec["actions"][0]
    assert (fuzz["accepted"], fuzz["reason"], fuzz["direct_gen_accuracy"]) == (False, "difficulty", 1.0)
    assert rec["status"] == "accepted" and rec["question"] == BASE["question"]  # 0.5 is within the bar


def test_change_rejected_by_uniqueness(tmp_path):
    s = happy(choose_action=[{"action": "fuzz"}], fuzz=[{"question": "Where was a chemist born?"}],
              direct_answer=direct("Paris", "Paris", "Lakeside", "Lakeside"),
              uniqueness=[UNIQUE, {"also_valid": True, "reason": "many chemists"}])
    rec = run_attempt(tmp_path, s, max_steps=1, max_final_accuracy=1.0)
    fuzz = rec["actions"][0]
    assert (fuzz["accepted"], fuzz["reason"]) == (False, "uniqueness") and "Lakeside" in fuzz["detail"]


def test_base_rejected_by_uniqueness(tmp_path):
    s = happy(direct_answer=direct("Lakeside", "Lakeside"), uniqueness=[{"also_valid": True}])
    rec = run_attempt(tmp_path, s)
    assert rec["reason"] == "base_uniqueness"
    assert s.log.count("judge") == 1 and s.log.count("uniqueness") == 1  # one distinct wrong answer


def test_malformed_json_is_retried_with_the_error_fed_back(tmp_path):
    s = happy(extract=["Sure! Here are the facts: Alice was born...", {"summary": "x"}, EXTRACT])
    rec = run_attempt(tmp_path, s)
    assert rec["status"] == "accepted" and rec["retried"] == {"extract": 2}
    second, third = s.messages[1], s.messages[2]
    assert "no JSON object" in second[-1]["content"] and second[-2]["role"] == "assistant"
    assert "no key 'facts'" in third[-1]["content"]


def test_malformed_json_after_all_retries_skips_and_counts(tmp_path):
    s = happy(extract=["no", "{broken", "nope"])
    rec = run_attempt(tmp_path, s)
    assert rec["status"] == "rejected" and rec["reason"] == "reply_error:extract"
    assert rec["skipped_steps"] == {"extract": 1} and rec["retried"] == {"extract": 2}
    assert s.log == ["extract"] * 3 and "question" not in rec
    assert "last reply: 'nope'" in rec["detail"]


def test_malformed_action_choice_skips_the_step_and_continues(tmp_path):
    s = happy(direct_answer=direct("Paris", "London"),
              choose_action=["??", "still no", "{}", {"action": "exit"}])
    rec = run_attempt(tmp_path, s)
    assert [a["type"] for a in rec["actions"]] == ["choose", "exit"]
    assert rec["actions"][0]["reason"] == "reply_error:choose_action"
    assert rec["skipped_steps"] == {"choose_action": 1} and rec["status"] == "accepted"


def test_inject_must_pick_a_linked_entity(tmp_path):
    s = happy(choose_action=[{"action": "inject", "entity": "Mars"}, {"action": "inject", "entity": "acme labs"},
                             {"action": "exit"}])
    rec = run_attempt(tmp_path, s)
    assert rec["actions"][0]["entity"] == "Acme Labs" and rec["status"] == "accepted"
    assert "must be one of the linked entities ['Acme Labs'" in s.messages[s.log.index("choose_action") + 1][-1]["content"]


def test_candidates_exclude_used_pages_and_the_answer_page(tmp_path):
    graph = graph_of(tmp_path)
    role = Role(ChatModel(ScriptedChatEngine(Scenario()), name="x"), 16)
    agent = SynthAgent(graph, role, role, SynthConfig(progress=False))
    from asearcher.synth.verify import QA, Statement

    qa = QA("Where was Alice Smith born?", "Riverton", [Statement("s", "Alice Smith")], ["Alice Smith"])
    assert agent.candidates(qa) == ["Acme Labs"]
    qa.sources.append("Acme Labs")
    assert agent.candidates(qa) == []


@pytest.mark.parametrize("bad", ["", "Riverton"])
def test_base_qa_checks(tmp_path, bad):
    wrong = {**BASE, "question": f"Where was Alice Smith born? {bad}".strip(), "statement": "Alice was a chemist."}
    s = happy(base_qa=[wrong, wrong, wrong])
    rec = run_attempt(tmp_path, s)
    assert rec["reason"] == "reply_error:base_qa"
    fed_back = s.messages[2][-1]["content"]
    assert ("must not contain the answer" if bad else "must state the answer") in fed_back
