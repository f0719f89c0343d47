"""Staleness capacity: the worked table of algorithm notes §1 and its equivalence with paper Eq. 3."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asearcher.rollout.staleness import admits, capacity


@pytest.mark.parametrize(
    ("c_max", "b", "eta", "i", "accepted", "running", "ws", "expected"),
    [
        (24, 128, 4, 0, 0, 0, 1, 24),
        (24, 128, 4, 0, 0, 0, 4, 6),
        (8, 4, 1, 0, 6, 1, 1, 1),
        (8, 4, 1, 0, 6, 2, 1, 0),
        (8, 4, 1, 1, 6, 2, 1, 4),
        (24, 128, 4, 3, 500, 20, 1, 4),
    ],
)
def test_capacity_table(c_max, b, eta, i, accepted, running, ws, expected):
    assert capacity(c_max, b, eta, i, accepted, running, world_size=ws) == expected


def test_eq3_examples_from_table():
    assert admits(8, 4, 0, 1) and not admits(9, 4, 0, 1)


@given(b=st.integers(1, 16), eta=st.integers(0, 6), i=st.integers(0, 20), accepted=st.integers(0, 400),
       running=st.integers(0, 50))
def test_capacity_equals_eq3_when_concurrency_is_not_binding(b, eta, i, accepted, running):
    # Admitting trajectory N_r = accepted + running + 1 ⇔ floor((N_r − 1)/B) <= i + η.
    cap = capacity(10**9, b, eta, i, accepted, running)
    assert (cap > 0) == admits(accepted + running + 1, b, i, eta)


def test_capacity_rejects_nonsense():
    with pytest.raises(ValueError):
        capacity(0, 4, 1, 0, 0, 0)
