"""Prefix merging of a trajectory's LLM calls (algorithm notes §5), incl. a non-prefix split."""

from __future__ import annotations

from asearcher.rollout.to_samples import Drift, merge_calls, trajectory_to_samples
from asearcher.types import Example, LLMCall, Trajectory


def _call(inp, out, lps, vers):
    return LLMCall(input_ids=inp, output_ids=out, output_logprobs=lps, output_versions=vers, finish_reason="stop")


def test_worked_example_one_sequence():
    calls = [_call([10, 11, 12], [20, 21], [-0.1, -0.2], [5, 5]),
             _call([10, 11, 12, 20, 21, 30, 31], [22], [-0.3], [6])]
    seqs, drifts = merge_calls(calls)
    assert len(seqs) == 1 and drifts == [Drift.CLEAN, Drift.CLEAN]
    s = seqs[0]
    assert s.ids == [10, 11, 12, 20, 21, 30, 31, 22]
    assert s.loss_mask == [0, 0, 0, 1, 1, 0, 0, 1]
    assert s.logprobs == [0, 0, 0, -0.1, -0.2, 0, 0, -0.3]
    assert s.versions == [-1, -1, -1, 5, 5, -1, -1, 6]


def test_non_prefix_call_opens_a_new_sequence_and_later_calls_rejoin():
    calls = [_call([1, 2], [3], [-0.1], [0]),
             _call([1, 2, 3, 4, 99, 98], [5], [-0.2], [0]),   # extends seq 0
             _call([1, 2, 3, 4, 77], [6], [-0.3], [1]),       # summary replaced a page: not a prefix of seq 0
             _call([1, 2, 3, 4, 77, 6, 8], [9], [-0.4], [1])]  # extends the new sequence
    seqs, drifts = merge_calls(calls)
    assert drifts == [Drift.CLEAN, Drift.CLEAN, Drift.FORK, Drift.CLEAN]
    assert [s.ids for s in seqs] == [[1, 2, 3, 4, 99, 98, 5], [1, 2, 3, 4, 77, 6, 8, 9]]
    assert seqs[1].loss_mask == [0, 0, 0, 0, 0, 1, 0, 1]  # the forked prompt is all context
    assert seqs[1].versions == [-1, -1, -1, -1, -1, 1, -1, 1]


def test_trajectory_to_samples_marks_first_row():
    calls = [_call([1, 2], [3], [-0.1], [0]), _call([7, 8], [9], [-0.2], [0])]
    traj = Trajectory(id="t1", example=Example(id="q", question="?", answers=["a"]), calls=calls)
    rows = trajectory_to_samples(traj, reward=1.5, group_id="g")
    assert [r.begin_of_trajectory for r in rows] == [True, False]
    assert all(r.reward == 1.5 and r.trajectory_id == "t1" for r in rows)
