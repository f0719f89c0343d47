"""Property tests: thousands of random and malformed completions through the parser and through whole
episodes of every agent and turn format. Nothing may crash; every episode is a valid, consistent
Trajectory (limits held, counts add up, token-prefix extension where the transcript only grew)."""

from __future__ import annotations

import asyncio
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asearcher.agent import build_agent, run_episode
from asearcher.agent.parsing import ACTION_TAGS, extract_answer, parse_action, thought_of
from asearcher.config import AgentConfig
from asearcher.inference.fake import ScriptedEngine
from asearcher.tools import StaticTools
from asearcher.types import Example, Hit, Page, Trajectory

URL = "https://world.local/wiki/Zorba_Quell"
FRAGMENTS = st.sampled_from([
    "<think>", "</think>", "<search>", "</search>", "<access>", "</access>", "<answer>", "</answer>",
    "<information>", "</information>", "<thought>", URL, "https://nowhere.example/x", "Zorba Quell", "born",
    " ", "\n", "<|im_end|>", "<|im_start|>", "{question}", "…", "é", "🙂", "Assistant:", "\t",
])
COMPLETION = st.lists(st.one_of(FRAGMENTS, st.text(max_size=8)), max_size=14).map("".join)
FINISHES = {"answer", "max_turns", "token_budget", "eos_without_answer"}


def _one_clean_call(text: str) -> bool:
    """Exactly one ``<t>…</t>`` pair, in order, and no other action tag anywhere."""
    tags = [(t, text.count(f"<{t}>"), text.count(f"</{t}>")) for t in ACTION_TAGS]
    used = [(t, o, c) for t, o, c in tags if o or c]
    return len(used) == 1 and used[0][1:] == (1, 1) and text.index(f"<{used[0][0]}>") < text.index(f"</{used[0][0]}>")


@settings(max_examples=2000, deadline=None)
@given(st.one_of(COMPLETION, st.text(max_size=200)))
def test_parser_never_crashes_and_is_consistent(text):
    a = parse_action(text)
    if a.kind == "invalid":
        assert a.error.startswith("no valid action found: ") and a.arg == ""
        assert not _one_clean_call(text)
    else:
        assert f"<{a.kind}>" in text and f"</{a.kind}>" in text and a.arg == a.arg.strip()
        assert not any(f"<{t}>" in a.arg or f"</{t}>" in a.arg for t in ACTION_TAGS)
    answer = extract_answer(text)
    assert answer is None or "<answer>" in text
    assert isinstance(thought_of(text), str)


def _tools() -> StaticTools:
    hits = [Hit(id="p1", title="Zorba Quell", contents="Zorba Quell was born in Ostravin.", url=URL)]
    return StaticTools(hits, {URL: Page(url=URL, title="Zorba Quell", contents="Zorba Quell was born. " * 40)})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    completions=st.lists(COMPLETION, min_size=1, max_size=10),
    agent_type=st.sampled_from(["asearcher", "search-r1", "reasoning"]),
    tools=st.sampled_from(["search", "search_access"]),
    template=st.sampled_from(["chat", "base"]),
    valid=st.booleans(),
    max_new=st.integers(min_value=1, max_value=24),
)
def test_random_completions_through_whole_episodes(tiny_tokenizer, completions, agent_type, tools, template,
                                                   valid, max_new):
    cfg = AgentConfig(type=agent_type, tools=tools, max_turns=8, max_new_tokens=max_new, max_total_tokens=1200,
                      chunk_chars=300, max_chunks=3, summary_chars=20)
    agent = build_agent(cfg, tiny_tokenizer, template)
    engine = ScriptedEngine(tiny_tokenizer, completions * 8)
    example = Example(id="q", question="Where was Zorba Quell born?", answers=["Ostravin"])
    traj = asyncio.run(run_episode(agent, engine, _tools(), example, valid_instruction=valid))

    assert Trajectory.model_validate_json(traj.model_dump_json()) == traj
    s = traj.stats
    assert s.finish in FINISHES and traj.error is None and traj.valid_instruction is valid
    assert s.turns == len(traj.calls) <= 8 and (traj.answer is not None) == (s.finish == "answer")
    acts = sum(c.purpose == "act" for c in traj.calls)
    assert s.searches + s.accesses + s.invalid_actions <= acts and s.tool_failures <= s.searches + s.accesses
    assert s.input_tokens == sum(len(c.input_ids) for c in traj.calls)
    for c in traj.calls:
        assert len(c.input_ids) + max_new <= 1200 and 0 < len(c.output_ids) <= max_new
        assert len(c.output_logprobs) == len(c.output_versions) == len(c.output_ids)
    if agent_type != "reasoning":
        for prev, nxt in pairwise(traj.calls):
            assert (nxt.input_ids[: len(prev.input_ids) + len(prev.output_ids)]
                    == prev.input_ids + prev.output_ids) or prev.purpose == "read"
    assert engine.released == [traj.id]
