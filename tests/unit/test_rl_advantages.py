"""Shaped rewards and batch-normalised token advantages: the worked example of algorithm notes §4."""

from __future__ import annotations

import pytest

from asearcher.rewards import group_centre
from asearcher.trainer.advantages import shaped_reward, token_advantages


def test_worked_example():
    c = group_centre([1.0, 0.5, 0.0, 0.0])
    r = [shaped_reward(x) for x in c]
    assert r == pytest.approx([1.25, -3.75, -8.75, -8.75])
    masks = [[0, 1, 1], [1, 0], [0, 0, 1], [1]]  # [2, 1, 1, 1] mask tokens
    adv = token_advantages(r, masks)
    flat = [a for row, m in zip(adv, masks, strict=True) for a, x in zip(row, m, strict=True) if x]
    assert flat == pytest.approx([1.118031, 1.118031, 0.0, -1.118031, -1.118031], abs=1e-6)
    assert adv[0][0] == 0.0 and adv[1][1] == 0.0  # mask-0 positions carry no advantage


def test_clip_and_unnormalised():
    assert shaped_reward(5.0) == 20.0 and shaped_reward(-5.0) == -20.0
    assert token_advantages([2.0, -1.0], [[1, 1], [0, 1]], normalize=False) == [[2.0, 2.0], [0.0, -1.0]]
    with pytest.raises(ValueError):
        token_advantages([1.0], [[1], [1]])
