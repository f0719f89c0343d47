"""Training questions: JSONL loading with clear errors; the deterministic, resumable, curriculum-aware stream."""

from __future__ import annotations

import json

import pytest

from asearcher.config.rollout import CurriculumStage
from asearcher.errors import ConfigError, DataError
from asearcher.rollout.data import QuestionStream, load_examples, stage_for
from asearcher.types import Example


def test_load_examples(tmp_path):
    p = tmp_path / "q.jsonl"
    p.write_text('{"id": "a", "question": "Q?", "answer": "x", "hops": 2}\n\n{"question": "R?", "answers": ["y", "z"]}\n')
    ex = load_examples(p)
    assert [e.id for e in ex] == ["a", "3"] and ex[0].meta == {"hops": 2} and ex[1].answers == ["y", "z"]
    p.write_text('{"question": "Q?", "answer": "x"}\n{"question": "R?"}\n')
    with pytest.raises(DataError, match=r"q.jsonl:2: field 'answer'"):
        load_examples(p)
    p.write_text("not json\n")
    with pytest.raises(DataError, match=r"q.jsonl:1: invalid JSON"):
        load_examples(p)


def _ex(n=20):
    return [Example(id=f"q{i}", question="?", answers=["a"], meta={"hops": 1 + i % 4}) for i in range(n)]


def test_stream_is_deterministic_and_covers_an_epoch_once():
    a, b = QuestionStream(_ex(), seed=5), QuestionStream(_ex(), seed=5)
    first = [a.next()[0] for _ in range(20)]
    assert first == [b.next()[0] for _ in range(20)] and sorted(first) == list(range(20))
    assert a.next()[0] is not None and a.epoch == 1  # wraps into a new shuffled epoch
    assert first != [QuestionStream(_ex(), seed=6).next()[0] for _ in range(20)]


def test_curriculum_stages_and_skipped_questions_stay_available():
    cur = [CurriculumStage(from_step=0, max_hops=1), CurriculumStage(from_step=3, min_hops=2, max_hops=4)]
    assert stage_for(cur, 0, None) == (1, 1) and stage_for(cur, 5, None) == (2, 4)
    s = QuestionStream(_ex(), seed=1, curriculum=cur)
    early = [s.next(0)[1].meta["hops"] for _ in range(5)]
    assert early == [1] * 5
    late = [s.next(3)[1].meta["hops"] for _ in range(15)]
    assert all(h >= 2 for h in late) and len(late) == 15  # all 15 multi-hop questions, none lost
    with pytest.raises(ConfigError, match="hops"):
        QuestionStream(_ex(), curriculum=[CurriculumStage(min_hops=9)]).next(0)


def test_state_roundtrip_and_requeue():
    s = QuestionStream(_ex(), seed=2)
    for _ in range(7):
        s.next()
    state = s.state_dict()
    t = QuestionStream(_ex(), seed=2)
    t.load_state_dict(state)
    t.requeue([4, 9])
    assert [t.next()[0] for _ in range(2)] == [4, 9]
    assert t.next()[0] == s.next()[0]  # then the same order as the uninterrupted stream
    with pytest.raises(ConfigError, match="seed"):
        QuestionStream(_ex(), seed=3).load_state_dict(state)


def _ex_big(per_hop=50):
    return [Example(id=f"q{i}", question="?", answers=["a"], meta={"hops": 1 + i % 4}) for i in range(4 * per_hop)]


def test_adaptive_sampling_follows_the_mixed_share_and_keeps_probing():
    s = QuestionStream(_ex_big(), seed=4, max_hops=3, adaptive=True, window=8, floor=0.15)
    assert s.hop_weights(1, 3) == {1: 0.5, 2: 0.5, 3: 0.5}  # nothing recorded yet: every hop count alike
    for h in (1, 2, 3, 4):
        idx = next(i for i, e in enumerate(s.examples) if e.meta["hops"] == h)
        for k in range(10):  # only the last 8 count
            s.record(idx, mixed=(h == 2) or (h == 3 and k < 2))
    assert s.mixed_rate(2) == pytest.approx(8.5 / 9) and s.mixed_rate(3) == pytest.approx(0.5 / 9)
    assert s.hop_weights(1, 3) == {1: 0.15, 2: pytest.approx(8.5 / 9), 3: 0.15}  # the floor keeps 1 and 3
    hops = [s.next(0)[1].meta["hops"] for _ in range(60)]
    assert set(hops) == {1, 2, 3}  # the curriculum's range still holds
    assert hops.count(2) > 30 and min(hops.count(1), hops.count(3)) >= 3
    uniform = QuestionStream(_ex_big(), seed=4, max_hops=3)
    assert [uniform.next(0)[1].meta["hops"] for _ in range(60)].count(2) < 25


