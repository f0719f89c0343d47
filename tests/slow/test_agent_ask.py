"""``asearcher ask`` with the bundled SmolLM2 on the generated world: the command finishes and prints a
trajectory (readable and JSON). Structure only: greedy strings of a 135M model are not asserted (G8)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from asearcher.types import Trajectory

pytestmark = pytest.mark.slow


def _ask(*extra: str) -> subprocess.CompletedProcess:
    from asearcher.config import WorldConfig
    from asearcher.world import ensure_world, load_questions

    question = load_questions(ensure_world(WorldConfig()), "dev")[0].question
    cmd = [sys.executable, "-m", "asearcher.cli.main", "ask", question, "agent.max_new_tokens=48",
           "--max-turns", "3", "--temperature", "0", *extra]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)


def test_ask_bundled_model_prints_a_trajectory():
    proc = _ask()
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("finish=") and "calls=" in last and "tokens in/out=" in last
    assert "thought" in proc.stdout or "invalid" in proc.stdout or "answer" in proc.stdout


def test_ask_bundled_model_json_has_token_data():
    proc = _ask("--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    traj = Trajectory.model_validate(json.loads(proc.stdout))
    assert 1 <= traj.stats.turns == len(traj.calls) <= 3 and traj.stats.finish != "error"
    for call in traj.calls:
        assert call.input_ids and 0 < len(call.output_ids) <= 48
        assert len(call.output_logprobs) == len(call.output_ids) == len(call.output_versions)
        assert all(lp <= 0.0 for lp in call.output_logprobs) and set(call.output_versions) == {0}
