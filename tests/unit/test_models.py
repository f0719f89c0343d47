"""Model registry: tiny models build fast and deterministically; local paths load."""

from __future__ import annotations

import time

import pytest
import torch

from asearcher import models
from asearcher.errors import ModelError


def test_tiny_llama_shape_and_tokenizer(tiny_llama):
    model, tok = tiny_llama
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size == 64
    assert tok.eos_token == "<|im_end|>" and tok.chat_template
    assert tok.decode(tok.encode("<search>Paris</search>", add_special_tokens=False)) == "<search>Paris</search>"


def test_tiny_models_are_deterministic_and_fast(tiny_llama):
    t = time.perf_counter()
    a, _ = models.build_tiny("tiny-llama", seed=0)
    assert time.perf_counter() - t < 5  # generous; the notes measure ~0.1 s once the tokenizer is cached
    for (n, p), (_, q) in zip(a.named_parameters(), tiny_llama[0].named_parameters(), strict=True):
        assert torch.equal(p, q), n


def test_tiny_qwen2_head_dim_64(tiny_qwen2):
    model, tok = tiny_qwen2
    assert model.config.hidden_size // model.config.num_attention_heads == 64
    ids = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True)
    ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
    assert tok.convert_tokens_to_ids("<|im_start|>") in ids


def test_local_path_roundtrip(tmp_path, tiny_qwen2):
    model, tok = tiny_qwen2
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    loaded = models.load_model(str(tmp_path / "m"))
    ids = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        assert torch.allclose(loaded(ids).logits, model(ids).logits)
    assert models.load_tokenizer(str(tmp_path / "m")).encode("hello") == tok.encode("hello")


def test_unknown_tiny_kind():
    with pytest.raises(ModelError, match="tiny-llama or tiny-qwen2"):
        models.build_tiny("tiny-gpt")


def test_model_device_option(tmp_path, tiny_qwen2, monkeypatch):
    from pydantic import ValidationError

    from asearcher.config import ModelConfig

    assert ModelConfig().device == "auto"
    assert ModelConfig(device="cuda:1").device == "cuda:1"
    with pytest.raises(ValidationError, match="not a device"):
        ModelConfig(device="gpu")
    model, tok = tiny_qwen2
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert models.resolve_device("auto") == "cpu"
    assert next(models.load_model(str(tmp_path), device="auto").parameters()).device.type == "cpu"
    with pytest.raises(ModelError, match="no CUDA GPU"):
        models.load_model(str(tmp_path), device="cuda")
