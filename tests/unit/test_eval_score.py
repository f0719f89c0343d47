"""``asearcher eval score`` (no model): predictions files in their accepted shapes, hand-computed summaries,
errors that name the file and line, and the eval config (documented fields, flag mapping, no torch)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from asearcher.cli.main import main
from asearcher.errors import DataError

DATA = [{"id": "a", "question": "Capital of France?", "answers": ["Paris"], "source": "geo", "hops": 1},
        {"id": "b", "question": "Who wrote Hamlet?", "answers": ["William Shakespeare", "Shakespeare"],
         "source": "lit", "hops": 2},
        {"id": "c", "question": "Is water wet?", "answers": ["yes"], "source": "geo", "hops": 1}]


def write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def score(tmp_path, preds, capsys, *overrides):
    data = write(tmp_path / "data.jsonl", DATA)
    p = write(tmp_path / "preds.jsonl", preds)
    code = main(["eval", "score", *overrides, "--data", str(data), "--predictions", str(p), "--out",
                 str(tmp_path / "o")])
    assert code == 0
    printed = capsys.readouterr().out
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert (tmp_path / "o" / "summary.md").read_text() in printed + "\n"  # prints the same table it writes
    return summary


def test_single_predictions(tmp_path, capsys):
    s = score(tmp_path, [{"id": "a", "prediction": "paris"}, {"id": "b", "prediction": "Shakespeare, William"},
                         {"id": "c", "prediction": "True"}], capsys)
    o = s["overall"]
    assert s["dataset"] == "data" or s["dataset"].endswith("-data")
    assert (o["n"], o["k"], s["missing"]) == (3, 1, 0)
    # EM: a 1, b 0 ("shakespeare william" ≠ aliases... alias "Shakespeare" ≠ too), c True→yes 1 → 2/3
    assert o["em"]["avg@k"] == pytest.approx(2 / 3)
    # F1 b: best alias "William Shakespeare": multiset {shakespeare, william} both → 1.0 → F1 mean 1.0
    assert o["f1"]["avg@k"] == pytest.approx(1.0)
    assert set(s["breakdowns"]) == {"source", "hops"}
    assert s["breakdowns"]["source"]["lit"]["em"]["avg@k"] == 0.0 and s["breakdowns"]["hops"]["1"]["n"] == 2


def test_k_predictions_lists_and_repeated_ids(tmp_path, capsys):
    preds = [{"id": "a", "predictions": ["Paris", "Lyon", "Nice", "Paris"]},
             {"id": "b", "prediction": ["Marlowe", None, "Bacon", "Shakespeare"]},
             {"id": "c", "prediction": "no"}, {"id": "c", "prediction": "no"}, {"id": "c", "prediction": "yes"},
             {"id": "c", "prediction": "no"}]
    o = score(tmp_path, preds, capsys, "eval.metrics=[em]")["overall"]
    # EM per sample: a 1 0 0 1 (0.5), b 0 0 0 1 (0.25), c 0 0 1 0 (0.25)
    assert o["k"] == 4 and o["em"]["avg@k"] == pytest.approx(1 / 3) and o["em"]["pass@k"] == 1.0
    # majority: a Paris 1, b tie Marlowe/Bacon/Shakespeare → earliest Marlowe 0, c "no" 0 → 1/3
    assert o["em"]["maj@k"] == pytest.approx(1 / 3) and set(o) == {"n", "k", "answered", "em"}
    assert o["answered"] == pytest.approx(11 / 12)


def test_missing_predictions_count_as_unanswered(tmp_path, capsys):
    s = score(tmp_path, [{"id": "a", "prediction": "Paris"}], capsys)
    assert s["missing"] == 2 and s["overall"]["em"]["avg@k"] == pytest.approx(1 / 3)


def test_bad_predictions_name_file_and_line(tmp_path):
    data = write(tmp_path / "data.jsonl", DATA)
    p = write(tmp_path / "p.jsonl", [{"id": "a", "prediction": "x"}, {"id": "zz", "prediction": "y"}])
    with pytest.raises(DataError, match=r"p\.jsonl:2: id 'zz' is not in dataset"):
        from asearcher.cli import eval as cli_eval
        from asearcher.cli.main import build_parser

        cli_eval.run(build_parser().parse_args(["eval", "score", "--data", str(data), "--predictions", str(p)]))
    p.write_text('{"id": "a"}\n')
    assert main(["eval", "score", "--data", str(data), "--predictions", str(p)]) == 1  # clear error, exit 1
    assert main(["eval", "score", "--data", str(data)]) == 1


def test_eval_config_documented_flags_and_no_torch():
    from asearcher.cli.eval import _flag_overrides, fingerprint
    from asearcher.cli.main import build_parser
    from asearcher.config import load_config
    from asearcher.config.eval import EvalRunConfig

    def walk(model, prefix=""):
        for name, field in model.model_fields.items():
            if hasattr(field.annotation, "model_fields"):
                yield from walk(field.annotation, f"{prefix}{name}.")
            else:
                yield f"{prefix}{name}", field.description

    assert [k for k, d in walk(EvalRunConfig) if not d] == []
    args = build_parser().parse_args(["eval", "--data", "world:test", "--data", "x.jsonl", "--base-url",
                                      "http://127.0.0.1:9/v1", "--model", "qwen", "--k", "4", "--source", "index",
                                      "--metrics", "em,f1", "--out", "o", "agent.max_turns=5"])
    cfg = load_config(EvalRunConfig, None, _flag_overrides(args) + list(args.overrides))
    assert cfg.data == ["world:test", "x.jsonl"] and cfg.engine.type == "openai" and cfg.engine.model == "qwen"
    assert cfg.engine.base_urls == ["http://127.0.0.1:9/v1"] and cfg.eval.k == 4 and cfg.knowledge.source == "index"
    assert cfg.eval.metrics == ["em", "f1"] and cfg.agent.max_turns == 5 and cfg.out == "o"
    fp = fingerprint(cfg, "x")
    cfg2 = cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"concurrency": 1, "limit": 3})})
    assert fingerprint(cfg2, "x") == fp  # concurrency/limit may change on resume
    with pytest.raises(Exception, match="unknown metric"):
        load_config(EvalRunConfig, None, ["eval.metrics=[bleu]"])
    code = ("import sys, asearcher.cli.eval, asearcher.evaluation, asearcher.evaluation.scoring, "
            "asearcher.evaluation.judge, asearcher.inference.openai; assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
