"""Agent episodes end to end on CPU: scripted engine (real SmolLM2 tokenizer), in-memory tools.

Covers search → access (multi-chunk page) → answer, the exact token segments of a chat episode, the
prefix-extension property, limits (max_turns incl. 256, token budget), the invalid-question switch,
malformed outputs, tool failures, a backend that is down, engine errors, the three agents and the base
format.
"""

from __future__ import annotations

import asyncio
from itertools import pairwise

import pytest

from asearcher.agent import build_agent, run_episode
from asearcher.config import AgentConfig
from asearcher.errors import EngineError, ToolError
from asearcher.inference.fake import ScriptedEngine
from asearcher.tools import StaticTools
from asearcher.types import Example, GenerateResponse, Hit, Page

URL = "https://world.local/wiki/Zorba_Quell"
PAGE_TEXT = "".join(f"Part {i}: Zorba Quell was born in Ostravin and founded Bluefin Works. " for i in range(6))
HITS = [
    Hit(id="p1", title="Zorba Quell", contents='"Zorba Quell"\nZorba Quell was born in Ostravin.', url=URL),
    Hit(id="p2", title="Bluefin Works", contents='"Bluefin Works"\nBluefin Works was founded by Zorba Quell.',
        url="https://world.local/wiki/Bluefin_Works"),
]
EXAMPLE = Example(id="q1", question="Where was the founder of Bluefin Works born?", answers=["Ostravin"])


def tools() -> StaticTools:
    return StaticTools(HITS, {URL: Page(url=URL, title="Zorba Quell", contents=PAGE_TEXT)})


def cfg(**kw) -> AgentConfig:
    return AgentConfig(**({"chunk_chars": 150, "summary_chars": 30, "max_new_tokens": 64} | kw))


def run(agent, engine, tools_, **kw):
    return asyncio.run(run_episode(agent, engine, tools_, EXAMPLE, **kw))


def extends(prev, nxt) -> bool:
    """True when ``nxt``'s input starts with ``prev``'s input + output (token-prefix extension)."""
    head = prev.input_ids + prev.output_ids
    return nxt.input_ids[: len(head)] == head


SEARCH = "I should find the founder.</think>\n<search>Bluefin Works founder</search>"
ACCESS = f"Zorba Quell founded it.</think>\n<access>{URL}</access>"
ANSWER = "He was born in Ostravin.</think>\n<answer>Ostravin</answer>"


