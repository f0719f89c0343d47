"""Reusable contract of the ``InferenceEngine`` protocol (``asearcher.inference.base``).

Subclass ``EngineContract`` in a ``Test*`` class and provide two fixtures:

- ``engine``: a fresh token-level engine at version 0 whose greedy (temperature 0) outputs are
  deterministic and not all-stop (close it after the test);
- ``tokenizer``: the engine's tokenizer.

Optional knobs (class attributes / methods): ``exact_stops`` (the engine stops exactly on the token that
completes a stop string / is a stop token, keeping the tokens it generated — real engines; ScriptedEngine
re-tokenises its script so it only keeps the weaker properties), ``update_args(engine)`` (keyword
arguments for ``update_weights`` besides the version, e.g. a state dict), ``max_new_tokens`` (long
enough probes). Tests are plain functions that drive the engine with ``asyncio.run`` (no pytest-asyncio).
Remote engines reuse it: ``from tests.contract.engine_suite import EngineContract``.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from asearcher.inference.base import InferenceEngine, release_session
from asearcher.types import GenerateRequest, GenerateResponse

PROMPTS = [
    "Question: who wrote the novel? Answer:",
    "The quick brown fox jumps over the lazy dog.",
    "<search>capital of France</search>",
    "User: tell me a story about the sea. Assistant:",
]


def diverse_tiny_llama(seed: int = 1, std: float = 0.2, base: tuple[Any, Any] | None = None):
    """The tiny Llama with its non-embedding matrices re-drawn with a larger std, so that greedy outputs
    depend on the context (the default random init just repeats the last token, which hides batching and
    caching bugs). ``base`` = an existing (model, tokenizer), e.g. the ``tiny_llama`` fixture, is copied
    (not changed) instead of building a new one. Returns (model, tokenizer)."""
    import copy

    import torch

    from asearcher.models import build_tiny

    model, tok = (copy.deepcopy(base[0]), base[1]) if base is not None else build_tiny("tiny-llama", seed=0)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2 and "embed" not in name:
                p.copy_(torch.randn(p.shape, generator=gen) * std)
    return model, tok


def check_response(resp: GenerateResponse, req: GenerateRequest) -> None:
    """Properties every token-level response has."""
    n = len(resp.output_ids)
    assert 0 < n <= req.max_new_tokens
    assert len(resp.output_logprobs) == n and len(resp.output_versions) == n
    assert all(math.isfinite(lp) and lp <= 1e-6 for lp in resp.output_logprobs)
    assert resp.finish_reason in ("stop", "eos", "length")
    if resp.finish_reason == "length":
        assert n == req.max_new_tokens


class EngineContract:
    exact_stops = True
    max_new_tokens = 24

    def update_args(self, engine: Any) -> dict[str, Any]:
        """Extra keyword arguments of ``update_weights`` (default: version only)."""
        return {}

    # ---- helpers ----------------------------------------------------------------------------------

    def ids(self, tokenizer: Any, i: int = 0) -> list[int]:
        return list(tokenizer.encode(PROMPTS[i % len(PROMPTS)], add_special_tokens=False))

    def greedy(self, tokenizer: Any, i: int = 0, **kw: Any) -> GenerateRequest:
        kw.setdefault("max_new_tokens", self.max_new_tokens)
        return GenerateRequest(input_ids=self.ids(tokenizer, i), temperature=0.0, **kw)

    # ---- the contract -------------------------------------------------------------------------------

    def test_protocol_and_equal_length_lists(self, engine, tokenizer):
        assert isinstance(engine, InferenceEngine)
        assert engine.token_level is True and engine.version == 0
        reqs = [self.greedy(tokenizer, 0),
                GenerateRequest(input_ids=self.ids(tokenizer, 1), max_new_tokens=7, temperature=1.0, seed=3),
                GenerateRequest(input_ids=self.ids(tokenizer, 2), max_new_tokens=9, temperature=0.7, top_p=0.9,
                                top_k=50)]

        async def go():
            return [await engine.generate(r) for r in reqs]

        for req, resp in zip(reqs, asyncio.run(go()), strict=True):
            check_response(resp, req)
            assert resp.output_versions == [0] * len(resp.output_ids)
            assert isinstance(resp.text, str)

    def test_length_finish(self, engine, tokenizer):
        req = self.greedy(tokenizer, 1, max_new_tokens=5)
        resp = asyncio.run(engine.generate(req))
        assert resp.finish_reason == "length" and len(resp.output_ids) == 5

    def test_stop_string(self, engine, tokenizer):
        probe = asyncio.run(engine.generate(self.greedy(tokenizer, 0)))
        picked = _pick_stop_string(tokenizer, probe.output_ids)
        assert picked is not None, f"no usable stop string in {probe.text!r}"
        k, stop = picked
        resp = asyncio.run(engine.generate(self.greedy(tokenizer, 0, stop=[stop])))
        text = tokenizer.decode(resp.output_ids, skip_special_tokens=True)
        assert resp.finish_reason == "stop"
        assert stop in text, (stop, text)
        assert stop not in tokenizer.decode(resp.output_ids[:-1], skip_special_tokens=True)
        if self.exact_stops:
            assert resp.output_ids == probe.output_ids[: k + 1]

    def test_stop_token(self, engine, tokenizer):
        probe = asyncio.run(engine.generate(self.greedy(tokenizer, 3)))
        out = probe.output_ids
        k = next((j for j in range(1, len(out)) if out[j] not in out[:j]), 0)
        tok = out[k]
        resp = asyncio.run(engine.generate(self.greedy(tokenizer, 3, stop_token_ids=[tok])))
        assert resp.finish_reason == "eos"
        assert resp.output_ids[-1] == tok
        if self.exact_stops:
            assert resp.output_ids == out[: k + 1]

    def test_concurrent_requests_match_sequential(self, engine, tokenizer):
        reqs = [self.greedy(tokenizer, i, max_new_tokens=4 + 3 * (i % 4)) for i in range(10)]

        async def sequential():
            return [await engine.generate(r) for r in reqs]

        async def concurrent():
            return await asyncio.gather(*(engine.generate(r) for r in reqs))

        alone, together = asyncio.run(sequential()), asyncio.run(concurrent())
        for req, a, b in zip(reqs, alone, together, strict=True):
            check_response(b, req)
            assert a.output_ids == b.output_ids

    def test_session_turns(self, engine, tokenizer):
        async def go():
            ids = self.ids(tokenizer, 2)
            outs = []
            for turn in range(3):
                resp = await engine.generate(GenerateRequest(input_ids=ids, max_new_tokens=6, temperature=0.0,
                                                             session_id="s-contract"))
                outs.append(resp)
                ids = ids + resp.output_ids + self.ids(tokenizer, turn)
            release_session(engine, "s-contract")
            return outs

        for resp in asyncio.run(go()):
            assert len(resp.output_ids) == len(resp.output_logprobs) == len(resp.output_versions) > 0

    def test_pause_blocks_and_resume_continues(self, engine, tokenizer):
        req = self.greedy(tokenizer, 1, max_new_tokens=4)

        async def go():
            await engine.pause()
            task = asyncio.create_task(engine.generate(req))
            await asyncio.sleep(0.3)
            blocked = not task.done()
            await engine.resume()
            return blocked, await asyncio.wait_for(task, 60)

        blocked, resp = asyncio.run(go())
        assert blocked, "a request completed while the engine was paused"
        check_response(resp, req)

    def test_update_weights_bumps_version(self, engine, tokenizer):
        long_req = self.greedy(tokenizer, 0, max_new_tokens=self.max_new_tokens)

        async def go():
            spanning = asyncio.create_task(engine.generate(long_req))
            await asyncio.sleep(0)
            await engine.pause()
            await engine.update_weights(1, **self.update_args(engine))
            assert engine.version == 1
            await engine.resume()
            after = await engine.generate(self.greedy(tokenizer, 2, max_new_tokens=5))
            return await asyncio.wait_for(spanning, 60), after

        spanning, after = asyncio.run(go())
        assert after.output_versions == [1] * len(after.output_ids)
        versions = spanning.output_versions
        assert set(versions) <= {0, 1} and versions == sorted(versions)


def _pick_stop_string(tokenizer: Any, out: list[int]) -> tuple[int, str] | None:
    """(k, s): a short string first completed by output token ``k`` (prefer k >= 1)."""
    for k in list(range(1, len(out))) + [0]:
        before = tokenizer.decode(out[:k], skip_special_tokens=True)
        upto = tokenizer.decode(out[: k + 1], skip_special_tokens=True)
        for n in (3, 2, 1):
            s = upto[-n:]
            if len(s) == n and s.strip() and "\ufffd" not in s and s not in before:
                return k, s
    return None
