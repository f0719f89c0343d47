"""The engine contract (``engine_suite.EngineContract``) over the scripted fake and the in-process HF engine."""

from __future__ import annotations

import asyncio

import pytest

from asearcher.inference.fake import ScriptedEngine
from tests.contract.engine_suite import EngineContract, diverse_tiny_llama

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho".split()


def _script(request, prompt: str) -> str:
    start = len(request.input_ids)
    return " " + " ".join(WORDS[(start + i) % len(WORDS)] for i in range(14))


class TestScriptedEngineContract(EngineContract):
    exact_stops = False  # ScriptedEngine cuts its script text and re-tokenises it

    @pytest.fixture
    def tokenizer(self, tiny_tokenizer):
        return tiny_tokenizer

    @pytest.fixture
    def engine(self, tokenizer):
        return ScriptedEngine(tokenizer, _script)


@pytest.fixture(scope="module")
def diverse_llama(tiny_llama):
    return diverse_tiny_llama(base=tiny_llama)


class TestHFEngineContract(EngineContract):
    @pytest.fixture
    def tokenizer(self, diverse_llama):
        return diverse_llama[1]

    @pytest.fixture
    def engine(self, diverse_llama):
        from asearcher.inference.hf import HFEngine

        eng = HFEngine(diverse_llama[0], diverse_llama[1], max_batch=8, seed=0)
        yield eng
        asyncio.run(eng.aclose())

    def update_args(self, engine):
        # the same weights (the module-scoped model is shared by tests): exercises the load path
        return {"state_dict": {k: v.clone() for k, v in engine.model.state_dict().items()}}