def test_search_access_multichunk_answer(tiny_tokenizer):
    agent = build_agent(cfg(), tiny_tokenizer)
    n_chunks = -(-len(PAGE_TEXT) // 150)
    script = [SEARCH, ACCESS] + [f"notes {i}</think>" for i in range(n_chunks)] + [ANSWER]
    engine = ScriptedEngine(tiny_tokenizer, script)
    events = []
    traj = run(agent, engine, tools(), trajectory_id="t-1", on_event=events.append)

    assert traj.answer == "Ostravin" and traj.stats.finish == "answer" and traj.error is None
    assert [c.purpose for c in traj.calls] == ["act", "act"] + ["read"] * n_chunks + ["act"]
    s = traj.stats
    assert (s.turns, s.searches, s.accesses, s.tool_failures, s.invalid_actions) == (n_chunks + 3, 1, 1, 0, 0)
    assert s.input_tokens == sum(len(c.input_ids) for c in traj.calls)
    assert s.output_tokens == sum(len(c.output_ids) for c in traj.calls) and len(s.search_latency_s) == 1
    assert events == traj.turns
    assert [t.kind for t in traj.turns[:6]] == ["think", "search", "observation", "think", "access", "observation"]
    assert [t.chunk for t in traj.turns if t.kind == "summary"] == list(range(n_chunks))
    assert traj.turns[2].hits[0].id == "p2" and engine.released == ["t-1"]
    # outputs are the engine's exact ids, with its logprobs and versions
    for c, text in zip(traj.calls, script, strict=True):
        assert c.output_ids == tiny_tokenizer.encode(text, add_special_tokens=False)
        assert c.output_logprobs == [-0.5] * len(c.output_ids) and c.output_versions == [0] * len(c.output_ids)
        assert engine.requests[traj.calls.index(c)].input_ids == c.input_ids
    # prefix extension everywhere except right after a chunk was read (its page text was compressed)
    for prev, nxt in pairwise(traj.calls):
        assert extends(prev, nxt) == (prev.purpose != "read")
    first_chunk = PAGE_TEXT[:150]
    assert first_chunk in tiny_tokenizer.decode(traj.calls[2].input_ids)
    last = tiny_tokenizer.decode(traj.calls[-1].input_ids)
    assert first_chunk not in last and PAGE_TEXT[:30] + "…" in last  # short form stays
    assert all(f"notes {i}</think>" in last for i in range(n_chunks))  # the model's own notes stay
    assert f"You have read all {n_chunks} part(s) of {URL}" in last


def test_exact_token_segments_of_a_two_turn_chat_episode(tiny_tokenizer):
    agent = build_agent(cfg(), tiny_tokenizer)
    traj = run(agent, ScriptedEngine(tiny_tokenizer, [SEARCH.replace("founder", "Zorba"), ANSWER]), tools())
    first, second = traj.calls
    observation = (
        "<|im_end|>\n<|im_start|>user\n<information>\n"
        "[Doc 1](https://world.local/wiki/Bluefin_Works):\nBluefin Works\nBluefin Works was founded by Zorba Quell."
        f"\n\n[Doc 2]({URL}):\nZorba Quell\nZorba Quell was born in Ostravin.\n"
        "</information><|im_end|>\n<|im_start|>assistant\n<think>\n"
    )
    obs_ids = tiny_tokenizer.encode(observation, add_special_tokens=False)
    assert second.input_ids == first.input_ids + first.output_ids + obs_ids
    prompt = tiny_tokenizer.decode(first.input_ids)
    assert prompt.startswith("<|im_start|>system\nA conversation between User and Assistant.")
    assert prompt.endswith("<|im_start|>user\nWhere was the founder of Bluefin Works born?\n\nThe language of your "
                           "answer should align with the question.<|im_end|>\n<|im_start|>assistant\n<think>\n")
    assert first.input_ids == tiny_tokenizer.encode(prompt, add_special_tokens=False)
    assert engine_stop_ok(traj)


def engine_stop_ok(traj) -> bool:
    return all(c.finish_reason == "stop" for c in traj.calls)


def test_stop_strings_and_stop_tokens_sent(tiny_tokenizer):
    agent = build_agent(cfg(), tiny_tokenizer)
    engine = ScriptedEngine(tiny_tokenizer, [SEARCH, ACCESS] + ["n</think>"] * 6 + [ANSWER])
    run(agent, engine, tools(), temperature=0.0)
    acts = [r for r in engine.requests if "</search>" in r.stop]
    assert acts and all(r.stop == ["</search>", "</access>", "</answer>"] for r in acts)
    assert all(r.stop == ["</think>", "</answer>"] for r in engine.requests if r not in acts)
    assert all(r.stop_token_ids == [2] and r.temperature == 0.0 and r.max_new_tokens == 64 for r in engine.requests)
    assert len({r.session_id for r in engine.requests}) == 1


def test_read_output_ending_with_eos_is_not_closed_twice(tiny_tokenizer):
    agent = build_agent(cfg(), tiny_tokenizer)
    n_chunks = -(-len(PAGE_TEXT) // 150)
    engine = ScriptedEngine(tiny_tokenizer, [ACCESS] + ["notes without a closing tag"] * n_chunks + [ANSWER])
    traj = run(agent, engine, tools())
    assert traj.stats.finish == "answer"
    assert traj.calls[1].output_ids[-1] == 2  # the read call ended its turn
    text = tiny_tokenizer.decode(traj.calls[-1].input_ids)
    assert "<|im_end|><|im_end|>" not in text and text.count("<|im_end|>\n<|im_start|>user") == 2 + n_chunks


def test_max_turns_counts_llm_calls(tiny_tokenizer):
    agent = build_agent(cfg(), tiny_tokenizer)
    traj = run(agent, ScriptedEngine(tiny_tokenizer, [SEARCH] * 10), tools(), max_turns=3)
    assert traj.stats.finish == "max_turns" and traj.stats.turns == 3 == len(traj.calls) == traj.stats.searches
    assert traj.answer is None


def test_final_answer_call_after_the_limit(tiny_tokenizer):
    """``final_answer``: once the calls are used up, one more call, told to answer and pre-filled, whose
    answer ends the episode; it extends the transcript (one training row) like any other call."""
    agent = build_agent(cfg(final_answer=True), tiny_tokenizer)
    engine = ScriptedEngine(tiny_tokenizer, [SEARCH] * 3 + [" the answer is Ostravin.</think>\n<answer>Ostravin</answer>"])
    traj = run(agent, engine, tools(), max_turns=3)
    assert traj.stats.finish == "answer" and traj.answer == "Ostravin"
    assert traj.stats.turns == 4 == len(traj.calls) and traj.stats.searches == 3
    assert all(extends(a, b) for a, b in pairwise(traj.calls))
    forced = tiny_tokenizer.decode(traj.calls[-1].input_ids)
    assert forced.endswith("<information>\nNo searches are left. Give your final answer now.\n</information>"
                           "<|im_end|>\n<|im_start|>assistant\n<think>\nNo searches are left, so")
    assert engine.requests[-1].stop == ["</search>", "</access>", "</answer>"]
    assert [t.kind for t in traj.turns[-3:]] == ["observation", "think", "answer"]
    assert traj.turns[-2].text == "No searches are left, so the answer is Ostravin."
    # a forced call that still does not answer leaves the episode unanswered
    traj = run(agent, ScriptedEngine(tiny_tokenizer, [SEARCH] * 4), tools(), max_turns=3)
    assert traj.stats.finish == "max_turns" and traj.answer is None and len(traj.calls) == 4
    # off (the default): no extra call
    traj = run(build_agent(cfg(), tiny_tokenizer), ScriptedEngine(tiny_tokenizer, [SEARCH] * 4), tools(), max_turns=3)
    assert len(traj.calls) == 3


def test_final_answer_call_of_the_reasoning_agent(tiny_tokenizer):
    agent = build_agent(cfg(type="reasoning", final_answer=True), tiny_tokenizer)
    script = [SEARCH, "Zorba Quell founded it.</think>", " it is Ostravin.</think>\n<answer>Ostravin</answer>"]
    traj = run(agent, ScriptedEngine(tiny_tokenizer, script), tools(), max_turns=2)
    assert traj.stats.finish == "answer" and traj.answer == "Ostravin" and len(traj.calls) == 3
    prompt = tiny_tokenizer.decode(traj.calls[-1].input_ids)
    assert "Note: No searches are left. Give your final answer now." in prompt
    assert prompt.endswith("<think>\nNo searches are left, so")


def test_max_turns_256_one_growing_sequence(tiny_tokenizer):
    agent = build_agent(cfg(max_total_tokens=1_000_000, max_turns=256), tiny_tokenizer)
    script = [f"<search>nothing {i}</search>" for i in range(256)]
    traj = run(agent, ScriptedEngine(tiny_tokenizer, script), tools())
    assert traj.stats.finish == "max_turns" and len(traj.calls) == 256 == traj.stats.searches
    assert all(extends(a, b) for a, b in pairwise(traj.calls))
    assert "No search results are found." in traj.turns[-1].text


def test_token_budget_ends_cleanly(tiny_tokenizer):
    probe = run(build_agent(cfg(), tiny_tokenizer), ScriptedEngine(tiny_tokenizer, [SEARCH, ANSWER]), tools())
    budget = len(probe.calls[1].input_ids) + 64 - 1  # the second call would not fit
    agent = build_agent(cfg(max_total_tokens=budget), tiny_tokenizer)
    traj = run(agent, ScriptedEngine(tiny_tokenizer, [SEARCH, ANSWER]), tools())
    assert traj.stats.finish == "token_budget" and len(traj.calls) == 1 and traj.answer is None
    assert all(len(c.input_ids) + 64 <= budget for c in traj.calls)


@pytest.mark.parametrize("valid", [True, False])
def test_invalid_question_instruction_switch(tiny_tokenizer, valid):
    agent = build_agent(cfg(), tiny_tokenizer)
    engine = ScriptedEngine(tiny_tokenizer, ["</think><answer> the question is invalid. </answer>"])
    traj = run(agent, engine, tools(), valid_instruction=valid)
    prompt = tiny_tokenizer.decode(traj.calls[0].input_ids)
    assert traj.valid_instruction is valid and traj.answer == "the question is invalid."
    assert ("replies with '<answer> the question is invalid. </answer>'" in prompt) is valid
    assert ("You should try to find the most likely answer." in prompt) is not valid


@pytest.mark.parametrize("kind", ["asearcher", "search-r1", "reasoning"])
def test_system_prompt_override_replaces_the_variants_prompt(tiny_tokenizer, kind):
    mine = "Search, then answer inside <answer> </answer>. {instruction}"
    traj = run(build_agent(cfg(type=kind, system_prompt=mine), tiny_tokenizer),
               ScriptedEngine(tiny_tokenizer, [SEARCH, ANSWER, ANSWER]), tools(), valid_instruction=False)
    prompt = tiny_tokenizer.decode(traj.calls[0].input_ids)
    assert "Search, then answer inside <answer> </answer>. You should try to find the most likely answer." in prompt
    assert "A conversation between User and Assistant" not in prompt and "research assistant" not in prompt
    assert traj.answer == "Ostravin" and traj.stats.searches == 1


@pytest.mark.parametrize("tools_", ["search", "search_access"])
def test_concise_prompt_keeps_the_tags_of_its_tools(tiny_tokenizer, tools_):
    paper = tiny_tokenizer.decode(run(build_agent(cfg(tools=tools_), tiny_tokenizer),
                                      ScriptedEngine(tiny_tokenizer, [ANSWER]), tools()).calls[0].input_ids)
    traj = run(build_agent(cfg(tools=tools_, prompt="concise"), tiny_tokenizer),
               ScriptedEngine(tiny_tokenizer, [SEARCH, ANSWER]), tools())
    short = tiny_tokenizer.decode(traj.calls[0].input_ids)
    assert len(short) < 0.6 * len(paper) and traj.answer == "Ostravin"
    assert ("<access> url </access>" in short) is (tools_ == "search_access") and "<search> query </search>" in short


def test_malformed_outputs_become_observations(tiny_tokenizer):
    agent = build_agent(cfg(max_new_tokens=12), tiny_tokenizer)
    script = ["<search>foo</access>", "a very long ramble that goes on and on and on and never ever stops at all",
              "<answer>Ostravin</answer>"]
    traj = run(agent, ScriptedEngine(tiny_tokenizer, script), tools())
    assert traj.stats.finish == "answer" and traj.stats.invalid_actions == 2
    invalid = [t for t in traj.turns if t.kind == "invalid"]
    assert invalid[0].text.startswith("no valid action found: <search> is never closed")
    assert traj.calls[1].finish_reason == "length"
    assert "no valid action found" in tiny_tokenizer.decode(traj.calls[2].input_ids)
    assert all(extends(a, b) for a, b in pairwise(traj.calls))


def test_eos_without_an_action_ends_the_episode(tiny_tokenizer):
    agent = build_agent(cfg(), tiny_tokenizer)
    traj = run(agent, ScriptedEngine(tiny_tokenizer, ["I do not know."]), tools())
    assert traj.stats.finish == "eos_without_answer" and traj.answer is None and traj.stats.invalid_actions == 0


class FlakyTools(StaticTools):
    async def search(self, query, topk):
        if "boom" in query:
            raise ToolError("the index rejected the query")
        return await super().search(query, topk)


def test_tool_failures_are_observations_and_counted(tiny_tokenizer):
    agent = build_agent(cfg(), tiny_tokenizer)
    script = ["<search>   </search>", "<access>https://nowhere.example/x</access>", "<search>boom</search>",
              "<access></access>", ANSWER]
    t = FlakyTools(HITS, {})
    traj = run(agent, ScriptedEngine(tiny_tokenizer, script), t)
    assert traj.stats.finish == "answer" and traj.stats.tool_failures == 4
    assert (traj.stats.searches, traj.stats.accesses) == (2, 2)
    failed = [x.text for x in traj.turns if x.kind == "observation" and not x.ok]
    assert "the query is empty" in failed[0] and "no page was found at https://nowhere.example/x" in failed[1]
    assert "the index rejected the query" in failed[2] and "the url is empty" in failed[3]
    assert t.calls == [("access", "https://nowhere.example/x")]  # empty query/url never reach the backend


def test_backend_down_is_recorded_not_raised(tiny_tokenizer):
    agent = build_agent(cfg(), tiny_tokenizer)
    t = tools()
    t.fail_search = True
    engine = ScriptedEngine(tiny_tokenizer, [SEARCH, ANSWER])
    traj = run(agent, engine, t, trajectory_id="down")
    assert traj.stats.finish == "error" and "search backend is down" in traj.error
    assert len(traj.calls) == 1 and engine.released == ["down"]


def test_engine_errors_propagate_and_the_session_is_released(tiny_tokenizer):
    class Broken(ScriptedEngine):
        async def generate(self, request):
            raise EngineError("engine is gone")

    engine = Broken(tiny_tokenizer, [])
    with pytest.raises(EngineError, match="engine is gone"):
        run(build_agent(cfg(), tiny_tokenizer), engine, tools(), trajectory_id="x")
    assert engine.released == ["x"]


def test_aborted_generation_ends_the_episode(tiny_tokenizer):
    class Aborting(ScriptedEngine):
        async def generate(self, request):
            return GenerateResponse(output_ids=[5], output_logprobs=[-1.0], output_versions=[3],
                                    finish_reason="abort")

    traj = run(build_agent(cfg(), tiny_tokenizer), Aborting(tiny_tokenizer, []), tools())
    assert traj.stats.finish == "aborted" and traj.calls[0].output_versions == [3]


def test_async_on_event_is_awaited(tiny_tokenizer):
    seen = []

    async def on_event(turn):
        await asyncio.sleep(0)
        seen.append(turn.kind)

    traj = run(build_agent(cfg(), tiny_tokenizer), ScriptedEngine(tiny_tokenizer, [SEARCH, ANSWER]), tools(),
               on_event=on_event)
    assert seen == [t.kind for t in traj.turns] == ["think", "search", "observation", "think", "answer"]


def test_search_only_asearcher_rejects_access(tiny_tokenizer):
    agent = build_agent(cfg(tools="search"), tiny_tokenizer)
    traj = run(agent, ScriptedEngine(tiny_tokenizer, [ACCESS, ANSWER]), tools())
    assert "<access>" not in tiny_tokenizer.decode(traj.calls[0].input_ids)
    assert traj.stats.invalid_actions == 1 and traj.stats.accesses == 0
    assert "<access> is not available here; use one of <answer>, <search>" in traj.turns[1].text


def test_search_r1_agent_prompt_and_information_format(tiny_tokenizer):
    agent = build_agent(cfg(type="search-r1"), tiny_tokenizer)
    traj = run(agent, ScriptedEngine(tiny_tokenizer, ["<think>x</think><search>Bluefin Works Zorba</search>",
                                                      "<think>y</think><answer>Ostravin</answer>"]), tools())
    assert traj.agent == "search-r1" and traj.answer == "Ostravin"
    prompt = tiny_tokenizer.decode(traj.calls[0].input_ids)
    assert "Answer the given question. You must conduct reasoning inside <think> and </think>" in prompt
    assert prompt.endswith("Question: Where was the founder of Bluefin Works born?<|im_end|>\n<|im_start|>assistant\n")
    second = tiny_tokenizer.decode(traj.calls[1].input_ids)
    assert ("<information>Doc 1(Title: Bluefin Works) Bluefin Works was founded by Zorba Quell.\n"
            "Doc 2(Title: Zorba Quell) Zorba Quell was born in Ostravin.</information>") in second
    assert extends(*traj.calls)


def test_reasoning_agent_reads_results_and_pages_in_separate_calls(tiny_tokenizer):
    agent = build_agent(cfg(type="reasoning"), tiny_tokenizer)
    n_chunks = -(-len(PAGE_TEXT) // 150)
    script = [SEARCH, "Doc 2 says Zorba Quell founded it; read his page.</think>", ACCESS]
    script += [f"page note {i}</think>" for i in range(n_chunks)] + [ANSWER]
    traj = run(agent, ScriptedEngine(tiny_tokenizer, script), tools())
    assert traj.agent == "reasoning" and traj.answer == "Ostravin" and traj.stats.finish == "answer"
    assert [c.purpose for c in traj.calls] == ["act", "read", "act"] + ["read"] * n_chunks + ["act"]
    texts = [tiny_tokenizer.decode(c.input_ids) for c in traj.calls]
    assert all(t.startswith("<|im_start|>system\nYou are a research assistant.") for t in texts)
    assert 'Latest search results for "Bluefin Works founder"' in texts[1]
    assert "Bluefin Works was founded by Zorba Quell." in texts[1]
    assert PAGE_TEXT[:150] in texts[3] and "part 1 of" in texts[3]
    final = texts[-1]
    assert "Notes: Doc 2 says Zorba Quell founded it; read his page." in final
    assert all(f"Notes: page note {i}" in final for i in range(n_chunks))
    assert PAGE_TEXT[:150] not in final and "<search> Bluefin Works founder </search>" in final
    assert not any(extends(a, b) for a, b in pairwise(traj.calls))
    assert [t.kind for t in traj.turns].count("summary") == 1 + n_chunks


def test_base_format_with_another_tokenizer(tiny_qwen2):
    tok = tiny_qwen2[1]
    agent = build_agent(cfg(), tok, "base")
    traj = run(agent, ScriptedEngine(tok, [SEARCH, ANSWER]), tools())
    first = tok.decode(traj.calls[0].input_ids)
    assert first.startswith("A conversation between User and Assistant.")
    assert first.endswith("\n\nUser: Where was the founder of Bluefin Works born?\n\nThe language of your answer "
                          "should align with the question.\n\nAssistant: <think>\n")
    obs = tok.encode("\n\n<information>\n[Doc 1](https://world.local/wiki/Bluefin_Works):", add_special_tokens=False)
    second = traj.calls[1]
    assert extends(traj.calls[0], second)
    n = len(traj.calls[0].input_ids) + len(traj.calls[0].output_ids)
    assert second.input_ids[n:n + len(obs)] == obs
    assert tok.decode(second.input_ids).endswith("</information>\n\n<think>\n")
    assert set(traj.calls[0].output_ids) <= set(range(len(tok)))


def test_text_only_engine_gets_alternating_messages(tiny_tokenizer):
    class TextEngine:
        token_level = False
        version = 0

        def __init__(self):
            self.requests, self.replies = [], [SEARCH, ANSWER]

        async def generate(self, request):
            self.requests.append(request)
            return GenerateResponse(output_ids=[], output_logprobs=[], output_versions=[], finish_reason="stop",
                                    text=self.replies.pop(0))

    engine = TextEngine()
    traj = run(build_agent(cfg(), tiny_tokenizer), engine, tools())
    assert traj.answer == "Ostravin"
    roles = [m["role"] for m in engine.requests[1].messages]
    assert roles == ["system", "user", "assistant", "user"]
    assert engine.requests[1].messages[2]["content"] == SEARCH
    assert engine.requests[1].messages[3]["content"].startswith("<information>\n[Doc 1]")
    assert traj.calls[0].output_ids == tiny_tokenizer.encode(SEARCH, add_special_tokens=False)


def test_concurrent_episodes_on_the_in_process_engine(tiny_llama):
    from asearcher.inference.hf import HFEngine

    model, tok = tiny_llama
    agent = build_agent(cfg(max_new_tokens=6, max_turns=3), tok)

    async def main():
        engine = HFEngine(model, tok, max_batch=4, seed=0)
        try:
            trajs = await asyncio.gather(*[
                run_episode(agent, engine, tools(), EXAMPLE, trajectory_id=f"t{i}", temperature=1.0)
                for i in range(2)])
            return trajs, engine.stats
        finally:
            await engine.aclose()

    trajs, stats = asyncio.run(main())
    for traj in trajs:
        assert traj.stats.turns == len(traj.calls) >= 1 and traj.stats.finish in ("max_turns", "eos_without_answer")
        for c in traj.calls:
            assert 0 < len(c.output_ids) <= 6 and all(lp <= 0 for lp in c.output_logprobs)
            assert c.text == tok.decode(c.output_ids, skip_special_tokens=True)
        assert all(extends(a, b) for a, b in pairwise(traj.calls))
    if any(len(t.calls) > 1 for t in trajs):
        assert stats.reused_tokens > 0  # later turns reuse the KV of the earlier ones


def test_reasoning_history_keeps_the_newest_entries_that_fit(tiny_tokenizer):
    script = []
    for i in range(6):
        script += [f"step {i}</think>\n<search>Bluefin Works {i}</search>", f"note number {i} " * 8 + "</think>"]
    agent = build_agent(cfg(type="reasoning", max_total_tokens=650, max_turns=12), tiny_tokenizer)
    traj = run(agent, ScriptedEngine(tiny_tokenizer, script), tools())
    assert traj.stats.finish == "max_turns"
    assert all(len(c.input_ids) + 64 <= 650 for c in traj.calls)
    last = tiny_tokenizer.decode(traj.calls[-1].input_ids)
    assert "note number 4" in last and "note number 0" not in last
