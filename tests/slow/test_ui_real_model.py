"""The UI with its default factories: the bundled SmolLM2 served in-process, the generated world's BM25 KB,
one question streamed end to end (whatever the small model writes, the stream ends with one terminal event
and the counters match the episode's stats)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from asearcher.config import TrainConfig, load_config
from asearcher.ui.app import create_app

pytestmark = pytest.mark.slow


def test_ask_with_the_bundled_model_over_the_world(small_world):
    cfg = load_config(TrainConfig, None, [f"world.dir={small_world}", "knowledge.source=world",
                                          "agent.max_new_tokens=48", "agent.max_turns=3", "agent.temperature=0"])
    question = json.loads((small_world / "questions" / "test.jsonl").read_text().splitlines()[0])["question"]
    with TestClient(create_app(cfg)) as client:
        r = client.post("/api/ask", json={"question": question})
        assert r.status_code == 200, r.text
        with client.stream("GET", f"/api/ask/{r.json()['id']}/events") as resp:
            events = [json.loads(x[6:]) for x in resp.iter_lines() if x.startswith("data: ")]
    assert events[0]["type"] == "start" and events[-1]["type"] == "done", events[-1]
    done = events[-1]
    assert 1 <= done["stats"]["turns"] <= 3 and done["counters"]["calls"] == done["stats"]["turns"]
    assert done["counters"]["output_tokens"] == done["stats"]["output_tokens"] > 0
    assert sum(e["type"] == "call" for e in events) == done["stats"]["turns"]
