"""CLI end to end: `world generate` → `world check` → `kb build` → `kb search --json`."""

from __future__ import annotations

import json

from asearcher.cli.main import main


def test_world_generate_check_kb_build_and_search(tmp_path, capsys):
    world = tmp_path / "world"
    assert main(["world", "generate", "--seed", "5", "--out", str(world), "--entities", "40", "--max-hops", "3"]) == 0
    assert "passages" in capsys.readouterr().out
    assert main(["world", "check", str(world)]) == 0
    out = capsys.readouterr().out
    assert "OK: every answer is derivable" in out and "top3=1.000" in out

    kb = tmp_path / "kb"
    assert main(["kb", "build", "--corpus", str(world / "corpus.jsonl"), "--out", str(kb)]) == 0
    capsys.readouterr()
    q = json.loads((world / "questions" / "test.jsonl").read_text().splitlines()[0])
    hop = q["chain"][0]
    assert main(["kb", "search", "--index", str(kb), "--pages", str(world / "pages.jsonl"), "--json",
                 "--topk", "3", hop["query"]]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert 1 <= len(hits) <= 3 and {"id", "contents", "score", "title", "url"} <= set(hits[0])
    assert hop["passage_id"] in [h["id"] for h in hits]  # ids are the corpus's own ids
    assert main(["kb", "search", "--index", str(kb), hop["query"]]) == 0
    assert hop["title"] in capsys.readouterr().out


def test_world_check_fails_on_a_broken_world(tmp_path, capsys):
    world = tmp_path / "world"
    assert main(["world", "generate", "--out", str(world), "--entities", "30", "--max-hops", "2"]) == 0
    corpus = (world / "corpus.jsonl").read_text().splitlines()
    (world / "corpus.jsonl").write_text("\n".join(corpus[1:]) + "\n")  # drop a supporting passage
    assert main(["world", "check", "--no-ranks", str(world)]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_kb_build_reports_bad_lines(tmp_path, capsys):
    corpus = tmp_path / "bad.jsonl"
    corpus.write_text('{"id": "0", "contents": "\\"T\\"\\nok"}\nnot json\n')
    assert main(["kb", "build", "--corpus", str(corpus), "--out", str(tmp_path / "kb")]) == 1
    assert f"{corpus}:2: invalid JSON" in capsys.readouterr().err
    assert not (tmp_path / "kb").exists()


def test_kb_build_from_shared_wiki18_sample(shared_data, tmp_path, capsys):
    kb = tmp_path / "kb"
    assert main(["kb", "build", "--corpus", str(shared_data / "flashrag_wiki18_sample" / "sample_data.jsonl"),
                 "--out", str(kb)]) == 0
    capsys.readouterr()
    assert main(["kb", "search", "--index", str(kb), "--json", "Evan Morris lobbyist Genentech"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["id"] == "0"
