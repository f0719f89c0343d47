"""`asearcher launch` really runs: a fake inference server process + the trainer via torchrun (local), and
the same job under Ray with the server and the trainer rank owned by actors in a placement group
(``ray.init(num_cpus=2)`` on 127.0.0.1, no dashboard). Each is a 2-step async RL job (the smoke task) with
disk weight sync and the logprob-parity probe after every update."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # several processes, ~1 min each on 2 cores

LAUNCH = """\
job: smoke
servers: {type: fake, replicas: 1}
trainer: {procs_per_node: 1, weight_sync: disk}
train_overrides: [model.name=tiny-qwen2, rollout.batch_size=2, rollout.n_trajs=2, rollout.max_concurrent=2,
                  trainer.steps=2, trainer.autocast_bf16=false, trainer.lr=1e-3, agent.max_turns=2,
                  agent.max_new_tokens=24, monitoring.tensorboard=false]
"""


def _launch(tmp_path: Path, *extra: str) -> Path:
    cfg = tmp_path / "launch.yaml"
    cfg.write_text(LAUNCH)
    out = tmp_path / "run"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "asearcher.cli.main", "launch", "--config", str(cfg), *extra,
                           f"out={out}"], env=env, capture_output=True, text=True, timeout=400)
    logs = "".join(p.read_text(errors="replace")[-3000:] for p in sorted((out / "logs").glob("*.log")))
    assert proc.returncode == 0, proc.stderr[-3000:] + logs
    return out


def _check(out: Path, trainer_log: str) -> None:
    summary = json.loads((out / "launch_summary.json").read_text())
    assert summary["steps"] == 2 and summary["version"] == 2 and summary["engine_version"] == 2
    assert all(u.startswith("http://127.0.0.1:") for u in summary["servers"])
    metrics = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2]
    log = (out / "logs" / trainer_log).read_text()
    assert log.count("parity probe ok at version") == 2
    assert sorted(p.name for p in (out / "weights").iterdir()) == ["v1", "v2"]


def test_local_launcher_runs_a_two_step_job(tmp_path):
    out = _launch(tmp_path, "--launcher", "local")
    _check(out, "trainer.log")


def test_ray_launcher_runs_a_two_step_job_with_actors(tmp_path):
    pytest.importorskip("ray", reason="Ray is optional: pip install -e '.[ray]'")
    out = _launch(tmp_path, "--launcher", "ray", "--ray-num-cpus", "2")
    _check(out, "trainer_0.log")
    assert (out / "logs" / "server_0.log").exists()
