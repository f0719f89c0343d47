"""The in-process engine on one GPU (the device follows the model): trainer logprob parity and batching."""

from __future__ import annotations

import asyncio

import pytest
import torch

from asearcher.inference.hf import HFEngine
from asearcher.models import build_tiny
from asearcher.types import GenerateRequest
from tests.contract.engine_suite import diverse_tiny_llama

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def test_cuda_engine_matches_trainer_and_batches():
    # tiny-qwen2 brings its own tokenizer: GPU boxes often lack the bundled package (and the network)
    model, tok = diverse_tiny_llama(base=build_tiny("tiny-qwen2", seed=0))
    model = model.cuda()
    reqs = [GenerateRequest(input_ids=tok.encode(f"prompt number {i} " * (i + 1)), max_new_tokens=12,
                            temperature=0.7, seed=i, session_id=f"s{i}") for i in range(6)]

    async def go():
        engine = HFEngine(model, tok)
        try:
            together = await asyncio.gather(*(engine.generate(r) for r in reqs))
            await engine.pause()
            await engine.update_weights(1, state_dict={k: v.clone() for k, v in model.state_dict().items()})
            await engine.resume()
            after = await engine.generate(reqs[0])
            return together, after
        finally:
            await engine.aclose()

    together, after = asyncio.run(go())
    assert after.output_versions == [1] * len(after.output_ids)
    for req, resp in zip(reqs, together, strict=True):
        ids = torch.tensor([req.input_ids + resp.output_ids], device="cuda")
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits[0].float() / 0.7, dim=-1)
        ref = logp[len(req.input_ids) - 1: -1].gather(1, torch.tensor(resp.output_ids, device="cuda")[:, None])[:, 0]
        assert float((ref.cpu() - torch.tensor(resp.output_logprobs)).abs().max()) < 1e-3
