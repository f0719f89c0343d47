"""Reciprocal-rank fusion against hand-computed scores."""

from __future__ import annotations

import pytest

from asearcher.knowledge.fusion import rrf


def test_rrf_hand_computed():
    fused = dict(rrf([["a", "b", "c"], ["b", "d"]], k=60))
    assert fused["a"] == pytest.approx(1 / 61)
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["c"] == pytest.approx(1 / 63)
    assert fused["d"] == pytest.approx(1 / 62)


def test_rrf_order_topk_and_ties():
    assert [d for d, _ in rrf([["a", "b", "c"], ["b", "d"]])] == ["b", "a", "d", "c"]
    assert [d for d, _ in rrf([["x", "y"], ["y", "x"]], k=1)] == ["x", "y"]  # tie keeps first-seen order
    assert len(rrf([["a", "b", "c"]], topk=2)) == 2
    assert rrf([]) == []


def test_rrf_counts_a_repeated_key_once_per_list():
    assert dict(rrf([["a", "a", "b"]], k=0))["a"] == pytest.approx(1.0)
