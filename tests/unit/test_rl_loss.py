"""Decoupled PPO loss (notes §2 worked example to 1e-6), SFT loss, A-3PO α (notes §8)."""

from __future__ import annotations

import math

import pytest
import torch

from asearcher.trainer.loss import a3po_alpha, approx_prox_logp, decoupled_ppo_loss, sft_loss


def _example(extra=False):
    lp = [-1.0, -0.5, -1.0] + ([-3.0] if extra else [])
    prox = [-1.2, -0.4, -1.5] + ([-0.1] if extra else [])
    old = [-1.3, -2.4, -1.6] + ([-9.0] if extra else [])
    adv = [1.0, -2.0, 0.5] + ([7.0] if extra else [])
    mask = [1, 1, 1] + ([0] if extra else [])
    t = lambda x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
    return t(lp).requires_grad_(), t(prox), t(old), t(adv), torch.tensor(mask, dtype=torch.bool)


def test_worked_example_loss_and_grad():
    lp, prox, old, adv, mask = _example()
    loss, stats = decoupled_ppo_loss(lp, prox, old, adv, mask, eps_clip=0.4, behav_cap=5.0)
    assert loss.item() == pytest.approx(-0.707826, abs=1e-6)
    loss.backward()
    assert lp.grad.tolist() == pytest.approx([-0.449953, 0.0, 0.0], abs=1e-6)
    assert stats["n"] == 3 and stats["kept"] == 2 and stats["clipped"] == 1


def test_mask0_position_changes_nothing():
    lp, prox, old, adv, mask = _example(extra=True)
    loss, stats = decoupled_ppo_loss(lp, prox, old, adv, mask, eps_clip=0.4, behav_cap=5.0)
    assert loss.item() == pytest.approx(-0.707826, abs=1e-6)
    loss.backward()
    assert lp.grad.tolist() == pytest.approx([-0.449953, 0.0, 0.0, 0.0], abs=1e-6)
    assert stats["n"] == 3


def test_no_cap_and_global_denominator():
    lp, prox, old, adv, mask = _example()
    loss, _ = decoupled_ppo_loss(lp, prox, old, adv, mask, eps_clip=0.4, behav_cap=None)
    assert loss.item() == pytest.approx(3.749437, abs=1e-6)
    # splitting the batch with the global denominator sums back to the same token-mean
    parts = [decoupled_ppo_loss(lp[i:i + 1], prox[i:i + 1], old[i:i + 1], adv[i:i + 1], mask[i:i + 1],
                                eps_clip=0.4, behav_cap=5.0, n_tokens=3)[0] for i in range(3)]
    assert sum(p.item() for p in parts) == pytest.approx(-0.707826, abs=1e-6)


def test_dual_clip_bounds_negative_advantage_loss():
    lp = torch.tensor([2.0], dtype=torch.float64, requires_grad=True)  # ratio e^2 ≈ 7.39
    z = torch.zeros(1, dtype=torch.float64)
    adv = torch.tensor([-1.0], dtype=torch.float64)
    loss, _ = decoupled_ppo_loss(lp, z, z, adv, torch.ones(1, dtype=torch.bool), c_clip=3.0)
    assert loss.item() == pytest.approx(3.0)


def test_sft_loss_is_token_mean_of_nll():
    lp = torch.tensor([-1.0, -2.0, -4.0])
    loss, st = sft_loss(lp, torch.tensor([1, 0, 1]))
    assert loss.item() == pytest.approx(2.5) and st["n"] == 2


def test_a3po_alpha_table():
    v_b = torch.tensor([4, 3, 2, -1, 5, 7])
    assert a3po_alpha(5, v_b).tolist() == pytest.approx([0.0, 0.5, 2 / 3, 0.0, 0.0, 0.0])
    old = torch.full((4,), -2.0, dtype=torch.float64)
    lp = torch.full((4,), -1.0, dtype=torch.float64)
    out = approx_prox_logp(old, lp, torch.tensor([4, 3, 2, -1]), v_theta=5)
    assert out.tolist() == pytest.approx([-2.0, -1.5, -1.3333333, -2.0], abs=1e-6)
    lin = approx_prox_logp(old[:1], lp[:1], torch.tensor([3]), v_theta=5, mode="linear")
    assert lin.item() == pytest.approx(math.log(0.5 * math.exp(-2.0) + 0.5 * math.exp(-1.0)))
