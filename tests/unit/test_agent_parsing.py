"""Pure agent functions: action parsing, answers, thoughts, prompt files, chunking (hand-computed values)."""

from __future__ import annotations

import pytest

from asearcher.agent.memory import Context, Segment, chunk_text, split_title
from asearcher.agent.parsing import Action, extract_answer, parse_action, thought_of
from asearcher.agent.template import fill, load_prompts


@pytest.mark.parametrize("text, expected", [
    ("<think>x</think>\n<search> capital of France </search>", Action("search", "capital of France")),
    ("<access>https://a.b/c</access>", Action("access", "https://a.b/c")),
    ("I know.</think><answer> Paris </answer>", Action("answer", "Paris")),
    # the LAST complete call wins
    ("<search>a</search> then <answer>b</answer>", Action("answer", "b")),
    ("<answer>b</answer> then <search>a</search>", Action("search", "a")),
    # a call never spans another action tag: the innermost complete call is taken
    ("<search>a<search>b</search>", Action("search", "b")),
    ("<search><answer>x</answer></search>", Action("answer", "x")),
    # empty content is still a call (the episode turns an empty query into a tool failure)
    ("<search>  </search>", Action("search", "")),
    ("<answer>line 1\nline 2</answer>", Action("answer", "line 1\nline 2")),
])
def test_parse_action_valid(text, expected):
    assert parse_action(text) == expected


@pytest.mark.parametrize("text, reason", [
    ("just some words", "the reply contains no action tag"),
    ("", "the reply contains no action tag"),
    ("<search>foo", "<search> is never closed with </search>"),
    ("<search>foo</access>", "<search> is never closed with </search>"),
    ("foo</answer>", "</answer> appears without an opening <answer>"),
    ("</search>foo<search>", "the action tags are mismatched or nested"),
])
def test_parse_action_invalid_says_why(text, reason):
    a = parse_action(text)
    assert a.kind == "invalid" and a.arg == ""
    assert a.error.startswith(f"no valid action found: {reason};")
    assert "<search>query</search>" in a.error


def test_extract_answer_takes_the_last_complete_answer():
    assert extract_answer("<answer>a</answer> x <answer> b </answer>") == "b"
    assert extract_answer("<answer>a</answer> x <answer> b") == "a"
    assert extract_answer("no answer") is None
    assert extract_answer("<answer></answer>") == ""


@pytest.mark.parametrize("text, thought", [
    ("<think>\nI should search.\n</think>\n<search>q</search>", "I should search."),
    ("I should search.</think>\n<search>q</search>", "I should search."),  # prompt pre-filled <think>
    ("<search>q</search>", ""),
    ("<thought>plan</thought><access>u</access>", "plan"),
    ("thinking <search>unclosed", "thinking"),
    ("only notes</think>", "only notes"),
])
def test_thought_of(text, thought):
    assert thought_of(text) == thought


def test_fill_is_one_pass_and_leaves_other_braces():
    assert fill("{a} {b} {c} {json}", a="{b}", b="B") == "{b} B {c} {json}"


def test_prompt_files_have_the_sections_the_agents_use():
    assert {"system_search", "system_search_access", "user", "prefill", "doc", "information", "no_results",
            "page", "read", "page_done"} <= set(load_prompts("asearcher"))
    assert {"user", "prefill", "doc", "information", "no_results"} <= set(load_prompts("search_r1"))
    assert {"act_search", "act_search_access", "read_search", "read_page", "doc"} <= set(load_prompts("reasoning"))
    common = load_prompts("common")
    assert "the question is invalid" in common["valid_instruction"]
    assert common["likely_instruction"] == "You should try to find the most likely answer."
    assert "<access>" not in load_prompts("asearcher")["system_search"]


def test_chunk_text():
    assert chunk_text("abcdefg", 3, 10) == ["abc", "def", "g"]
    assert chunk_text("abcdefg", 3, 2) == ["abc", "def"]
    assert chunk_text("", 3, 2) == []


def test_split_title():
    assert split_title("Zorba", '"Zorba"\nZorba was born in Quill.') == ("Zorba", "Zorba was born in Quill.")
    assert split_title("", '"Zorba"\nborn in Quill.') == ("Zorba", "born in Quill.")
    assert split_title("Zorba", "Zorba was born in Quill.") == ("Zorba", "Zorba was born in Quill.")
    assert split_title("", "plain text\nmore") == ("", "plain text\nmore")


def test_context_ids_and_messages():
    ctx = Context()
    ctx.append(Segment("prompt", [1, 2], "p", [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]))
    i = ctx.append(Segment("output", [3], "o", [{"role": "assistant", "content": "a"}]))
    ctx.append(Segment("observation", [4, 5], "x", [{"role": "user", "content": "r1"}]))
    ctx.append(Segment("observation", [6], "y", [{"role": "user", "content": "r2"}]))
    assert ctx.ids == [1, 2, 3, 4, 5, 6] and len(ctx) == 6 and ctx.last_id == 6
    assert [m["role"] for m in ctx.messages()] == ["system", "user", "assistant", "user"]
    assert ctx.messages()[-1]["content"] == "r1\n\nr2"
    ctx.replace(i, Segment("output", [9, 9], "o2"))
    assert ctx.ids == [1, 2, 9, 9, 4, 5, 6]
