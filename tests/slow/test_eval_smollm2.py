"""A short real evaluation: the bundled SmolLM2 agent (in-process engine) on 20 questions of the generated
world's test split through ``asearcher eval``, then a resume that has nothing left to do."""

from __future__ import annotations

import json

import pytest

from asearcher.cli.main import main
from asearcher.evaluation.runner import RECORDS, read_records

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]  # a shared 2-core CPU can be slow


def test_smollm2_on_20_world_questions(tmp_path, capsys):
    out = tmp_path / "eval"
    argv = ["eval", "--data", "world:test", "--limit", "20", "--concurrency", "8", "--out", str(out), "--no-progress",
            "agent.max_turns=4", "agent.max_new_tokens=64"]
    assert main(argv) == 0
    table = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())["datasets"]["world-test"]
    o = summary["overall"]
    assert (o["n"], o["k"], summary["missing"]) == (20, 1, 0)
    assert set(summary["metrics"]) == {"em", "f1", "cem", "sub_em"}
    assert all(0.0 <= o[m]["avg@k"] <= 1.0 for m in summary["metrics"])
    assert "hops" in summary["breakdowns"] and sum(g["n"] for g in summary["breakdowns"]["hops"].values()) == 20
    assert summary["stats"]["turns_mean"] >= 1 and sum(summary["stats"]["finish"].values()) == 20
    assert "| world-test | 20 |" in table and (out / "summary.md").read_text() in table + "\n"
    recs = read_records(out / "world-test" / RECORDS)
    assert len(recs) == 20 and all(r["trajectory"]["calls"] for r in recs)
    assert (out / "config.yaml").is_file()
    print(table)  # the summary table, for the test log

    # re-running resumes: nothing left to run, identical summary
    assert main(argv) == 0
    again = json.loads((out / "summary.json").read_text())["datasets"]["world-test"]
    assert again == summary
    assert json.loads((out / "world-test" / "run.json").read_text())["ran_samples"] == 0
