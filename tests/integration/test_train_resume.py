"""`asearcher train` killed with SIGKILL mid-run, then `--resume`: it continues from the latest checkpoint
with the same data order — no question trained twice, none skipped (questions drawn but untrained at the
checkpoint are served first after the resume)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

CONFIG = {
    "seed": 0,
    "model": {"name": "tiny-llama"},
    "world": {"entities": 30},
    "knowledge": {"topk": 1},
    "agent": {"max_turns": 2, "max_new_tokens": 8, "max_total_tokens": 1024},
    "rollout": {"batch_size": 2, "n_trajs": 2, "max_concurrent": 3, "max_staleness": 1,
                "drop_zero_variance": False},
    "trainer": {"steps": 5, "save_every": 1, "keep_checkpoints": 10, "max_tokens_per_mb": 2048},
    "sft": {"enabled": False},
    "evaluate": [],
    "monitoring": {"tensorboard": False, "save_trajectories": 1},
}


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "asearcher.cli.main", "train", "--no-progress", *args]


def test_sigkill_then_resume(tmp_path: Path):
    cfg = dict(CONFIG, world={**CONFIG["world"], "dir": str(tmp_path / "world")})
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    run = tmp_path / "run"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.Popen(_cmd("--config", str(tmp_path / "c.yaml"), "--out", str(run)), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    marker = run / "checkpoints" / "step_000002" / "COMPLETE"
    deadline = time.time() + 240
    while not marker.exists():
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
        assert time.time() < deadline, "no checkpoint 2 within 240 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run / "checkpoints" / "step_000005").exists(), "the run finished before it was killed"
    pending_at_2 = json.loads((marker.parent / "state.json").read_text())["controller"]["pending"]

    out = subprocess.run(_cmd("--resume", str(run)), env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]

    steps = [json.loads(x) for x in (run / "consumed.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps] == [1, 2, 3, 4, 5]
    trained = [i for s in steps for i in s["indices"]]
    assert len(trained) == len(set(trained)) == 10, "a question was trained twice"
    # nothing skipped: what was drawn is trained or still pending at the end (no group is ever dropped here)
    final = json.loads((run / "checkpoints" / "step_000005" / "state.json").read_text())["controller"]
    drawn = set(final["stream"]["drawn"])
    assert set(trained) | set(final["pending"]) == drawn and not set(trained) & set(final["pending"])
    # the questions untrained at checkpoint 2 were served again after the resume
    after = {i for s in steps[2:] for i in s["indices"]} | set(final["pending"])
    assert set(pending_at_2) <= after
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5] and all("reward/mean" in r for r in rows)


def test_resume_of_a_finished_run_with_more_steps_extends_rl_and_evaluates_again(tmp_path: Path):
    from asearcher.cli.main import main

    cfg = dict(CONFIG, world={**CONFIG["world"], "dir": str(tmp_path / "world")}, evaluate=["final"],
               eval_per_hop=1, trainer={**CONFIG["trainer"], "steps": 1})
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    run = tmp_path / "run"
    assert main(["train", "--no-progress", "--config", str(tmp_path / "c.yaml"), "--out", str(run)]) == 0
    phases = json.loads((run / "phases.json").read_text())
    assert phases["rl"]["steps"] == 1 and phases["rl"]["target_steps"] == 1
    first_records = (run / "eval" / "final" / "trajectories.jsonl").read_text()
    first_eval_s = phases["timings"]["eval_final"]
    assert (run / "checkpoints" / "step_000001" / "tokenizer_config.json").is_file()  # self-contained

    assert main(["train", "--no-progress", "--resume", str(run)]) == 0  # nothing more asked: nothing runs
    assert [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [1]

    assert main(["train", "--no-progress", "--resume", str(run), "trainer.steps=2"]) == 0
    phases = json.loads((run / "phases.json").read_text())
    assert phases["rl"]["steps"] == 2 and phases["rl"]["target_steps"] == 2
    assert [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    assert (run / "eval" / "final-step1" / "trajectories.jsonl").read_text() == first_records  # kept aside
    assert (run / "eval" / "final" / "trajectories.jsonl").is_file() and phases["eval_final"]["all"]["n"] >= 1
    # the first evaluation's time is kept under its own name; eval_final times the new evaluation only
    assert phases["timings"]["eval_final-step1"] == first_eval_s
    assert 0 < phases["timings"]["eval_final"] != first_eval_s


def test_resume_of_a_run_its_time_cap_stopped_continues_only_under_a_looser_cap(tmp_path: Path, caplog):
    """A run the time cap stopped short of ``trainer.steps`` is continued by a resume that loosens the cap, which
    counts RL time across resumes; a resume that does not loosen it says so and runs nothing (it used to print
    the old evaluation without a word)."""
    from asearcher.cli.main import main

    cfg = dict(CONFIG, world={**CONFIG["world"], "dir": str(tmp_path / "world")}, evaluate=["final"],
               eval_per_hop=1, trainer={**CONFIG["trainer"], "steps": 3, "max_rl_minutes": 0.001})
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    run = tmp_path / "run"
    assert main(["train", "--no-progress", "--config", str(tmp_path / "c.yaml"), "--out", str(run)]) == 0
    phases = json.loads((run / "phases.json").read_text())
    assert phases["rl"]["steps"] == 1 and phases["rl"]["target_steps"] == 3  # the cap stopped it after step 1
    assert phases["rl"]["max_rl_minutes"] == 0.001

    def steps_logged() -> list[int]:
        return [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]

    with caplog.at_level("INFO", logger="asearcher.trainer.pipeline"):
        assert main(["train", "--no-progress", "--resume", str(run), "trainer.max_rl_minutes=0.001"]) == 0
    assert steps_logged() == [1] and "does not loosen it: nothing more runs" in caplog.text

    # the cap counts the run's RL time in total: with 10 minutes recorded as spent by step 1, a 10.2-minute cap
    # leaves room for one step only (the first of an invocation always runs); counted from the resume, it
    # would have run steps 2 and 3
    state_path = run / "checkpoints" / "step_000001" / "state.json"
    state = json.loads(state_path.read_text())
    assert 0 < state["rl_elapsed_s"] < 600
    state_path.write_text(json.dumps({**state, "rl_elapsed_s": 600.0}))
    caplog.clear()
    with caplog.at_level("INFO", logger="asearcher.trainer.pipeline"):
        assert main(["train", "--no-progress", "--resume", str(run), "trainer.max_rl_minutes=10.2"]) == 0
    assert "trainer.max_rl_minutes: 0.001 → 10.2: RL continues from step 1" in caplog.text
    assert steps_logged() == [1, 2]
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["time/elapsed_s"] > 600
    phases = json.loads((run / "phases.json").read_text())
    assert phases["rl"]["steps"] == 2 and phases["rl"]["rl_seconds"] > 600 and phases["timings"]["rl"] > 600

    caplog.clear()
    with caplog.at_level("INFO", logger="asearcher.trainer.pipeline"):
        assert main(["train", "--no-progress", "--resume", str(run), "trainer.max_rl_minutes=null"]) == 0
    assert "trainer.max_rl_minutes: 10.2 → null: RL continues from step 2" in caplog.text
    phases = json.loads((run / "phases.json").read_text())
    assert steps_logged() == [1, 2, 3] and phases["rl"]["steps"] == 3 and phases["rl"]["max_rl_minutes"] is None
    assert (run / "eval" / "final-step2" / "trajectories.jsonl").is_file() and phases["eval_final"]["all"]["n"] >= 1

    # a run whose record predates the caps (no "max_rl_minutes" in phases.json) is not reopened by a cap
    phases["rl"] = {k: v for k, v in phases["rl"].items() if k not in ("max_rl_minutes", "max_minutes")}
    phases["rl"].update(steps=2)
    (run / "phases.json").write_text(json.dumps(phases))
    caplog.clear()
    with caplog.at_level("INFO", logger="asearcher.trainer.pipeline"):
        assert main(["train", "--no-progress", "--resume", str(run), "trainer.max_rl_minutes=null"]) == 0
    assert "max_rl_minutes=?" in caplog.text and (run / "eval" / "final" / "trajectories.jsonl").is_file()
