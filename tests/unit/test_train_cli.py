"""CLI of training: `asearcher plot` writes PNGs from metrics; `asearcher train` refuses to overwrite a run
and explains --resume; configs/smoke.yaml validates; eval table helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from asearcher.cli.main import main
from asearcher.config import TrainConfig, load_config
from asearcher.trainer.pipeline import comparison_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_plot_writes_pngs(tmp_path, capsys):
    rows = [{"step": s, "reward/mean": 0.1 * s, "rollout/staleness_mean": 1.0, "time/train_s": 2.0,
             "train/loss": -0.1} for s in range(1, 6)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["plot", str(tmp_path)]) == 0
    pngs = sorted(p.name for p in (tmp_path / "plots").glob("*.png"))
    assert {"reward.png", "staleness.png", "time.png", "train.png"} <= set(pngs)
    assert (tmp_path / "plots" / "reward.png").read_bytes()[:4] == b"\x89PNG"
    assert "curriculum.png" not in pngs  # nothing of it was logged
    rows[0].update({"rollout/mixed_rate_hop2": 0.5, "rollout/mixed_rate_hop3": 0.2})  # a prefix panel
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["plot", str(tmp_path)]) == 0 and (tmp_path / "plots" / "curriculum.png").is_file()
    assert main(["plot", str(tmp_path / "nope")]) == 1  # clear error, no traceback


def test_train_refuses_existing_run_and_bad_resume(tmp_path, capsys):
    (tmp_path / "config.yaml").write_text("seed: 0\n")
    assert main(["train", "--out", str(tmp_path)]) == 1
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "missing")]) == 1
    assert "not a run directory" in capsys.readouterr().err


def test_smoke_config_validates():
    cfg = load_config(TrainConfig, ROOT / "configs" / "smoke.yaml")
    assert cfg.model.name == "tiny-llama" and cfg.trainer.steps == 2 and cfg.rollout.curriculum


def test_comparison_markdown():
    t = {"base": {"1": {"n": 2, "acc": 0.0, "tool_calls": 0.0}, "all": {"n": 2, "acc": 0.0, "tool_calls": 0.0}},
         "final": {"1": {"n": 2, "acc": 0.5, "tool_calls": 1.5}, "all": {"n": 2, "acc": 0.5, "tool_calls": 1.5}}}
    md = comparison_markdown(t, "em")
    assert "| 1 | 2 | 0.0 | 50.0 | 0.00 | 1.50 |" in md and md.splitlines()[0].startswith("| hops | n | base em %")


@pytest.mark.parametrize("cmd", ["train", "sft", "plot"])
def test_help_works(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main([cmd, "--help"])
    assert e.value.code == 0 and "usage" in capsys.readouterr().out


def test_rollout_and_training_temperatures_must_match():
    from asearcher.errors import ConfigError

    with pytest.raises(ConfigError, match="trainer.temperature"):
        load_config(TrainConfig, None, ["agent.temperature=0.5", "trainer.temperature=0.7"])
    assert load_config(TrainConfig, None, ["agent.temperature=0.5", "trainer.temperature=0.5"])
    # unset, the trainer follows the rollouts (1.0 when they are greedy)
    assert load_config(TrainConfig, None, ["agent.temperature=0.5"]).trainer.temperature == 0.5
    assert load_config(TrainConfig, None, ["agent.temperature=0"]).trainer.temperature == 1.0
    assert TrainConfig().trainer.temperature == TrainConfig().agent.temperature == 0.7
