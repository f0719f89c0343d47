"""The in-process engine on the bundled SmolLM2: trainer logprob parity and batched == alone on a real model."""

from __future__ import annotations

import asyncio

import pytest
import torch

from asearcher.inference.hf import HFEngine
from asearcher.types import GenerateRequest

pytestmark = pytest.mark.slow


def test_smollm2_engine_parity_and_batching():
    from asearcher import models

    torch.set_num_threads(2)
    tok, model = models.load_tokenizer("smollm2-135m"), models.load_model("smollm2-135m")
    questions = ["What is the capital of France?", "What is 2+2?", "Name a large ocean."]
    prompts = [tok.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True,
                                       tokenize=True, return_dict=True)["input_ids"] for q in questions]
    reqs = [GenerateRequest(input_ids=list(p), max_new_tokens=16, temperature=0.0, stop_token_ids=[tok.eos_token_id])
            for p in prompts]

    async def go():
        engine = HFEngine(model, tok)
        try:
            alone = [await engine.generate(r) for r in reqs]
            together = await asyncio.gather(*(engine.generate(r) for r in reqs))
            return alone, together
        finally:
            await engine.aclose()

    alone, together = asyncio.run(go())
    for req, a, b in zip(reqs, alone, together, strict=True):
        assert a.output_ids == b.output_ids
        ids = torch.tensor([req.input_ids + a.output_ids])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits[0].float(), dim=-1)
        ref = logp[len(req.input_ids) - 1: -1].gather(1, torch.tensor(a.output_ids)[:, None])[:, 0]
        assert float((ref - torch.tensor(a.output_logprobs)).abs().max()) < 1e-4
