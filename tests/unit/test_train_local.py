"""LocalTrainEngine on the tiny Llama: packed micro-batches and chunked logprobs are exact, micro-batching
keeps one token-mean over the batch, SFT learns, checkpoints round-trip."""

from __future__ import annotations

import copy

import pytest
import torch

from asearcher.config import TrainerConfig
from asearcher.trainer.engine import Batch
from asearcher.trainer.local import LocalTrainEngine, lr_lambda, pack_rows
from asearcher.types import TrainSample


def _rows(n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for k in range(n):
        length = [40, 7, 23, 15][k % 4]
        ids = torch.randint(3, 1000, (length,), generator=g).tolist()
        mask = [0] * 3 + [1] * (length - 3)
        lps = [-(0.5 + 0.1 * (i % 5)) * m for i, m in enumerate(mask)]
        out.append(TrainSample(ids=ids, loss_mask=mask, logprobs=lps, versions=[-1] * 3 + [0] * (length - 3),
                               reward=1.0, trajectory_id=f"t{k}", group_id="g"))
    return out


def _engine(model, **kw):
    cfg = TrainerConfig(autocast_bf16=False, **kw)
    return LocalTrainEngine(copy.deepcopy(model), cfg)


def _reference_logprobs(model, ids):
    with torch.no_grad():
        logits = model(input_ids=ids.unsqueeze(0)).logits[0].float()
    lp = torch.log_softmax(logits, -1)[:-1].gather(-1, ids[1:].unsqueeze(-1)).squeeze(-1)
    return torch.cat([torch.zeros(1), lp])


def test_pack_rows_budget():
    bins = pack_rows([50, 10, 30, 200, 20], 60)
    assert sorted(i for b in bins for i in b) == [0, 1, 2, 3, 4]
    assert [3] in bins  # oversize row alone
    assert all(sum([50, 10, 30, 200, 20][i] for i in b) <= 60 for b in bins if b != [3])


@pytest.mark.parametrize("pack", ["always", "never"])
def test_packed_chunked_logprobs_match_plain_forward(tiny_llama, pack):
    model, _ = tiny_llama
    batch = Batch.from_samples(_rows(4))
    eng = _engine(model, max_tokens_per_mb=80, logprob_chunk=16, pack_rows=pack)  # several rows per mb, small chunks
    got = eng.compute_logprobs(batch)
    for ids, lp in zip(batch.ids, got, strict=True):
        ref = _reference_logprobs(eng.model, ids)
        assert lp.shape == ids.shape and lp[0] == 0
        assert torch.allclose(lp, ref, atol=2e-5), (lp - ref).abs().max()


@pytest.mark.parametrize("pack", ["always", "never"])
def test_head_only_at_loss_positions_matches_full_forward(tiny_llama, pack):
    """With masks (what ``train_step`` passes) the head runs only where a mask-1 token is predicted: those
    logprobs equal the full forward's, every other token gets 0, and gradients still reach the model."""
    model, _ = tiny_llama
    rows = _rows(4)
    rows[1] = rows[1].model_copy(update={"loss_mask": [0, 1, 0, 1, 1, 0, 1]})  # gaps, as after a tool result
    batch = Batch.from_samples(rows)
    eng = _engine(model, max_tokens_per_mb=80, logprob_chunk=16, pack_rows=pack)
    full = eng.compute_logprobs(batch)
    got = eng._forward_logprobs(batch.ids, grad=True, masks=batch.loss_mask)
    for lp, ref, mask in zip(got, full, batch.loss_mask, strict=True):
        m = mask.bool()
        assert torch.allclose(lp.detach()[m], ref[m], atol=2e-5)
        assert (lp.detach()[~m] == 0).all()
    sum(lp.sum() for lp in got).backward()
    assert all(p.grad is not None for p in eng.model.parameters() if p.requires_grad)
    # a row without loss tokens (e.g. an empty completion) scores nothing and still backpropagates
    (none,) = eng._forward_logprobs([batch.ids[0]], grad=True, masks=[torch.zeros_like(batch.loss_mask[0])])
    assert (none == 0).all()
    none.sum().backward()


def _grads_after_step(model, mb_budget, rows, pack="always"):
    eng = _engine(model, max_tokens_per_mb=mb_budget, logprob_chunk=8, lr=1e-3, pack_rows=pack)
    batch = Batch.from_samples(rows, advantages=[[float(m) * (1 if i % 2 else -1) for m in r.loss_mask]
                                                 for i, r in enumerate(rows)])
    batch.prox_logprobs = eng.compute_logprobs(batch)
    stats = eng.train_step(batch)
    return {n: p.grad.clone() for n, p in eng.model.named_parameters()}, stats


def test_micro_batching_is_one_token_mean(tiny_llama):
    model, _ = tiny_llama
    rows = _rows(4)
    g_one, s_one = _grads_after_step(model, 4096, rows)
    g_many, s_many = _grads_after_step(model, 64, rows, pack="never")
    assert s_one["n_mbs"] == 1 and s_many["n_mbs"] >= 2
    assert s_one["loss"] == pytest.approx(s_many["loss"], abs=1e-5)
    for n, g in g_one.items():
        assert torch.allclose(g, g_many[n], atol=1e-6, rtol=1e-4), n
    assert s_one["ratio_mean"] == pytest.approx(1.0, abs=1e-5)  # prox = current weights


def test_sft_steps_reduce_nll_and_bump_version(tiny_llama):
    model, _ = tiny_llama
    eng = _engine(model, lr=3e-3, gradient_checkpointing=True)
    batch = Batch.from_samples(_rows(2))
    nll = [eng.train_step(batch, loss="sft")["nll"] for _ in range(4)]
    assert nll[-1] < nll[0] - 0.1
    assert eng.version == 4


def test_ppo_needs_prox_and_a3po_does_not(tiny_llama):
    model, _ = tiny_llama
    batch = Batch.from_samples(_rows(2))
    with pytest.raises(ValueError, match="prox_logprobs"):
        _engine(model).train_step(batch)
    stats = _engine(model, prox_logp="loglinear").train_step(batch)
    assert stats["grad_norm"] > 0


def test_checkpoint_roundtrip(tiny_llama, tmp_path):
    model, _ = tiny_llama
    eng = _engine(model, lr=1e-3)
    batch = Batch.from_samples(_rows(2))
    eng.train_step(batch, loss="sft")
    eng.save_checkpoint(tmp_path / "ck")
    other = _engine(model, lr=1e-3)
    other.load_checkpoint(tmp_path / "ck")
    assert other.version == 1
    for (n, a), b in zip(eng.model.state_dict().items(), other.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), n
    s1, s2 = eng.train_step(batch, loss="sft"), other.train_step(batch, loss="sft")
    assert s1["loss"] == pytest.approx(s2["loss"], abs=1e-6)  # optimizer state restored too


def test_first_token_cannot_be_trained():
    bad = TrainSample(ids=[1, 2], loss_mask=[1, 1], logprobs=[0, 0], versions=[0, 0], reward=0,
                      trajectory_id="t", group_id="g")
    with pytest.raises(ValueError, match="first token"):
        Batch.from_samples([bad])


def test_lr_schedules():
    assert [lr_lambda("constant", 2, 10)(s) for s in (0, 1, 5)] == [0.5, 1.0, 1.0]
    assert lr_lambda("linear", 0, 10)(5) == pytest.approx(0.5)
    assert lr_lambda("cosine", 0, 10)(10) == pytest.approx(0.0)


def test_lr_schedule_decays_by_time_when_a_time_cap_comes_first():
    used = [0.0]  # share of the time budget used
    fn = lr_lambda("linear", 0, 40, time_frac=lambda: used[0])
    assert fn(10) == pytest.approx(0.75)  # steps ahead of time: the step count decides
    used[0] = 0.5
    assert fn(10) == pytest.approx(0.5)  # time ahead of steps (a slow machine): time decides
    used[0] = 1.3
    assert fn(10) == 0.0  # past the budget: never negative
    assert lr_lambda("constant", 0, 40, time_frac=lambda: 0.9)(10) == 1.0
    cos = lr_lambda("cosine", 0, 40, time_frac=lambda: 0.5)
    assert cos(0) == pytest.approx(0.5)


def test_standard_ppo_mode_needs_no_prox(tiny_llama):
    model, _ = tiny_llama
    stats = _engine(model, decoupled=False).train_step(Batch.from_samples(_rows(2)))
    assert stats["behav_weight_mean"] == pytest.approx(1.0) and stats["grad_norm"] > 0


def test_a3po_metrics_mode_logs_the_approximation_error(tiny_llama):
    model, _ = tiny_llama
    eng = _engine(model, prox_logp="metrics")
    rows = _rows(2)
    batch = Batch.from_samples(rows)
    batch.prox_logprobs = eng.compute_logprobs(batch)
    stats = eng.train_step(batch)
    # v_θ = 0: α = 0 everywhere, so the approximation is the behaviour logprob; its error is |old − prox|
    expect = sum(float((o - p)[m].abs().sum()) for o, p, m in zip(batch.old_logprobs, batch.prox_logprobs,
                                                                   batch.loss_mask, strict=True))
    assert stats["prox_approx_abs_err"] == pytest.approx(expect / batch.n_loss_tokens, rel=1e-4)


def test_train_forward_prox_equals_recompute(tiny_llama):
    """π_prox taken from the training forward (one update per step) gives the same loss, stats and
    gradients as a separate recompute pass."""
    model, _ = tiny_llama
    rows = _rows(4)
    adv = [[float(m) * (1 if i % 2 else -1) for m in r.loss_mask] for i, r in enumerate(rows)]
    ref = _engine(model, max_tokens_per_mb=80, logprob_chunk=8, lr=1e-3)
    b1 = Batch.from_samples(rows, advantages=adv)
    b1.prox_logprobs = ref.compute_logprobs(b1)
    s1 = ref.train_step(b1)
    fused = _engine(model, max_tokens_per_mb=80, logprob_chunk=8, lr=1e-3, prox_logp="train_forward")
    s2 = fused.train_step(Batch.from_samples(rows, advantages=adv))
    assert s1["loss"] == pytest.approx(s2["loss"], rel=1e-5, abs=1e-7)
    assert s1["kept_frac"] == s2["kept_frac"] and s2["ratio_mean"] == pytest.approx(1.0)
    for (n, p), (_, q) in zip(ref.model.named_parameters(), fused.model.named_parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6), n


def test_freeze_layers_trains_only_the_top(fresh_tiny_llama):
    model, _ = fresh_tiny_llama
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    eng = LocalTrainEngine(model, TrainerConfig(autocast_bf16=False, freeze_layers=1, lr=1e-2))
    eng.train_step(Batch.from_samples(_rows(2)), loss="sft")
    changed = {n for n, p in eng.model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all(".layers.1." in n or n.startswith("model.norm") for n in changed), changed
    assert not any("embed_tokens" in n or ".layers.0." in n for n in changed)
    with pytest.raises(ValueError, match="decoder layers"):
        LocalTrainEngine(model, TrainerConfig(freeze_layers=5))


def _ppo_batch(rows, adv_sign=(1, -1, 1, -1)):
    adv = [[float(m) * adv_sign[i % len(adv_sign)] for m in r.loss_mask] for i, r in enumerate(rows)]
    return Batch.from_samples(rows, advantages=adv)


def test_minibatches_balance_loss_tokens_and_cover_every_row():
    batch = _ppo_batch(_rows(7))
    split = batch.minibatches(3)
    assert sorted(i for part in split for i in part) == list(range(7)) and len(split) == 3
    loads = [sum(int(batch.loss_mask[i].sum()) for i in part) for part in split]
    assert max(loads) - min(loads) <= max(int(m.sum()) for m in batch.loss_mask)
    assert batch.minibatches(3) == split  # deterministic (every FSDP rank must agree)
    assert len(batch.minibatches(10)) == 7 and batch.minibatches(1) == [list(range(7))]
    sub = batch.subset(split[1])
    assert [x.tolist() for x in sub.ids] == [batch.ids[i].tolist() for i in split[1]]


def test_ppo_minibatches_are_successive_updates_against_one_prox(tiny_llama):
    """ppo_n_minibatches=2 = two one-update steps on the two halves, both with the π_prox of the weights
    before the step; the version and the LR schedule advance once."""
    model, _ = tiny_llama
    rows = _rows(4)
    kw = dict(max_tokens_per_mb=80, logprob_chunk=8, lr=1e-3)
    two = _engine(model, ppo_n_minibatches=2, **kw)
    batch = _ppo_batch(rows)
    batch.prox_logprobs = two.compute_logprobs(batch)
    split = batch.minibatches(2)
    stats = two.train_step(batch)
    assert two.version == 1 and stats["n_updates"] == 2
    assert all(st["step"] == 2 for st in two.optimizer.state.values())  # two AdamW updates
    assert two.scheduler.last_epoch == 1  # … one schedule step
    assert stats["ratio_mean"] != pytest.approx(1.0, abs=1e-6)  # the 2nd update saw moved weights

    one = _engine(model, **kw)
    ref = _ppo_batch(rows)
    ref.prox_logprobs = one.compute_logprobs(ref)
    for part in split:
        one.train_step(ref.subset(part))
    for (n, p), (_, q) in zip(one.model.named_parameters(), two.model.named_parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6), n


def test_ppo_minibatches_with_train_forward_prox_equal_recompute(tiny_llama):
    model, _ = tiny_llama
    rows = _rows(5)
    kw = dict(max_tokens_per_mb=80, logprob_chunk=8, lr=1e-3, ppo_n_minibatches=3)
    rec = _engine(model, **kw)
    b = _ppo_batch(rows)
    b.prox_logprobs = rec.compute_logprobs(b)
    s1 = rec.train_step(b)
    fused = _engine(model, prox_logp="train_forward", **kw)
    s2 = fused.train_step(_ppo_batch(rows))
    assert s1["loss"] == pytest.approx(s2["loss"], rel=1e-5, abs=1e-7) and s2["n_updates"] == 3
    for (n, p), (_, q) in zip(rec.model.named_parameters(), fused.model.named_parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6), n


def test_ppo_minibatches_refuse_the_loglinear_prox():
    with pytest.raises(ValueError, match="ppo_n_minibatches"):
        TrainerConfig(ppo_n_minibatches=2, prox_logp="loglinear")
    TrainerConfig(ppo_n_minibatches=2, prox_logp="loglinear", decoupled=False)  # no π_prox at all: fine
