"""End to end through the CLI against real local OpenAI-compatible HTTP servers (FastAPI + uvicorn on
127.0.0.1, in a thread) that serve scripted chat completions: one server for both roles, then separate
instruct and reasoning servers."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from asearcher.cli.main import main
from asearcher.synth.fake import task_of
from asearcher.synth.runner import output_paths, read_jsonl
from tests.integration.test_synth_branches import PAGES
from tests.integration.test_synth_runner import steady

REASONING_TASKS = {"validity", "direct_answer", "uniqueness"}


@contextmanager
def chat_server(reply, model: str) -> Iterator[tuple[str, list[dict]]]:
    """Serve ``/v1/models`` and ``/v1/chat/completions`` on a free 127.0.0.1 port; yields (base URL, bodies)."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()
    bodies: list[dict] = []

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": model, "object": "model"}]}

    @app.post("/v1/chat/completions")
    async def chat(body: dict) -> dict:
        bodies.append(body)
        text = reply(body["messages"])
        return {"id": f"c{len(bodies)}", "object": "chat.completion", "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text}}]}

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", bodies
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _pages(tmp_path):
    p = tmp_path / "pages.jsonl"
    p.write_text("".join(json.dumps(x) + "\n" for x in PAGES))
    return p


def test_cli_against_one_server(tmp_path, capsys):
    out = tmp_path / "qa.jsonl"
    with chat_server(steady(), "scripted-chat") as (url, bodies):
        code = main(["synth", "--pages", str(_pages(tmp_path)), "--n", "3", "--out", str(out), "--base-url", url,
                     "--concurrency", "2", "--no-progress", "n_direct=2"])
    assert code == 0
    rows = read_jsonl(out)
    assert len(rows) == 3 and all(r["answer"] == "Riverton" and r["truth"]["correct"] for r in rows)
    assert all(b["model"] == "scripted-chat" and isinstance(b["seed"], int) for b in bodies)
    assert {task_of(b["messages"]) for b in bodies} >= {"extract", "base_qa", "choose_action", "link_qa",
                                                        "covered", "combine", "validity", "direct_answer",
                                                        "judge", "uniqueness"}
    direct = [b for b in bodies if task_of(b["messages"]) == "direct_answer"]
    assert direct and all(b["temperature"] == 0.8 for b in direct)
    printed = capsys.readouterr().out
    assert "accepted 3, rejected 0" in printed and "error rate 0.0%" in printed
    assert output_paths(out)["png"].is_file()


def test_cli_with_separate_reasoning_server(tmp_path):
    out = tmp_path / "qa.jsonl"
    script = steady()
    with chat_server(script, "instruct-m") as (iurl, ibodies), chat_server(script, "reasoning-m") as (rurl, rbodies):
        code = main(["synth", "--pages", str(_pages(tmp_path)), "--n", "2", "--out", str(out), "--base-url", iurl,
                     "--reasoning-base-url", rurl, "--no-progress", "n_direct=2", "max_steps=2"])
    assert code == 0 and len(read_jsonl(out)) == 2
    assert rbodies and {task_of(b["messages"]) for b in rbodies} == REASONING_TASKS
    assert ibodies and not {task_of(b["messages"]) for b in ibodies} & REASONING_TASKS
    assert read_jsonl(out)[0]["models"] == {"instruct": iurl, "reasoning": rurl}
