"""``asearcher eval --run RUN_DIR``: a training run's policy, evaluated with the settings it was trained with
(a plain ``asearcher eval --model CKPT`` would use the long paper prompt and 32 turns instead); RL checkpoints
carry the run's tokenizer, so they are self-contained model dirs."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import yaml

from asearcher.cli.main import main
from asearcher.config import TrainConfig, load_config, save_config
from asearcher.config.agent import AgentConfig
from asearcher.models import load_model, load_tokenizer
from asearcher.trainer import checkpoint as ckpt
from asearcher.trainer.local import LocalTrainEngine


def _run(tmp_path: Path, small_world: Path, tiny_llama, with_rl: bool = True) -> Path:
    model, tok = tiny_llama
    run = tmp_path / "run"
    cfg = load_config(TrainConfig, overrides=[
        "model.name=tiny-llama", f"world.dir={small_world}", "agent.max_turns=3", "agent.max_new_tokens=12",
        "trainer.autocast_bf16=false", "engine.autocast_bf16=false", "eval.split=dev", "eval_per_hop=1"])
    cfg.out = str(run)
    save_config(cfg, run / "config.yaml")
    if with_rl:
        tok.save_pretrained(run / ckpt.TOKENIZER)  # as `asearcher train` does at setup
        engine = LocalTrainEngine(copy.deepcopy(model), cfg.trainer)
        ckpt.save_checkpoint(run, 1, engine, {})
        ckpt.save_checkpoint(run, 2, engine, {})
    return run


def test_eval_run_uses_the_runs_settings_and_its_latest_checkpoint(tmp_path, small_world, tiny_llama, capsys):
    run = _run(tmp_path, small_world, tiny_llama)
    latest = ckpt.latest_checkpoint(run)
    assert latest.name == "step_000002" and (latest / "tokenizer_config.json").is_file()
    assert load_tokenizer(str(latest)).encode("Who mentored") == tiny_llama[1].encode("Who mentored")
    load_model(str(latest), dtype="float32")  # a self-contained model dir

    assert main(["eval", "--run", str(run), "--limit", "2", "--concurrency", "2", "--no-progress",
                 "eval.metrics=[\"em\"]"]) == 0
    out = run / "eval-final"
    used = yaml.safe_load((out / "config.yaml").read_text())
    trained = yaml.safe_load((run / "config.yaml").read_text())
    assert used["model"]["name"] == str(latest)
    assert used["agent"] == trained["agent"] and used["agent"] != AgentConfig().model_dump(mode="json")
    assert used["agent"]["max_turns"] == 3 and used["agent"]["prompt"] == "concise"
    assert used["world"] == trained["world"] and used["knowledge"] == trained["knowledge"]
    assert used["eval"]["max_turns"] == trained["eval"]["max_turns"] and used["eval"]["metrics"] == ["em"]
    assert used["data"] == ["world:dev"]  # the run's evaluation split
    assert used["per_hop"] == 1  # and the run's own questions: the first of each hop count
    from asearcher.evaluation.datasets import first_per_hop, load_dataset
    from asearcher.evaluation.runner import RECORDS, read_records

    dev = load_dataset("world:dev", world_cfg=load_config(TrainConfig, run / "config.yaml").world).examples
    evaluated = {r["id"] for r in read_records(out / "world-dev" / RECORDS)}
    assert evaluated == {e.id for e in first_per_hop(dev, 1)[:2]}
    summary = json.loads((out / "summary.json").read_text())
    assert summary and "world" in json.dumps(summary)


def test_eval_run_policies_and_clear_errors(tmp_path, small_world, tiny_llama, capsys):
    run = _run(tmp_path, small_world, tiny_llama, with_rl=False)
    from asearcher.cli.eval import _flag_overrides, run_settings
    from asearcher.cli.main import build_parser
    from asearcher.config.eval import EvalRunConfig

    for flags, per_hop in (([], 1), (["--per-hop", "0"], None), (["--per-hop", "3"], 3)):
        args = build_parser().parse_args(["eval", "--run", str(run), *flags])
        assert load_config(EvalRunConfig, None, _flag_overrides(args), base=run_settings(run)).per_hop == per_hop

    assert run_settings(run, "final")["model"]["name"] == "tiny-llama"  # no RL, no warm start: the base model
    assert run_settings(run, "base")["out"] == str(run / "eval-base")
    assert main(["eval", "--run", str(run), "--policy", "sft"]) == 1
    assert "no warm-started model" in capsys.readouterr().err
    assert main(["eval", "--policy", "sft"]) == 1
    assert "--run RUN_DIR" in capsys.readouterr().err
    assert main(["eval", "--run", str(tmp_path / "nothing")]) == 1
    assert "not an `asearcher train` run directory" in capsys.readouterr().err

    (run / "sft" / "model").mkdir(parents=True)
    tiny_llama[0].save_pretrained(run / "sft" / "model")
    assert run_settings(run, "final")["model"]["name"] == str(run / "sft" / "model")  # no RL: the warm start

    ckpt.save_checkpoint(run, 3, LocalTrainEngine(copy.deepcopy(tiny_llama[0]),
                                                  load_config(TrainConfig, run / "config.yaml").trainer), {})
    assert main(["eval", "--run", str(run)]) == 1  # no RUN/tokenizer when it was written: said so, with the fix
    assert "has no tokenizer files" in capsys.readouterr().err
