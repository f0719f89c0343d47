"""`asearcher sft` end to end on a tiny model and a small world: oracle trajectories, a model dir usable
as `model.name`, per-step metrics; `--oracle-only` writes the trajectories and trains nothing."""

from __future__ import annotations

import json

from asearcher.cli.main import main

ARGS = ["--no-progress", "model.name=tiny-llama", "world.entities=30", "knowledge.topk=2", "sft.steps=2",
        "sft.batch_size=2", "sft.max_hops=1", "sft.max_examples=4", "monitoring.tensorboard=false"]


def test_sft_writes_model_metrics_and_trajectories(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ASEARCHER_HOME", str(tmp_path / "home"))
    assert main(["sft", "--out", str(tmp_path / "run"), *ARGS]) == 0
    sft = tmp_path / "run" / "sft"
    trajs = [json.loads(line) for line in (sft / "trajectories.jsonl").read_text().splitlines()]
    assert 1 <= len(trajs) <= 4 and all(t["reward"] == 1.0 for t in trajs)
    steps = [json.loads(line) for line in (sft / "metrics.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps] == [1, 2] and all(s["sft/loss"] > 0 for s in steps)
    assert (sft / "model" / "config.json").is_file() and (sft / "model" / "tokenizer.json").is_file()
    assert "kept" in capsys.readouterr().out

    only = tmp_path / "oracle"
    assert main(["sft", "--oracle-only", "--out", str(only), *ARGS]) == 0
    assert (only / "sft" / "trajectories.jsonl").is_file() and not (only / "sft" / "model").exists()
