"""The time caps of the warm start and of RL: stop when one more step at the mean pace would overrun."""

from asearcher.monitoring import next_step_overruns


def test_next_step_overruns_at_the_mean_pace():
    assert not next_step_overruns(540.0, 3, None)  # no cap
    assert not next_step_overruns(540.0, 3, 12)  # 540 + 180 = 720 s: exactly the cap still fits
    assert next_step_overruns(541.0, 3, 12)
    assert next_step_overruns(600.0, 2, 14)  # r7: 10 min used, a 5-min step would end at 15
    assert not next_step_overruns(600.0, 2, 16)
    assert not next_step_overruns(0.0, 0, 1)  # nothing done yet: no pace to judge by


def test_rl_gets_what_the_run_budget_leaves():
    from asearcher.trainer.pipeline import rl_budget_minutes

    assert rl_budget_minutes(None, 1e6, 0.0, 16) == 16  # no run budget: RL's own cap
    assert rl_budget_minutes(None, 0.0, 0.0, None) is None
    # r10's pace: 17.5 min spent, a final evaluation estimated at 242 s -> 23.5 min left for RL
    assert abs(rl_budget_minutes(45, 1048.0, 242.0, None) - 23.5) < 1e-9
    assert rl_budget_minutes(45, 1048.0, 242.0, 16) == 16  # RL's own cap is the smaller
    assert rl_budget_minutes(45, 2700.0, 242.0, None) == 0.01  # spent: one step still runs
    # a resumed run: of the 1,648 s spent, RL used 600 (its total is the same 23.5 min, 10 of them used)
    assert abs(rl_budget_minutes(45, 1648.0, 242.0, None, rl_spent_s=600.0) - 23.5) < 1e-9
    assert rl_budget_minutes(45, 1648.0, 242.0, 16, rl_spent_s=600.0) == 16
    assert abs(rl_budget_minutes(45, 2700.0, 242.0, None, rl_spent_s=600.0) - 10.01) < 1e-9


def test_final_evaluation_estimate(tmp_path):
    from asearcher.config import TrainConfig
    from asearcher.trainer.pipeline import Pipeline

    p = Pipeline(TrainConfig(), tmp_path, progress=False)
    assert p._final_eval_estimate() == 0.0  # nothing evaluated yet
    p.timings = {"setup": 5.0, "eval_base": 30.0}
    assert p._final_eval_estimate() == 60.0
    p.timings["eval_sft"] = 10.0  # the warm-started policy is the closer guess
    assert p._final_eval_estimate() == 20.0
    p.cfg.evaluate = ["base", "sft"]
    assert p._final_eval_estimate() == 0.0


def test_budget_fraction_reads_the_share_of_the_budget_used(monkeypatch):
    import asearcher.monitoring as mon

    now = [100.0]
    monkeypatch.setattr(mon.time, "perf_counter", lambda: now[0])
    assert mon.budget_fraction(None) is None
    frac = mon.budget_fraction(10)  # 600 s
    assert frac() == 0.0
    now[0] = 250.0
    assert frac() == 0.25
