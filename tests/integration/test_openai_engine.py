"""``OpenAIEngine`` against a real local OpenAI-compatible HTTP server (``OpenAIStub``: stdlib
``ThreadingHTTPServer`` on 127.0.0.1, a free port): chat and completions requests, the API key read at call
time and never logged, bounded retries (transport errors, 429, 5xx only), stop strings put back, the
client-side pause gate, and the hosted-model refusal of weight updates. ``OpenAIStub`` is reused by the judge
and eval tests."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from asearcher.config import EngineConfig
from asearcher.errors import EngineError
from asearcher.inference.chat import ChatModel
from asearcher.inference.openai import OpenAIEngine
from asearcher.types import GenerateRequest

Reply = Callable[[str, dict[str, Any]], "str | dict[str, Any]"]
"""(path, request body) → the reply text, or a dict of choice fields (``text``, ``finish_reason``, ``stop_reason``)."""


class OpenAIStub:
    """A small OpenAI-compatible server: ``GET /v1/models``, ``POST /v1/chat/completions`` and
    ``POST /v1/completions``. ``faults`` is a list of HTTP statuses answered first, one per request (0 = drop
    the connection without a reply). Every request is recorded as (path, body, headers)."""

    def __init__(self, reply: Reply | None = None, model: str = "stub-model"):
        self.reply = reply or (lambda path, body: "hello")
        self.model = model
        self.faults: list[int] = []
        self.requests: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self._lock = threading.Lock()
        self.url = ""

    def __enter__(self) -> OpenAIStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, doc: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _fault(self) -> bool:
                with stub._lock:
                    status = stub.faults.pop(0) if stub.faults else None
                if status is None:
                    return False
                if status == 0:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return True
                self._send(status, {"error": {"message": f"injected {status}"}},
                           {"Retry-After": "0"} if status == 429 else None)
                return True

            def do_GET(self) -> None:  # noqa: N802
                stub.requests.append((self.path, {}, dict(self.headers)))
                if self._fault():
                    return
                if self.path == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": stub.model, "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                stub.requests.append((self.path, body, dict(self.headers)))
                if self._fault():
                    return
                if self.path not in ("/v1/chat/completions", "/v1/completions"):
                    self._send(404, {"error": {"message": "not found"}})
                    return
                out = stub.reply(self.path, body)
                fields = {"text": out} if isinstance(out, str) else dict(out)
                text = fields.pop("text")
                choice: dict[str, Any] = {"index": 0, "finish_reason": "stop", **fields}
                if self.path == "/v1/chat/completions":
                    choice["message"] = {"role": "assistant", "content": text}
                else:
                    choice["text"] = text
                self._send(200, {"id": "x", "object": "completion", "model": body.get("model"), "choices": [choice]})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _req(**kw: Any) -> GenerateRequest:
    return GenerateRequest(**({"input_ids": [], "max_new_tokens": 16, "temperature": 0.0} | kw))


def test_chat_request_and_response():
    with OpenAIStub(lambda p, b: f"echo {b['messages'][-1]['content']}") as s:
        eng = OpenAIEngine(s.url + "/v1/", model="m1")
        resp = asyncio.run(eng.generate(_req(messages=[{"role": "user", "content": "hi"}], stop=["</x>"], seed=3)))
        assert eng.token_level is False and eng.version == 0
        assert resp.text == "echo hi" and resp.finish_reason == "eos"
        assert resp.output_ids == resp.output_logprobs == resp.output_versions == []
        path, body, _ = s.requests[-1]
        assert path == "/v1/chat/completions"
        assert body == {"model": "m1", "max_tokens": 16, "temperature": 0.0, "top_p": 1.0, "stop": ["</x>"],
                        "seed": 3, "messages": [{"role": "user", "content": "hi"}]}


class _Tok:
    def decode(self, ids: list[int]) -> str:
        return "|".join(map(str, ids))


def test_completions_send_token_ids_or_text():
    with OpenAIStub(lambda p, b: json.dumps(b["prompt"])) as s:
        ids = asyncio.run(OpenAIEngine(s.url, model="m").generate(_req(input_ids=[5, 6, 7])))
        assert json.loads(ids.text) == [5, 6, 7] and s.requests[-1][0] == "/v1/completions"
        text = asyncio.run(OpenAIEngine(s.url, model="m", tokenizer=_Tok()).generate(_req(input_ids=[5, 6])))
        assert json.loads(text.text) == "5|6"


def test_served_model_is_asked_once_and_chat_model_works():
    with OpenAIStub(model="served-7b") as s:
        eng = OpenAIEngine(s.url)

        async def go() -> list[str]:
            chat = ChatModel(eng, name="served-7b")
            return [await chat.complete([{"role": "user", "content": "q"}]) for _ in range(3)]

        assert asyncio.run(go()) == ["hello"] * 3
        assert [p for p, _, _ in s.requests].count("/v1/models") == 1
        assert all(b.get("model") == "served-7b" for p, b, _ in s.requests if p != "/v1/models")


def test_api_key_read_at_call_time_and_never_logged(monkeypatch, caplog):
    monkeypatch.delenv("MY_KEY", raising=False)
    with OpenAIStub() as s:
        eng = OpenAIEngine(s.url, model="m", api_key_env="MY_KEY", backoff_s=0.01)
        asyncio.run(eng.generate(_req(messages=[])))
        assert "Authorization" not in s.requests[-1][2]
        monkeypatch.setenv("MY_KEY", "sk-secret-123")
        s.faults = [503]
        with caplog.at_level(logging.DEBUG):
            asyncio.run(eng.generate(_req(messages=[])))
        assert s.requests[-1][2]["Authorization"] == "Bearer sk-secret-123"
        assert "retrying" in caplog.text and "sk-secret-123" not in caplog.text


def test_retries_transport_errors_429_and_5xx_then_succeeds():
    with OpenAIStub() as s:
        s.faults = [503, 429, 0, 500]
        eng = OpenAIEngine(s.url, model="m", retries=4, backoff_s=0.01)
        assert asyncio.run(eng.generate(_req(messages=[]))).text == "hello"
        assert len(s.requests) == 5


def test_retries_are_bounded():
    with OpenAIStub() as s:
        s.faults = [502] * 10
        eng = OpenAIEngine(s.url, model="m", retries=2, backoff_s=0.01)
        with pytest.raises(EngineError, match="failed after 3 tries.*HTTP 502"):
            asyncio.run(eng.generate(_req(messages=[])))
        assert len(s.requests) == 3


def test_client_errors_are_not_retried():
    with OpenAIStub() as s:
        s.faults = [400]
        eng = OpenAIEngine(s.url, model="m", retries=3, backoff_s=0.01)
        with pytest.raises(EngineError, match="HTTP 400.*injected 400"):
            asyncio.run(eng.generate(_req(messages=[])))
        assert len(s.requests) == 1


def test_unreachable_server_is_a_clear_error():
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens here now
    eng = OpenAIEngine(f"http://127.0.0.1:{port}", model="m", retries=1, backoff_s=0.01)
    with pytest.raises(EngineError, match="failed after 2 tries.*ConnectError"):
        asyncio.run(eng.generate(_req(messages=[])))


@pytest.mark.parametrize("choice, stops, text, finish", [
    ({"text": "think <search>q"}, ["</search>", "</answer>"], "think <search>q</search>", "stop"),
    ({"text": "<search>a</search> <answer>b"}, ["</search>", "</answer>"], "<search>a</search> <answer>b</answer>",
     "stop"),
    ({"text": "done."}, ["</search>"], "done.", "eos"),                          # natural end, no open tag
    ({"text": "a", "stop_reason": "END"}, ["END", "</x>"], "aEND", "stop"),      # vLLM says which stop
    ({"text": "<x>a", "stop_reason": None}, ["</x>"], "<x>a", "eos"),            # vLLM: eos, not a stop string
    ({"text": "abc", "finish_reason": "length"}, ["</x>"], "abc", "length"),
])
def test_stop_strings_are_put_back(choice, stops, text, finish):
    with OpenAIStub(lambda p, b: choice) as s:
        resp = asyncio.run(OpenAIEngine(s.url, model="m").generate(_req(messages=[], stop=stops)))
        assert (resp.text, resp.finish_reason) == (text, finish)


def test_pause_gates_new_requests_until_resume():
    with OpenAIStub() as s:
        eng = OpenAIEngine(s.url, model="m")

        async def go() -> None:
            await eng.pause()
            task = asyncio.create_task(eng.generate(_req(messages=[])))
            await asyncio.sleep(0.2)
            assert not task.done() and s.requests == []
            await eng.resume()
            assert (await asyncio.wait_for(task, 10)).text == "hello"
            await eng.aclose()

        asyncio.run(go())


def test_update_weights_refused_and_from_config():
    with OpenAIStub() as s:
        cfg = EngineConfig(type="openai", base_urls=[s.url, s.url + "/v1"], model="m", api_key_env="K",
                           timeout_s=5)
        eng = OpenAIEngine.from_config(cfg)
        assert eng.base_urls == [s.url + "/v1"] * 2 and eng.model == "m" and eng.api_key_env == "K"
        with pytest.raises(EngineError, match="cannot be updated"):
            asyncio.run(eng.update_weights(1, path="/tmp/x"))


def test_sessions_stick_to_one_replica():
    with OpenAIStub() as a, OpenAIStub() as b:
        eng = OpenAIEngine([a.url, b.url], model="m")
        sessions = [f"s{i}" for i in range(8)]

        async def go() -> None:
            for sid in sessions * 2:
                await eng.generate(_req(messages=[{"role": "user", "content": sid}], session_id=sid))

        asyncio.run(go())
        seen = [{body["messages"][0]["content"] for _, body, _ in srv.requests} for srv in (a, b)]
        assert seen[0] and seen[1] and not seen[0] & seen[1] and seen[0] | seen[1] == set(sessions)
        assert len(a.requests) + len(b.requests) == 16
