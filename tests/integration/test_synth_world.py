"""Synthesis on the real generated world (``small_world`` fixture) with a world-aware script: the truth
check must find the world fact behind each honest answer and flag each planted hallucination, so the
measured error rate equals the planted share."""

from __future__ import annotations

import asyncio
import json
import re

from asearcher.config.synth import SynthConfig
from asearcher.inference.chat import ChatModel
from asearcher.synth.fake import ScriptedChatEngine, task_of
from asearcher.synth.llm import Role
from asearcher.synth.pages import load_pages
from asearcher.synth.parsing import contains_phrase
from asearcher.synth.runner import output_paths, read_jsonl, run_synthesis


def _world_script(world_dir):
    pages = {json.loads(x)["title"]: json.loads(x)["contents"] for x in open(world_dir / "pages.jsonl")}
    ents = {e["name"]: e for e in map(json.loads, open(world_dir / "entities.jsonl"))}

    def base_qa(name: str) -> dict:
        e = ents[name]
        if e["type"] == "city":  # planted hallucination
            return {"question": f"Which lost city is twinned with {name}?", "answer": "Atlantis",
                    "statement": f"{name} is twinned with Atlantis."}
        values = [str(v) for v in e["attrs"].values()] + list(e["relations"].values())
        value = next(v for v in values if contains_phrase(pages[name], v))
        sentence = next(s for s in re.split(r"(?<=\.)\s+", pages[name]) if contains_phrase(s, value))
        return {"question": f"Which detail is recorded about {name}?", "answer": value, "statement": sentence}

    def reply(messages, request=None):
        task, prompt = task_of(messages), messages[1]["content"] if len(messages) > 1 else ""
        if task == "extract":
            return json.dumps({"summary": "s", "facts": ["f"]})
        if task == "base_qa":
            return json.dumps(base_qa(re.search(r'question about "(.+?)"', prompt).group(1)))
        if task == "choose_action":
            return json.dumps({"action": "exit"})
        if task == "direct_answer":
            return "Answer: nobody knows"
        return json.dumps({"validity": {"valid": True}, "judge": {"correct": False},
                           "uniqueness": {"also_valid": False}}[task])

    return ents, reply


def test_truth_check_on_the_generated_world_measures_the_planted_error_rate(small_world, tmp_path):
    ents, reply = _world_script(small_world)
    graph = load_pages(small_world / "pages.jsonl")
    cfg = SynthConfig(out=str(tmp_path / "qa.jsonl"), n=12, n_direct=1, max_steps=1, progress=False)
    role = Role(ChatModel(ScriptedChatEngine(reply), name="scripted"), 64)
    summary = asyncio.run(run_synthesis(cfg, graph, role, role))
    rows = read_jsonl(output_paths(cfg.out)["out"])
    assert summary["accepted"] == len(rows) == 12
    planted = sum(ents[r["root"]]["type"] == "city" for r in rows)
    assert 0 < planted < 12  # seed 0 draws both kinds of root
    assert summary["truth"]["mode"] == "world"
    assert summary["truth"]["correct"] == 12 - planted
    assert summary["truth"]["error_rate"] == round(planted / 12, 4)
    for r in rows:
        honest = ents[r["root"]]["type"] != "city"
        assert r["truth"]["correct"] == honest and (r["truth"]["world_fact"] is not None) == honest
