"""Training rewards (algorithm notes §4): F1/EM/CEM variants, format, invalid-question override,
group centring and the zero-variance drop."""

from __future__ import annotations

import asyncio

import pytest

from asearcher.rewards import QAReward, best_score, cem, em, f1, format_ok, group_centre, score_trajectory
from asearcher.rewards.base import shape_score
from asearcher.types import Example, LLMCall, Trajectory


def test_f1_is_set_based_and_keeps_articles():
    assert f1("The Eiffel Tower, Paris", "Eiffel Tower") == pytest.approx(2 / 3, abs=1e-4)
    assert f1("paris paris paris", "Paris") == 1.0  # a set: repeats do not lower precision
    assert f1("the", "the") == 1.0  # articles are kept for F1
    assert f1("", "x") == 0.0 and f1("x", "") == 0.0
    assert f1("True", "yes") == 1.0 and f1("False", "no") == 1.0


def test_f1_cjk_splits_characters_and_keeps_digit_runs():
    # gold 北京2008 → {北, 京, 2008}; pred 北京 2008年 → {北, 京, 年, 2008}: common 3, P 3/4, R 1.
    assert f1("北京 2008年", "北京2008") == pytest.approx(2 * 0.75 / 1.75)
    assert f1("2", "北京2008") == 0.0  # "2" is not the digit run "2008"


def test_em_and_cem():
    assert em("The Eiffel Tower.", "eiffel tower") == 1.0
    assert em("Eiffel Tower, Paris", "Eiffel Tower") == 0.0
    assert em("True", "yes") == 1.0
    assert cem("it is the Eiffel Tower in Paris", "Eiffel Tower") == 1.0
    assert cem("Tower", "Eiffel Tower") == 0.0
    assert best_score("em", "paris", ["London", "Paris"]) == 1.0
    assert best_score("f1", None, ["Paris"]) == 0.0
    with pytest.raises(ValueError):
        best_score("bleu", "a", ["a"])


def test_format_rules():
    assert format_ok(["<think>x</think>\n<search>q</search>", "<answer>A</answer>"])
    assert not format_ok(["<search>q</search><answer>A</answer>"])  # two actions
    assert not format_ok(["<search>q"])  # unbalanced
    assert not format_ok(["Assistant: <answer>A</answer>"])
    assert not format_ok(["</think></think><answer>A</answer>"])
    assert format_ok([])


def _traj(answer, texts, valid=True, golds=("Paris",)):
    calls = [LLMCall(input_ids=[1], output_ids=[2], output_logprobs=[-0.1], output_versions=[0],
                     finish_reason="stop", text=t) for t in texts]
    return Trajectory(id="t", example=Example(id="q", question="?", answers=list(golds)), calls=calls,
                      answer=answer, valid_instruction=valid)


def test_score_trajectory_format_zeroes_and_invalid_override():
    rf = QAReward("f1")
    good = _traj("Paris", ["<answer>Paris</answer>"])
    assert asyncio.run(score_trajectory(good, rf)) == 1.0 and good.format_ok and good.score == 1.0
    bad = _traj("Paris", ["<search>a</search><answer>Paris</answer>"])
    assert asyncio.run(score_trajectory(bad, rf)) == 0.0 and bad.score == 1.0 and bad.format_ok is False
    assert asyncio.run(score_trajectory(bad, rf, use_format=False)) == 1.0
    # "find the most likely answer" prompt (valid_instruction False) + an invalid claim → −0.5, even if malformed
    inv = _traj("the question is invalid", ["<answer>x</answer><answer>y</answer>"], valid=False)
    assert asyncio.run(score_trajectory(inv, rf)) == -0.5
    # the same answer is allowed when the prompt offered "the question is invalid"
    ok = _traj("the question is invalid", ["<answer>the question is invalid</answer>"], valid=True)
    assert asyncio.run(score_trajectory(ok, rf)) == 0.0
    # case-sensitive markers: "Valid" alone does not trigger
    assert shape_score(0.5, True, "Valid", valid_instruction=False) == 0.5
    none = _traj(None, ["<search>x</search>"])
    assert asyncio.run(score_trajectory(none, rf)) == 0.0


def test_call_cost_charges_right_answers_only():
    rf = QAReward("f1")
    three = _traj("Paris", ["<search>a</search>", "<search>b</search>", "<access>u</access>",
                            "<answer>Paris</answer>"])
    three.stats.searches, three.stats.accesses = 2, 1
    assert asyncio.run(score_trajectory(three, rf, call_cost=0.1)) == pytest.approx(0.7)
    assert three.score == 1.0  # the task score itself is not charged
    assert asyncio.run(score_trajectory(three, rf)) == 1.0  # 0 = ASearcher's reward
    wrong = _traj("Lyon", ["<search>a</search>", "<answer>Lyon</answer>"])
    wrong.stats.searches = 1
    assert asyncio.run(score_trajectory(wrong, rf, call_cost=0.1)) == 0.0
    # never below zero, however many calls; the invalid-claim override still applies
    assert shape_score(1.0, True, "Paris", True, calls=30, call_cost=0.1) == 0.0
    assert shape_score(1.0, True, "invalid", False, calls=2, call_cost=0.1) == -0.5
    # an all-right group with different call counts now carries a signal
    assert group_centre([shape_score(1.0, True, "P", True, calls=c, call_cost=0.05) for c in (1, 1, 3, 1)])


def test_aug_answers():
    t = _traj("Paris", ["<answer>Paris</answer>"], golds=("Lyon",))
    t.example.meta["aug_answers"] = ["Paris"]
    assert asyncio.run(QAReward("em").score(t)) == pytest.approx(0.3)


def test_group_centring_and_zero_variance_drop():
    assert group_centre([1.0, 0.5, 0.0, 0.0]) == [0.625, 0.125, -0.375, -0.375]
    assert group_centre([0.1, 0.1, 0.1]) is None
    assert group_centre([0.0, 0.0]) is None
    assert group_centre([1.0]) is None  # n_trajs = 1 never carries signal
