"""Training questions: JSONL loading with clear errors; the deterministic, resumable, curriculum-aware stream."""

from __future__ import annotations

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