def test_adaptive_sampling_loses_no_question_and_resumes_identically():
    s = QuestionStream(_ex_big(10), seed=7, adaptive=True)
    idx2 = next(i for i, e in enumerate(s.examples) if e.meta["hops"] == 2)
    for _ in range(8):
        s.record(idx2, mixed=True)
    epoch = [s.next(0)[0] for _ in range(40)]
    assert sorted(epoch) == list(range(40)) and s.epoch == 0  # a hop count used up: others fill the epoch
    state = json.loads(json.dumps(s.state_dict()))  # checkpoints store it as JSON
    t = QuestionStream(_ex_big(10), seed=7, adaptive=True)
    t.load_state_dict(state)
    assert t.outcomes == s.outcomes
    assert [t.next(0)[0] for _ in range(15)] == [s.next(0)[0] for _ in range(15)]
    with pytest.raises(ConfigError, match="floor"):
        QuestionStream(_ex_big(), adaptive=True, floor=0.0)


def test_fixed_hop_shares_replace_adaptive_sampling_for_their_stage():
    cur = [CurriculumStage(from_step=0, min_hops=1, max_hops=3, hop_shares={1: 1, 3: 3}),
           CurriculumStage(from_step=2, min_hops=1, max_hops=2)]
    s = QuestionStream(_ex_big(100), seed=4, curriculum=cur, adaptive=True)
    idx2 = next(i for i, e in enumerate(s.examples) if e.meta["hops"] == 2)
    for _ in range(8):
        s.record(idx2, mixed=True)  # adaptive sampling alone would favour 2 hops
    early = [s.next(0)[1].meta["hops"] for _ in range(80)]
    assert set(early) == {1, 3} and 45 <= early.count(3) <= 75  # 3 : 1, and no 2-hop question
    late = [s.next(2)[1].meta["hops"] for _ in range(20)]
    assert set(late) <= {1, 2} and late.count(2) > 10  # the next stage samples adaptively again


def test_hop_shares_are_validated_against_the_stage():
    with pytest.raises(ValueError, match="outside this stage"):
        CurriculumStage(min_hops=1, max_hops=2, hop_shares={3: 1})
    with pytest.raises(ValueError, match="must be > 0"):
        CurriculumStage(hop_shares={1: 0})
    with pytest.raises(ValueError, match="empty"):
        CurriculumStage(hop_shares={})
    assert CurriculumStage.model_validate({"hop_shares": {"1": 1, "3": 2.5}}).hop_shares == {1: 1.0, 3: 2.5}


def test_train_shares_draw_by_share_over_mixed_rate():
    """Kept groups follow the train shares: a hop count that is rarely mixed is drawn correspondingly more."""
    cur = [CurriculumStage(from_step=0, min_hops=1, max_hops=3, train_shares={1: 1, 3: 1})]
    s = QuestionStream(_ex_big(400), seed=5, curriculum=cur, adaptive=True)
    idx = {h: next(i for i, e in enumerate(s.examples) if e.meta["hops"] == h) for h in (1, 3)}
    for k in range(8):
        s.record(idx[1], mixed=k < 7)  # 1-hop: 7 of 8 mixed -> rate 7.5 / 9
        s.record(idx[3], mixed=k < 1)  # 3-hop: 1 of 8 mixed -> rate 1.5 / 9, five times rarer
    drawn = [s.next(0)[1].meta["hops"] for _ in range(240)]
    assert set(drawn) == {1, 3}  # 2-hop has no share
    assert 180 <= drawn.count(3) <= 220  # weight 1/(1.5/9) against 1/(7.5/9): 5/6 of 240 = 200
    with pytest.raises(ValueError, match="not both"):
        CurriculumStage(hop_shares={1: 1}, train_shares={1: 1})
    with pytest.raises(ValueError, match="train_shares names 4 hops"):
        CurriculumStage(min_hops=1, max_hops=3, train_shares={4: 1})
    with pytest.raises(ValueError, match=r"train_shares\[2\] = -1"):
        CurriculumStage(train_shares={2: -1})
