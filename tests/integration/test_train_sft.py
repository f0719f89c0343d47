"""Warm start: oracle trajectories come from the real agent + real world tools (token-exact with RL-time
prompts), the loss covers only the model's tokens, and a few SFT steps make the oracle more likely."""

from __future__ import annotations

import asyncio
import copy

import pytest

from asearcher.agent import build_agent
from asearcher.config import AgentConfig, KnowledgeConfig, TrainerConfig
from asearcher.errors import DataError
from asearcher.rollout.to_samples import Drift, merge_calls
from asearcher.trainer.engine import Batch
from asearcher.trainer.local import LocalTrainEngine
from asearcher.trainer.sft import (
    load_trajectories,
    oracle_completions,
    oracle_plan,
    oracle_trajectories,
    run_sft,
    save_trajectories,
    sft_samples,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from asearcher.world import generate_world, load_questions

    d = generate_world(tmp_path_factory.mktemp("w") / "world", seed=1, entities=30, max_hops=3)
    return d, load_questions(d, "train")


def test_oracle_completions_follow_the_chain(world):
    _, qs = world
    q = next(x for x in qs if x.meta["hops"] == 2 and x.meta["type"] == "chain")
    comps = oracle_completions(q)
    assert len(comps) == 3
    for hop, c in zip(q.meta["chain"], comps, strict=False):
        assert c.endswith(f"<search>{hop['query']}</search>") and c.count("</think>") == 1
    assert q.meta["chain"][0]["fact"] in comps[1]  # names what was found
    # restates what is left of the question, with the bridge in place of the nested phrase
    assert f"The question becomes: {q.meta['chain'][0]['next_question']}" in comps[1]
    assert comps[-1].endswith(f"<answer>{q.answers[0]}</answer>")
    assert "The question becomes" not in comps[-1] and "The question becomes" not in comps[0]
    # the first thought lists the plan; each later call restates its step and the one after it
    plan = oracle_plan(q)
    assert len(plan) == 3 and plan[0].endswith(f" of {q.meta['chain'][0]['title']}") and plan[2] == "the answer"
    assert f"Next I need {plan[1]} of {q.meta['chain'][0]['bridge']}." in comps[1]
    assert comps[0].startswith(f"Plan: {plan[0]}, then {plan[1]}, then the answer. To answer this I first need")
    assert f"In the plan: {plan[0]}, then {plan[1]}. The question becomes" in comps[1]
    assert f"In the plan: {plan[1]}, then the answer. That is what the question asks" in comps[2]
    one = next(x for x in qs if x.meta["hops"] == 1 and x.meta["type"] == "chain")
    first, last = oracle_completions(one)
    assert first.startswith(f"Plan: {oracle_plan(one)[0]}, then the answer.")
    assert f"In the plan: {oracle_plan(one)[0]}, then the answer. That is" in last
    cmp = next(x for x in qs if x.meta["type"] == "comparison")
    assert oracle_plan(cmp)[-1] == "the comparison" and len(oracle_plan(cmp)) == 3
    assert f"In the plan: {oracle_plan(cmp)[1]}, then the comparison." in oracle_completions(cmp)[-1]
    won = next(h["bridge"] for h in cmp.meta["chain"] if h["title"] == cmp.answers[0])
    which = {"min": "smaller", "max": "larger"}[cmp.meta["compare"]["pick"]]
    assert f"the {which} is {won}, so the answer is {cmp.answers[0]}." in oracle_completions(cmp)[-1]


def test_oracle_trajectories_are_token_exact_rows(world, tiny_tokenizer):
    d, qs = world
    from asearcher.knowledge import open_tools

    tools = open_tools(KnowledgeConfig(topk=3), d)
    agent = build_agent(AgentConfig(max_new_tokens=128), tiny_tokenizer, topk=3)
    picked = [x for x in qs if x.meta["hops"] <= 2][:12]
    trajs, stats = asyncio.run(oracle_trajectories(picked, agent, tools, tiny_tokenizer))
    assert stats["kept"] == len(trajs) >= 8
    for t in trajs:
        assert t.answer == t.example.answers[0]
        seqs, drifts = merge_calls(t.calls)
        assert len(seqs) == 1 and all(x == Drift.CLEAN for x in drifts)  # each prompt extends the last
        s = seqs[0]
        # mask-1 tokens are exactly the oracle's completions, in order; prompts/observations are mask 0
        sampled = [tok for tok, m in zip(s.ids, s.loss_mask, strict=True) if m]
        assert sampled == [i for c in t.calls for i in c.output_ids]
        assert tiny_tokenizer.decode(t.calls[0].output_ids) == oracle_completions(t.example)[0]
    with pytest.raises(DataError, match="max_new_tokens"):
        short = build_agent(AgentConfig(max_new_tokens=4), tiny_tokenizer, topk=3)
        asyncio.run(oracle_trajectories(picked[:2], short, tools, tiny_tokenizer))


def test_sft_steps_raise_oracle_likelihood_and_roundtrip_file(world, tiny_llama, tmp_path):
    d, qs = world
    from asearcher.knowledge import open_tools

    model, tok = tiny_llama
    tools = open_tools(KnowledgeConfig(topk=3), d)
    agent = build_agent(AgentConfig(max_new_tokens=128), tok, topk=3)
    trajs, _ = asyncio.run(oracle_trajectories([x for x in qs if x.meta["hops"] == 1][:2], agent, tools, tok))
    save_trajectories(trajs, tmp_path / "t.jsonl")
    again = load_trajectories(tmp_path / "t.jsonl")
    assert [t.calls[0].output_ids for t in again] == [t.calls[0].output_ids for t in trajs]
    engine = LocalTrainEngine(copy.deepcopy(model), TrainerConfig(autocast_bf16=False), lr=3e-3, total_steps=4)
    rows = Batch.from_samples([r for rs in sft_samples(trajs) for r in rs])
    before = engine.compute_logprobs(rows)
    assert run_sft(engine, again, steps=4, batch_size=1, progress=False)["sft_steps"] == 4
    after = engine.compute_logprobs(rows)
    mean = lambda lps: sum(float(lp[m].sum()) for lp, m in zip(lps, rows.loss_mask, strict=True))  # noqa: E731
    assert mean(after) > mean(before) + 10  # assistant tokens became (much) more likely


def test_sft_time_limit_stops_after_the_step_that_would_overrun(world, tiny_llama):
    d, qs = world
    from asearcher.knowledge import open_tools

    model, tok = tiny_llama
    tools = open_tools(KnowledgeConfig(topk=3), d)
    agent = build_agent(AgentConfig(max_new_tokens=128), tok, topk=3)
    trajs, _ = asyncio.run(oracle_trajectories([x for x in qs if x.meta["hops"] == 1][:1], agent, tools, tok))
    engine = LocalTrainEngine(copy.deepcopy(model), TrainerConfig(autocast_bf16=False), lr=1e-3, total_steps=5)
    out = run_sft(engine, trajs, steps=5, batch_size=1, progress=False, max_minutes=1e-7)
    assert out["sft_steps"] == 1
    assert engine.optimizer.state  # the one step did update
    assert run_sft(engine, trajs, steps=2, batch_size=1, progress=False, max_minutes=60)["sft_steps"] == 2


def test_sft_schedule_decays_with_the_time_budget(world, tiny_llama):
    """A warm start that its time cap will stop early still decays its learning rate toward 0: the schedule
    follows the share of the budget used when that runs ahead of the step count."""
    d, qs = world
    from asearcher.knowledge import open_tools

    model, tok = tiny_llama
    tools = open_tools(KnowledgeConfig(topk=3), d)
    agent = build_agent(AgentConfig(max_new_tokens=128), tok, topk=3)
    trajs, _ = asyncio.run(oracle_trajectories([x for x in qs if x.meta["hops"] == 1][:1], agent, tools, tok))
    used = [0.0]
    engine = LocalTrainEngine(copy.deepcopy(model), TrainerConfig(autocast_bf16=False), lr=1e-3, total_steps=100,
                              lr_schedule="linear", time_frac=lambda: used[0])
    used[0] = 0.6
    out = run_sft(engine, trajs, steps=1, batch_size=1, progress=False)
    assert out["sft/lr"] == pytest.approx(1e-3)  # the first step ran at the peak
    assert engine.optimizer.param_groups[0]["lr"] == pytest.approx(0.4e-3)  # the next would run at 40 %
