"""Pure helpers of the in-process engine: sampling/logprobs, stop strings, KV slots, session LRU."""

from __future__ import annotations

import math

import pytest
import torch

from asearcher.inference.hf_kv import KVSlots, SessionCache, common_prefix, decode_mask, prefill_mask
from asearcher.inference.hf_sampling import (
    SamplingParams,
    StopMatcher,
    behaviour_logprobs,
    draw,
    sample,
    truncate,
)


def test_behaviour_logprobs_hand_computed():
    logits = torch.tensor([[0.0, math.log(2.0)], [0.0, math.log(2.0)], [0.0, math.log(2.0)]])
    lp = behaviour_logprobs(logits, [1.0, 0.0, 0.5]).exp()
    assert torch.allclose(lp[0], torch.tensor([1 / 3, 2 / 3]))
    assert torch.allclose(lp[1], torch.tensor([1 / 3, 2 / 3]))  # greedy rows report the T=1 distribution
    assert torch.allclose(lp[2], torch.tensor([1 / 5, 4 / 5]))  # logits / 0.5 -> weights 1 : 4


def test_truncate_top_k_and_top_p():
    lp = torch.log(torch.tensor([0.5, 0.3, 0.2]))
    assert torch.allclose(truncate(lp, 1, 1.0).exp(), torch.tensor([1.0, 0.0, 0.0]))
    # mass before each token: 0, .5, .8 -> with top_p .6 the third is dropped, the rest renormalised
    assert torch.allclose(truncate(lp, -1, 0.6).exp(), torch.tensor([0.625, 0.375, 0.0]))
    assert torch.allclose(truncate(lp, -1, 0.45).exp(), torch.tensor([1.0, 0.0, 0.0]))
    assert torch.allclose(truncate(lp, 2, 0.99).exp(), torch.tensor([0.625, 0.375, 0.0]))
    assert torch.equal(truncate(lp, -1, 1.0), lp)


def test_sample_greedy_seeded_and_truncated():
    logits = torch.tensor([[0.1, 2.0, 0.3, 1.9], [0.0, 0.0, 0.0, 0.0]])
    toks, lps = sample(logits, [SamplingParams(0.0), SamplingParams(0.0)])
    assert toks[0] == 1 and lps[0] == pytest.approx(float(torch.log_softmax(logits[0], 0)[1]))
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    a = [sample(logits, [SamplingParams(1.0, generator=g1)] * 2)[0] for _ in range(20)]
    b = [sample(logits, [SamplingParams(1.0, generator=g2)] * 2)[0] for _ in range(20)]
    assert a == b and len({t[1] for t in a}) > 1  # reproducible, and really random on a flat row
    toks, lps = sample(logits, [SamplingParams(5.0, top_k=1)] * 2)
    assert toks[0] == 1
    assert lps[0] == pytest.approx(float(torch.log_softmax(logits[0] / 5.0, 0)[1]))  # full distribution


def test_stop_matcher_on_decoded_tail(tiny_tokenizer):
    tok = tiny_tokenizer
    ids = tok.encode("I will look <search>capital of France</search> now", add_special_tokens=False)
    m = StopMatcher(tok, ["</search>", "never there"])
    first = next(i for i in range(1, len(ids) + 1) if m.hit(ids[:i]))
    assert "</search>" in tok.decode(ids[:first]) and "</search>" not in tok.decode(ids[: first - 1])
    assert not StopMatcher(tok, []).hit(ids)
    long_prefix = tok.encode("word " * 300, add_special_tokens=False)
    assert not m.hit(long_prefix) and m.hit(long_prefix + ids[:first])  # only the tail is decoded


def test_kv_slots_grow_move_and_roundtrip():
    slots = KVSlots(n_layers=2, n_kv_heads=1, head_dim=3, dtype=torch.float32, device=torch.device("cpu"),
                    max_rows=4, max_cols=1000)
    slots.ensure(1, 5)
    assert slots.rows == 1 and slots.cols == 256
    kv = torch.arange(2 * 2 * 1 * 5 * 3, dtype=torch.float32).reshape(2, 2, 1, 5, 3)
    slots.load_row(0, kv)
    slots.ensure(3, 300)
    assert slots.rows == 3 and slots.cols == 512
    assert torch.equal(slots.read_row(0, 5), kv)  # growing keeps content
    slots.move_row(0, 2, 5)
    assert torch.equal(slots.read_row(2, 5), kv)
    with pytest.raises(ValueError):
        slots.ensure(5, 10)
    slots.free()
    assert slots.rows == 0


def test_masks():
    m = decode_mask(torch.tensor([0, 2]), 3, None)
    assert m.shape == (2, 1, 1, 3)
    assert m[:, 0, 0].tolist() == [[True, False, False], [True, True, True]]
    p = prefill_mask(2, 2, None, torch.device("cpu"))
    assert p[0, 0].tolist() == [[True, True, True, False], [True, True, True, True]]
    f = prefill_mask(0, 2, torch.float32, torch.device("cpu"))[0, 0]
    assert f[0, 0] == 0 and f[0, 1] == torch.finfo(torch.float32).min


def test_session_cache_lru_bounds():
    kv = torch.zeros(10)  # 40 bytes
    cache = SessionCache(max_sessions=2, max_bytes=100)
    cache.put("a", [1], kv)
    cache.put("b", [2], kv)
    assert cache.take("a") == ([1], kv) and cache.take("a") is None
    cache.put("a", [1], kv)
    cache.put("c", [3], kv)  # count bound: evicts b (least recently used)
    assert cache.take("b") is None and len(cache) == 2 and cache.nbytes == 80
    cache.put("d", [4], torch.zeros(16))  # 64 more bytes: evict a (count), then c (bytes)
    assert len(cache) == 1 and cache.nbytes == 64 and cache.evictions == 3
    cache.put("huge", [5], torch.zeros(100))  # larger than the whole budget: not stored
    assert cache.take("huge") is None
    cache.drop("d")
    assert len(cache) == 0 and cache.nbytes == 0


def test_common_prefix():
    assert common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2
    assert common_prefix([], [1]) == 0
    assert common_prefix([1, 2], [1, 2, 3]) == 2


def test_draw_follows_the_distribution_and_skips_masked_tokens():
    lp = torch.log(torch.tensor([0.1, 0.0, 0.2, 0.7]))
    gen = torch.Generator().manual_seed(0)
    counts = torch.bincount(torch.tensor([draw(lp, gen) for _ in range(4000)]), minlength=4)
    assert counts[1] == 0
    assert torch.allclose(counts.float() / 4000, torch.tensor([0.1, 0.0, 0.2, 0.7]), atol=0.03)
