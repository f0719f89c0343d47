"""The UI server without a browser: the ask stream (scripted engine + in-memory tools), stop, the inspector's
run reading and token views over real trajectories, the metrics feed, and the request guards.

The builders here (``scripted_engine``, ``demo_tools``, ``build_run``) are also used by the browser tests.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from asearcher.agent import build_agent, run_episode
from asearcher.config import TrainConfig, load_config, save_config
from asearcher.evaluation.runner import make_record
from asearcher.inference.fake import ScriptedEngine
from asearcher.monitoring import Tracker
from asearcher.rollout.to_samples import merge_calls
from asearcher.tools import StaticTools
from asearcher.types import Example, Hit, Page, Trajectory
from asearcher.ui.app import create_app

URL = "https://world.local/wiki/Zorba_Quell"
EVIL = '<script>window.__pwned = 1</script><img src="x" onerror="window.__pwned = 2">'
PAGE = ("Zorba Quell was born in Ostravin in 1931. He founded Bluefin Works, a shipyard on the coast. " * 2
        + EVIL + " Later life: Zorba Quell moved to Brightwater and wrote two books about boats.")
HITS = [
    Hit(id="p2", title="Bluefin Works", contents="Bluefin Works was founded by Zorba Quell in 1958.",
        url="https://world.local/wiki/Bluefin_Works"),
    Hit(id="p1", title="Zorba Quell " + EVIL, contents="Zorba Quell was born in Ostravin. " + EVIL, url=URL),
    Hit(id="p3", title="Ostravin", contents="Ostravin is a town in the north; Zorba Quell was born there.",
        url="javascript:window.__pwned=3"),
]
QUESTION = "Where was the founder of Bluefin Works born?"
SEARCH = "I need the founder of Bluefin Works first.</think>\n<search>Bluefin Works founder born</search>"
ACCESS = f"Zorba Quell founded it <b>{EVIL}</b>; his page should say where he was born.</think>\n<access>{URL}</access>"
NOTES = "The page says Zorba Quell was born in Ostravin.</think>"
ANSWER = "The founder, Zorba Quell, was born in Ostravin.</think>\n<answer>Ostravin</answer>"
AGENT_OVERRIDES = ["model.name=tiny-llama", "agent.chunk_chars=150", "agent.max_new_tokens=160",
                   "agent.max_turns=12", "agent.temperature=1.0", "knowledge.source=world"]


@pytest.fixture(scope="session")
def ui_tokenizer():
    """The real SmolLM2 tokenizer (ChatML), without building a model."""
    from asearcher.models import load_tokenizer

    return load_tokenizer("smollm2-135m")


def script(request, prompt: str) -> str:
    """search → access → read each page part → answer, decided from the prompt the agent built."""
    if "</search>" not in request.stop:
        return NOTES
    if "<search>Bluefin Works founder born</search>" not in prompt:
        return SEARCH
    if f"<access>{URL}</access>" not in prompt:
        return ACCESS
    return ANSWER


class VersionedEngine(ScriptedEngine):
    """A scripted engine whose weight version advances every ``every`` calls (as under async RL)."""

    def __init__(self, tokenizer, script_, every: int = 2, delay_s: float = 0.0):
        super().__init__(tokenizer, script_)
        self.every, self.delay_s, self.n = every, delay_s, 0

    async def generate(self, request):
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        resp = await super().generate(request)
        self.n += 1
        if self.n % self.every == 0:
            self._version += 1
        return resp


def demo_tools() -> StaticTools:
    return StaticTools(HITS, {URL: Page(url=URL, title="Zorba Quell", contents=PAGE)})


def base_config() -> TrainConfig:
    return load_config(TrainConfig, None, AGENT_OVERRIDES)


def make_app(tokenizer, run_dirs=(), engine=None, **kw):
    eng = engine or VersionedEngine(tokenizer, script)
    kw.setdefault("tokenizer_loader", lambda name: tokenizer)
    return create_app(base_config(), engine_factory=lambda cfg: (eng, tokenizer),
                      tools_factory=lambda cfg: demo_tools(), run_dirs=list(run_dirs), **kw)


def episode(tokenizer, engine, qid: str, question: str = QUESTION) -> Trajectory:
    cfg = base_config()
    agent = build_agent(cfg.agent, tokenizer, topk=3)
    ex = Example(id=qid, question=question, answers=["Ostravin"])
    return asyncio.run(run_episode(agent, engine, demo_tools(), ex, trajectory_id=qid))


def build_run(root: Path, tokenizer, steps: int = 2, per_step: int = 2) -> Path:
    """A training run folder with real trajectories (scripted engine, versions advancing) and an evaluation
    folder under it (one record with token ids, one without, one protected)."""
    root.mkdir(parents=True, exist_ok=True)
    save_config(base_config(), root / "config.yaml")
    engine = VersionedEngine(tokenizer, script, every=3)
    tracker = Tracker(root, jsonl=True, tensorboard=False, stdout_every=0)
    (root / "trajectories").mkdir(exist_ok=True)
    for step in range(1, steps + 1):
        trajs = []
        for j in range(per_step):
            t = episode(tokenizer, engine, f"s{step}-{j}")
            t.reward, t.score, t.format_ok = (1.0, 1.0, True) if j % 2 == 0 else (-0.5, 0.0, True)
            trajs.append(t)
        (root / "trajectories" / f"step_{step:06d}.jsonl").write_text("".join(t.model_dump_json() + "\n" for t in trajs))
        tracker.log(step, {"reward/mean": 0.25 * step, "reward/score_mean": 0.5, "rollout/turns_mean": 5.0 + step,
                           "rollout/staleness_mean": 0.5, "time/wait_rollout_s": 1.0, "time/train_s": 2.0 + step,
                           "time/sync_s": 0.25, "version": float(engine.version + 1), "train/kept_frac": 1.0})
    tracker.close()
    ev = root / "eval" / "world"
    ev.mkdir(parents=True)
    t = episode(tokenizer, ScriptedEngine(tokenizer, script), "e1")
    ex = t.example
    prot = ex.model_copy(update={"id": "e3", "meta": {"protected": "gaia", "canary": "k3y"}})
    recs = [make_record(ex, 0, t, {"f1": 1.0, "em": 1.0}, save_tokens=True),
            make_record(ex.model_copy(update={"id": "e2"}), 0, t, {"f1": 0.5, "em": 0.0}, save_tokens=False),
            make_record(prot, 0, t, {"f1": 0.0, "em": 0.0}, save_tokens=True)]
    (ev / "trajectories.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    return root


def sse_events(client: TestClient, session_id: str) -> list[dict]:
    events = []
    with client.stream("GET", f"/api/ask/{session_id}/events") as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    return events


def test_ask_streams_search_hits_page_and_answer(ui_tokenizer):
    with TestClient(make_app(ui_tokenizer)) as client:
        r = client.post("/api/ask", json={"question": QUESTION, "source": "world"})
        assert r.status_code == 200, r.text
        events = sse_events(client, r.json()["id"])
    kinds = [e["type"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("done") == 1
    turns = [e["turn"] for e in events if e["type"] == "turn"]
    assert [t["kind"] for t in turns[:3]] == ["think", "search", "observation"]
    assert turns[1]["text"] == "Bluefin Works founder born"
    assert [h["title"] for h in turns[2]["hits"]][0] == "Bluefin Works"
    pages = [t for t in turns if t["kind"] == "observation" and t["chunk"] is not None]
    assert len(pages) >= 2 and "born in Ostravin" in pages[0]["text"]
    assert turns[-1] == {"kind": "answer", "text": "Ostravin", "hits": [], "chunk": None, "ok": True}
    done = events[-1]
    assert done["answer"] == "Ostravin" and done["finish"] == "answer"
    # counters: one "call" per LLM call, monotone, and they match the final stats
    calls = [e for e in events if e["type"] == "call"]
    assert len(calls) == done["stats"]["turns"] == done["counters"]["calls"]
    outs = [e["counters"]["output_tokens"] for e in events]
    assert outs == sorted(outs) and done["counters"]["output_tokens"] == done["stats"]["output_tokens"]
    assert done["counters"]["searches"] == 1 and done["counters"]["accesses"] == 1
    assert [e["seq"] for e in events] == list(range(len(events)))


def test_reconnect_replays_after_last_event_id_and_finished_stream_says_204(ui_tokenizer):
    with TestClient(make_app(ui_tokenizer)) as client:
        sid = client.post("/api/ask", json={"question": QUESTION}).json()["id"]
        events = sse_events(client, sid)
        with client.stream("GET", f"/api/ask/{sid}/events", headers={"Last-Event-ID": "3"}) as resp:
            again = [json.loads(x[6:]) for x in resp.iter_lines() if x.startswith("data: ")]
        assert again == events[4:]
        last = str(events[-1]["seq"])
        assert client.get(f"/api/ask/{sid}/events", headers={"Last-Event-ID": last}).status_code == 204
        assert client.get("/api/ask/nope/events").status_code == 404


def test_stop_ends_the_episode(ui_tokenizer):
    engine = VersionedEngine(ui_tokenizer, lambda req, prompt: "<search>again</search>", delay_s=0.05)
    with TestClient(make_app(ui_tokenizer, engine=engine)) as client:
        sid = client.post("/api/ask", json={"question": QUESTION, "max_turns": 200}).json()["id"]
        seen = []
        with client.stream("GET", f"/api/ask/{sid}/events") as resp:
            for line in resp.iter_lines():
                if not line.startswith("data: "):
                    continue
                seen.append(json.loads(line[6:]))
                if seen[-1]["type"] == "call" and sum(e["type"] == "call" for e in seen) == 2:
                    assert client.post(f"/api/ask/{sid}/stop", json={}).json() == {"stopped": True}
        assert seen[-1]["type"] == "stopped"
        assert sum(e["type"] == "call" for e in seen) < 10
        assert client.post(f"/api/ask/{sid}/stop", json={}).json() == {"stopped": False}


def test_ask_form_errors_are_clear(ui_tokenizer):
    with TestClient(make_app(ui_tokenizer)) as client:
        assert client.post("/api/ask", json={"question": ""}).status_code == 422
        r = client.post("/api/ask", json={"question": "q", "max_turns": 0})
        assert r.status_code == 422 and "max_turns" in r.text


def test_inspector_lists_and_opens_training_and_eval_trajectories(ui_tokenizer, tmp_path):
    run = build_run(tmp_path / "run", ui_tokenizer)
    with TestClient(make_app(ui_tokenizer, run_dirs=[run])) as client:
        assert client.get("/api/info").json()["runs"] == [str(run.resolve())]
        desc = client.get("/api/run", params={"path": str(run)}).json()
        assert [(s["kind"], s["path"]) for s in desc["sources"]] == [("train", ""), ("eval", "eval/world")]
        assert desc["model"] == "tiny-llama" and desc["has_metrics"]
        rows = client.get("/api/trajectories", params={"path": str(run), "source": ""}).json()["rows"]
        assert [r["step"] for r in rows] == [1, 1, 2, 2] and [r["reward"] for r in rows[:2]] == [1.0, -0.5]
        versions = [json.loads(x)["calls"] for x in (run / "trajectories/step_000002.jsonl").read_text().splitlines()]
        metric_v = [json.loads(x)["version"] for x in (run / "metrics.jsonl").read_text().splitlines()]
        # staleness = (version trained at step 2) − oldest sampled version of the trajectory
        oldest = min(v for c in versions[0] for v in c["output_versions"])
        assert rows[2]["staleness"] == metric_v[1] - 1 - oldest and rows[2]["version_min"] == oldest
        assert rows[0]["question"] == QUESTION and rows[0]["answer"] == "Ostravin" and rows[0]["turns"] >= 5

        d = client.get("/api/trajectory", params={"path": str(run), "ref": rows[2]["ref"]}).json()
    traj = Trajectory.model_validate_json((run / "trajectories/step_000002.jsonl").read_text().splitlines()[0])
    assert d["tokens_saved"] and d["meta"]["consumer_version"] == metric_v[1] - 1 and d["tokenizer"] == "tiny-llama"
    _, drifts = merge_calls(traj.calls)
    assert len(d["calls"]) == len(traj.calls)
    for view, call, drift in zip(d["calls"], traj.calls, drifts, strict=True):
        assert view["shared"] + len(view["context"]["ids"]) == view["input_len"] == len(call.input_ids)
        assert view["context"]["ids"] == call.input_ids[view["shared"]:]
        assert view["output"]["ids"] == call.output_ids and view["output"]["versions"] == call.output_versions
        assert view["fork"] == (view["index"] > 0 and drift == "fork")
        # the per-token texts concatenate to the decoded ids (one span per token, nothing lost)
        assert "".join(view["output"]["text"]) == ui_tokenizer.decode(call.output_ids, skip_special_tokens=False)
    assert d["calls"][0]["shared"] == 0 and d["calls"][1]["shared"] > 0
    assert "".join(d["calls"][0]["context"]["text"]).startswith("<|im_start|>system\n")
    assert any(v["fork"] for v in d["calls"])  # page reading rewrites the context: a new training row


def test_inspector_eval_records(ui_tokenizer, tmp_path):
    run = build_run(tmp_path / "run", ui_tokenizer, steps=1, per_step=1)
    with TestClient(make_app(ui_tokenizer)) as client:
        rows = client.get("/api/trajectories", params={"path": str(run), "source": "eval/world"}).json()["rows"]
        assert [(r["id"], r["score"]) for r in rows] == [("e1", 1.0), ("e2", 0.5), ("e3", 0.0)]
        assert rows[2].get("protected") and "protected" in rows[2]["question"]
        full = client.get("/api/trajectory", params={"path": str(run), "ref": rows[0]["ref"]}).json()
        assert full["tokens_saved"] and full["meta"]["scores"] == {"f1": 1.0, "em": 1.0}
        slim = client.get("/api/trajectory", params={"path": str(run), "ref": rows[1]["ref"]}).json()
        assert not slim["tokens_saved"] and slim["calls"][0]["output_len"] > 0 and slim["calls"][0]["text"]
        r = client.get("/api/trajectory", params={"path": str(run), "ref": rows[2]["ref"]})
        assert r.status_code == 400 and "protected" in r.json()["detail"]


def test_metrics_feed_is_incremental_and_survives_a_resume_cut(ui_tokenizer, tmp_path):
    run = build_run(tmp_path / "run", ui_tokenizer, steps=2, per_step=1)
    with TestClient(make_app(ui_tokenizer)) as client:
        first = client.get("/api/metrics", params={"path": str(run)}).json()
        assert [r["step"] for r in first["rows"]] == [1, 2] and not first["reset"]
        with (run / "metrics.jsonl").open("a") as f:
            f.write(json.dumps({"step": 3, "time": 1.0, "reward/mean": 0.9}) + "\n")
            f.write('{"step": 4, "ti')  # a writer mid-line: not returned yet
        nxt = client.get("/api/metrics", params={"path": str(run), "offset": first["offset"]}).json()
        assert [r["step"] for r in nxt["rows"]] == [3]
        (run / "metrics.jsonl").write_text(json.dumps({"step": 1, "time": 2.0}) + "\n")  # resumed: cut back
        cut = client.get("/api/metrics", params={"path": str(run), "offset": nxt["offset"]}).json()
        assert cut["reset"] and [r["step"] for r in cut["rows"]] == [1]


def test_guards(ui_tokenizer, tmp_path):
    run = build_run(tmp_path / "run", ui_tokenizer, steps=1, per_step=1)
    with TestClient(make_app(ui_tokenizer)) as client:
        page = client.get("/")
        assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
        assert client.get("/", headers={"Host": "evil.example:7860"}).status_code == 421
        assert client.post("/api/ask", content=json.dumps({"question": "q"}),
                           headers={"Content-Type": "text/plain"}).status_code == 415
        bad = client.get("/api/trajectory", params={"path": str(run), "ref": "../../../etc/passwd:0"})
        assert bad.status_code == 400 and "not a trajectory" in bad.json()["detail"]
        assert client.get("/api/run", params={"path": str(tmp_path / "missing")}).status_code == 404
        (tmp_path / "empty").mkdir()
        r = client.post("/api/runs/open", json={"path": str(tmp_path / "empty")})
        assert r.status_code == 404 and "metrics.jsonl" in r.json()["detail"]
        assert client.post("/api/runs/open", json={"path": str(run)}).json()["path"] == str(run.resolve())
        assert client.get("/api/runs").json()["runs"] == [str(run.resolve())]
        for name in ("index.html", "app.css", "main.js", "ask.js", "inspector.js", "dashboard.js", "charts.js"):
            assert client.get(f"/static/{name}").status_code == 200
