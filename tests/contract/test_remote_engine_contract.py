"""The shared engine contract over the remote client talking to the fake server, in both wire formats
(SGLang native and vLLM OpenAI + dev routes)."""

from __future__ import annotations

import asyncio

import pytest

from asearcher.inference.fake_server import FakeServer, ServerThread
from asearcher.inference.remote import RemoteEngine
from asearcher.inference.remote_backends import make_backend
from tests.contract.engine_suite import EngineContract, diverse_tiny_llama


@pytest.fixture(scope="module")
def diverse_server():
    model, tok = diverse_tiny_llama()
    th = ServerThread(FakeServer(model, tok).app)
    yield th.url, tok
    th.stop()


class _RemoteContract(EngineContract):
    kind = "sglang"
    max_new_tokens = 12  # the fake server decodes one token per request at a time

    @pytest.fixture
    def tokenizer(self, diverse_server):
        return diverse_server[1]

    @pytest.fixture
    def engine(self, diverse_server):
        url, tok = diverse_server
        eng = RemoteEngine([url], make_backend(self.kind), tokenizer=tok)
        yield eng
        reset = make_backend("sglang")  # leave the shared server running, at version 0
        asyncio.run(eng.call(0, reset.control("resume")[0]))
        asyncio.run(eng.call(0, reset.control("set_version", version=0)[0]))


class TestSGLangClientContract(_RemoteContract):
    kind = "sglang"


class TestVLLMClientContract(_RemoteContract):
    kind = "vllm"
