"""Resume after a hard kill: an evaluation runs as a real subprocess (scripted, deterministic episodes), is
killed with SIGKILL mid-way, re-run into the same folder, and must produce the same summary as an
uninterrupted run, with every (question, sample) recorded exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from asearcher.evaluation.runner import RECORDS, read_records

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = '''
import asyncio, logging, sys
logging.basicConfig(level=logging.INFO)
from asearcher.evaluation.runner import evaluate
from asearcher.types import EpisodeStats, Example, Trajectory

EXAMPLES = [Example(id=f"q{i}", question=f"What is {i} squared?", answers=[str(i * i)],
                    meta={"hops": 1 + i % 3}) for i in range(12)]

async def episode(agent, engine, tools, ex, max_turns, *, valid_instruction, temperature, trajectory_id):
    await asyncio.sleep(0.1)
    i = int(ex.id[1:])
    answer = str(i * i) if i % 4 else f"{i * i} or so"  # deterministic, partly wrong
    return Trajectory(id=trajectory_id, example=ex, answer=answer,
                      stats=EpisodeStats(turns=1 + i % 2, searches=i % 3, finish="answer"))

asyncio.run(evaluate(EXAMPLES, None, None, None, k=2, concurrency=2, out_dir=sys.argv[1], dataset="squares",
                     progress=False, episode_fn=episode))
'''


def _run(script: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen([sys.executable, str(script), str(out)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_killed_run_resumes_to_the_same_summary(tmp_path):
    script = tmp_path / "run_eval.py"
    script.write_text(SCRIPT)
    full, part = tmp_path / "full", tmp_path / "part"
    assert _run(script, full).wait(timeout=120) == 0

    proc = _run(script, part)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (part / RECORDS).exists() and len((part / RECORDS).read_bytes().splitlines()) >= 6:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    n_killed = len(read_records(part / RECORDS))
    assert 6 <= n_killed < 24 and not (part / "summary.json").exists()

    resumed = _run(script, part)
    out, _ = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, out.decode()
    assert "resuming" in out.decode()
    keys = [(r["id"], r["sample"]) for r in read_records(part / RECORDS)]
    assert len(keys) == len(set(keys)) == 24
    run_info = json.loads((part / "run.json").read_text())
    assert run_info["resumed_samples"] == n_killed and run_info["ran_samples"] == 24 - n_killed
    summary = json.loads((part / "summary.json").read_text())
    assert summary == json.loads((full / "summary.json").read_text())
    assert (part / "summary.md").read_text() == (full / "summary.md").read_text()
    assert summary["overall"]["em"]["avg@k"] == 9 / 12  # q0, q4, q8 answer "… or so"
