"""Pure parts of the UI: per-token texts, run-folder discovery, the tail reader of metrics.jsonl, staleness
and the call views' prefix bookkeeping (hand-built token ids)."""

from __future__ import annotations

import json

import pytest

from asearcher.types import Example, LLMCall, Trajectory
from asearcher.ui.runs import RunReader, Source, find_sources, model_name, read_jsonl_tail, staleness
from asearcher.ui.tokens import call_views, token_texts


@pytest.fixture(scope="module")
def tok():
    from asearcher.models import load_tokenizer

    return load_tokenizer("smollm2-135m")


@pytest.mark.parametrize("text", ["Hello world, it's  me.\n\nNew line", "naïve café — 東京 🙂 ok",
                                  "<|im_start|>user\nHi<|im_end|>"])
def test_token_texts_concatenate_to_the_decoded_text(tok, text):
    ids = tok.encode(text, add_special_tokens=False)
    parts = token_texts(tok, ids)
    assert len(parts) == len(ids)
    assert "".join(parts) == tok.decode(ids, skip_special_tokens=False) == text


def test_token_texts_split_characters_go_to_the_completing_token(tok):
    ids = tok.encode("🙂", add_special_tokens=False)
    assert len(ids) > 1  # byte-level BPE splits the emoji
    parts = token_texts(tok, ids)
    assert parts[:-1] == [""] * (len(ids) - 1) and parts[-1] == "🙂"


def test_token_texts_without_tokenizer_show_ids():
    assert token_texts(None, [5, 17]) == ["⟨5⟩", "⟨17⟩"]


def call(inp, out, version=0, purpose="act"):
    return LLMCall(input_ids=inp, output_ids=out, output_logprobs=[-0.5] * len(out),
                   output_versions=[version] * len(out), finish_reason="stop", purpose=purpose)


def test_call_views_prefix_shared_context_and_forks():
    ex = Example(id="q", question="?", answers=[])
    calls = [call([10, 11, 12], [20, 21], 5),                   # opens row 0
             call([10, 11, 12, 20, 21, 30, 31], [22], 6),       # extends it: 5 shared, 2 new (tool) tokens
             call([10, 11, 40], [23, 24], 6, "act")]            # context rewritten: forks row 1
    views = call_views(Trajectory(id="t", example=ex, calls=calls), None, consumer=7)
    assert [(v["shared"], v["context"]["ids"], v["row"], v["fork"]) for v in views] == [
        (0, [10, 11, 12], 0, False), (5, [30, 31], 0, False), (2, [40], 1, True)]
    assert views[0]["output"]["versions"] == [5, 5] and views[0]["staleness"] == 2
    assert views[1]["logprob_mean"] == -0.5 and views[2]["version_min"] == views[2]["version_max"] == 6
    assert call_views(Trajectory(id="t", example=ex, calls=calls), None)[0]["staleness"] is None


def test_staleness_uses_the_oldest_sampled_token():
    ex = Example(id="q", question="?", answers=[])
    traj = Trajectory(id="t", example=ex, calls=[call([1], [2, 3], 4), call([1, 2, 3, 9], [5], 6)])
    assert staleness(traj, 7) == 3 and staleness(traj, None) is None
    text_only = Trajectory(id="t", example=ex, calls=[call([1], [2], -1)])
    assert staleness(text_only, 7) is None


def test_read_jsonl_tail(tmp_path):
    p = tmp_path / "metrics.jsonl"
    assert read_jsonl_tail(p, 0) == ([], 0, False)
    p.write_text('{"step": 1}\n{"step": 2}\n{"st')
    rows, off, reset = read_jsonl_tail(p, 0)
    assert [r["step"] for r in rows] == [1, 2] and off == len('{"step": 1}\n{"step": 2}\n') and not reset
    with p.open("a") as f:
        f.write('ep": 3}\nnot json\n{"step": 4}\n')
    rows, off2, _ = read_jsonl_tail(p, off)
    assert [r["step"] for r in rows] == [3, 4] and off2 == p.stat().st_size  # the corrupt line is skipped
    p.write_text('{"step": 1}\n')
    rows, off3, reset = read_jsonl_tail(p, off2)
    assert reset and [r["step"] for r in rows] == [1] and off3 == p.stat().st_size


def test_find_sources_and_model_name(tmp_path):
    run = tmp_path / "run"
    (run / "trajectories").mkdir(parents=True)
    (run / "metrics.jsonl").write_text("")
    (run / "config.yaml").write_text("model:\n  name: tiny-llama\n")
    for ds in ("world", "hotpotqa"):
        (run / "evals" / ds).mkdir(parents=True)
        (run / "evals" / ds / "trajectories.jsonl").write_text("")
    (run / "evals" / "hotpotqa" / "config.yaml").write_text("model:\n  name: other\n")
    got = [(s.kind, s.path) for s in find_sources(run)]
    assert got == [("train", ""), ("eval", "evals/hotpotqa"), ("eval", "evals/world")]
    assert model_name(run, run / "evals" / "world") == "tiny-llama"
    assert model_name(run, run / "evals" / "hotpotqa") == "other"
    assert model_name(tmp_path, tmp_path) is None
    assert find_sources(run / "evals" / "world") == [Source("eval", "", "eval")]


def test_train_rows_and_load(tmp_path):
    ex = Example(id="q", question="Who?", answers=["A"])
    t = Trajectory(id="t1", example=ex, calls=[call([1, 2], [3, 4], 2), call([1, 2, 3, 4, 5], [6], 3)],
                   answer="A", reward=1.0, score=1.0)
    (tmp_path / "trajectories").mkdir()
    (tmp_path / "trajectories" / "step_000004.jsonl").write_text(t.model_dump_json() + "\n")
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 4, "time": 0, "version": 5.0}) + "\n")
    reader = RunReader()
    [row] = reader.rows(tmp_path, find_sources(tmp_path)[0])
    assert (row["step"], row["staleness"], row["version_min"], row["version_max"]) == (4, 2, 2, 3)
    assert row["context_tokens"] == 6 and row["ref"] == "trajectories/step_000004.jsonl:0"
    traj, rec = reader.load(tmp_path, row["ref"])
    assert traj["id"] == "t1" and rec == {} and reader.step_of(row["ref"]) == 4
    for bad in ("trajectories/step_000004.jsonl:1", "metrics.jsonl:0", "trajectories/step_000004.jsonl:x"):
        with pytest.raises(Exception, match="trajector"):
            reader.load(tmp_path, bad)
