"""Resume rewinds per-step logs: lines after the checkpoint go, and a line torn by the SIGKILL is dropped."""

from __future__ import annotations

import json

import pytest

from asearcher.errors import DataError
from asearcher.trainer.checkpoint import truncate_jsonl


def _lines(path):
    return [json.loads(x)["step"] for x in path.read_text().splitlines()]


def test_truncate_drops_later_steps_and_a_torn_last_line(tmp_path):
    p = tmp_path / "metrics.jsonl"
    p.write_text("".join(json.dumps({"step": s, "x": s}) + "\n" for s in (1, 2, 3)) + '{"step": 4, "x"')
    truncate_jsonl(p, 2)
    assert _lines(p) == [1, 2] and p.read_text().endswith("\n")


def test_truncate_leaves_an_intact_file_alone(tmp_path):
    p = tmp_path / "consumed.jsonl"
    p.write_text("".join(json.dumps({"step": s}) + "\n" for s in (1, 2)))
    before = p.stat().st_ino
    truncate_jsonl(p, 5)
    assert p.stat().st_ino == before and _lines(p) == [1, 2]


def test_truncate_refuses_a_corrupt_line_in_the_middle(tmp_path):
    p = tmp_path / "metrics.jsonl"
    p.write_text('{"step": 1}\n\nnot json\n{"step": 2}\n')
    with pytest.raises(DataError, match=r"metrics.jsonl:3: not a JSON line"):
        truncate_jsonl(p, 1)
