"""Policy losses (pure torch functions): the decoupled PPO loss with the behaviour-weight cap (AReaL,
arXiv 2505.24298 Eq. 5; algorithm notes §2), the SFT loss, and A-3PO's approximate π_prox (§8).

Inputs are per-position tensors that are already shifted: position t holds the logprob of token t+1.
Used by ``trainer.local``; no model code here.
"""

from __future__ import annotations

from typing import Literal

import torch


def decoupled_ppo_loss(lp: torch.Tensor, prox: torch.Tensor, old: torch.Tensor, adv: torch.Tensor,
                       mask: torch.Tensor, eps_clip: float = 0.4, behav_cap: float | None = 5.0,
                       c_clip: float | None = None, n_tokens: float | None = None,
                       ) -> tuple[torch.Tensor, dict[str, float]]:
    """Decoupled PPO loss, ``J = E[w_t · min(u_t A_t, clip(u_t, 1±ε) A_t)]`` with ``u = π_θ/π_prox`` and the
    behaviour weight ``w = π_prox/π_behav`` (ASearcher's AReaL ``ppo_actor_loss_fn``)::

        N     = count_nonzero(mask) or 1             # counted BEFORE the cap
        ratio = where(mask, exp(lp − prox), 0)
        pg    = max(−A·ratio, −A·clamp(ratio, 1−ε, 1+ε));  pg = min(pg, c_clip·|A|) if c_clip
        w     = exp(prox − old);  keep = mask & (w <= cap)
        loss  = Σ where(mask, pg · where(keep, w, 0), 0) / N

    Tokens dropped by the cap contribute 0 but still count in N; ``prox``/``old`` carry no gradient.
    Worked example (ε 0.4, cap 5): loss −0.707826, dloss/dlp = [−0.449953, 0, 0]; no cap: 3.749437.

    Args:
        lp: π_θ logprobs (with grad). prox: π_prox logprobs. old: behaviour (engine) logprobs.
        adv: advantages. mask: bool/0-1 loss mask. All the same shape.
        eps_clip: ε. behav_cap: cap on w (None = no cap). c_clip: dual clip (> 1) or None.
        n_tokens: the denominator; pass the mask-token count of the *global* batch when the batch is split
            into micro-batches, so that the micro-batch losses sum to one token-mean. Default: local count.

    Returns:
        ``(loss, stats)``; stats are sums over mask tokens (``n``, ``clipped``, ``kept``, ``w_sum``,
        ``behav_kl_sum``, ``ratio_sum``) so callers can reduce them across micro-batches and ranks.
    """
    mask = mask.bool()
    prox, old, adv = prox.detach(), old.detach(), adv.detach()
    n_local = int(mask.sum())
    denom = float(n_tokens) if n_tokens is not None else float(n_local or 1)
    ratio = torch.where(mask, torch.exp(lp - prox), torch.zeros_like(lp))
    clipped_ratio = torch.clamp(ratio, 1.0 - eps_clip, 1.0 + eps_clip)
    pg1, pg2 = -adv * ratio, -adv * clipped_ratio
    pg = torch.maximum(pg1, pg2)
    if c_clip is not None:
        if c_clip <= 1:
            raise ValueError(f"c_clip must be > 1, got {c_clip}")
        pg = torch.minimum(pg, c_clip * adv.abs())
    w = torch.exp(prox - old)
    keep = mask & (w <= behav_cap) if behav_cap is not None else mask
    contrib = torch.where(mask, pg * torch.where(keep, w, torch.zeros_like(w)), torch.zeros_like(pg))
    loss = contrib.sum() / denom
    with torch.no_grad():
        stats = {
            "n": float(n_local),
            "clipped": float((mask & (pg1 < pg2)).sum()),
            "kept": float(keep.sum()),
            "w_sum": float(torch.where(keep, w, torch.zeros_like(w)).sum()),
            "behav_kl_sum": float(torch.where(keep, prox - old, torch.zeros_like(w)).sum()),
            "ratio_sum": float(ratio.detach().sum()),
        }
    return loss, stats


def sft_loss(lp: torch.Tensor, mask: torch.Tensor, n_tokens: float | None = None) -> tuple[torch.Tensor, dict]:
    """Negative log-likelihood of the mask-1 (assistant) tokens, as a token-mean over ``n_tokens``
    (default: this call's mask count)."""
    mask = mask.bool()
    n_local = int(mask.sum())
    denom = float(n_tokens) if n_tokens is not None else float(n_local or 1)
    nll = -torch.where(mask, lp, torch.zeros_like(lp)).sum()
    return nll / denom, {"n": float(n_local), "nll_sum": float(nll.detach())}


def a3po_alpha(v_theta: int, v_b: torch.Tensor) -> torch.Tensor:
    """A-3PO interpolation weight (arXiv 2512.06547): ``α = clamp((v_prox − v_b)/(v_θ − v_b), 0, 1)`` with
    ``v_prox = v_θ − 1``; α = 0 where ``v_b < 0`` (prompt/tool tokens) or ``v_θ − v_b <= 0``.

    Example, v_θ = 5: v_b = 4 → 0; 3 → 0.5; 2 → 2/3; −1 → 0."""
    v_b = v_b.to(torch.float64)
    gap = v_theta - v_b
    safe = torch.where(gap > 0, gap, torch.ones_like(gap))
    alpha = torch.clamp((v_theta - 1 - v_b) / safe, 0.0, 1.0)
    return torch.where((v_b < 0) | (gap <= 0), torch.zeros_like(alpha), alpha)


def approx_prox_logp(old: torch.Tensor, lp: torch.Tensor, versions: torch.Tensor, v_theta: int,
                     mode: Literal["loglinear", "linear"] = "loglinear") -> torch.Tensor:
    """A-3PO's π_prox without a recompute: ``old + α·(lp − old)`` in log space (``loglinear``), or the same
    mix of probabilities (``linear``). ``lp`` is detached. Example (v_θ 5, old −2, lp −1): v_b 3 → −1.5."""
    alpha = a3po_alpha(v_theta, versions).to(old.dtype)
    lp = lp.detach()
    if mode == "loglinear":
        return old + alpha * (lp - old)
    if mode == "linear":
        return torch.log((1 - alpha) * old.exp() + alpha * lp.exp())
    raise ValueError(f"unknown A-3PO mode {mode!r}; choose loglinear or linear")
