"""The time caps of the warm start and of RL: stop when one more step at the mean pace would overrun."""

from asearcher.monitoring import next_step_overruns


def test_next_step_overruns_at_the_mean_pace():
    assert not next_step_overruns(540.0, 3, None)  # no cap
    assert not next_step_overruns(540.0, 3, 12)  # 540 + 180 = 720 s: exactly the cap still fits
    assert next_step_overruns(541.0, 3, 12)
    assert next_step_overruns(600.0, 2, 14)  # r7: 10 min used, a 5-min step would end at 15
    assert not next_step_overruns(600.0, 2, 16)
    assert not next_step_overruns(0.0, 0, 1)  # nothing done yet: no pace to judge by
