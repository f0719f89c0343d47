"""Single-process train engine (CPU or one GPU): packed token-budget micro-batches, chunked logprobs,
optional gradient checkpointing, AdamW + LR schedule + grad clipping, fp32 master weights with optional
bf16 autocast.

Implements ``trainer.engine.TrainEngine`` for ``trainer.loop`` and ``trainer.sft``; the losses come from
``trainer.loss``. Talks to a Hugging Face causal LM only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch
from torch.utils.checkpoint import checkpoint

from asearcher.config import TrainerConfig
from asearcher.precision import resolve_bf16
from asearcher.trainer.engine import Batch
from asearcher.trainer.loss import approx_prox_logp, decoupled_ppo_loss, sft_loss

log = logging.getLogger(__name__)


def pack_rows(lengths: list[int], max_tokens: int) -> list[list[int]]:
    """Group row indices into micro-batches of at most ``max_tokens`` tokens (first-fit decreasing).
    A row longer than the budget gets a micro-batch of its own."""
    bins: list[list[int]] = []
    loads: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda k: -lengths[k]):
        for b, load in enumerate(loads):
            if load + lengths[i] <= max_tokens:
                bins[b].append(i)
                loads[b] += lengths[i]
                break
        else:
            bins.append([i])
            loads.append(lengths[i])
    return bins


def lr_lambda(schedule: str, warmup: int, total: int, time_frac: Callable[[], float] | None = None):
    """Multiplier of the base LR at step s: linear warmup, then constant / cosine / linear decay to 0.
    With ``time_frac`` (the share of a time budget used so far, read when the scheduler steps), the decay
    follows whichever runs out first, steps or time — so a run that a time cap stops early still ends its
    schedule near 0 instead of being cut off at a high learning rate."""
    def fn(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if schedule == "constant" or total <= warmup:
            return 1.0
        frac = min(1.0, (step - warmup) / max(1, total - warmup))
        if time_frac is not None:
            frac = min(1.0, max(frac, time_frac()))
        return 0.5 * (1 + math.cos(math.pi * frac)) if schedule == "cosine" else 1.0 - frac
    return fn


def freeze_bottom(model: Any, n_layers: int) -> None:
    """Stop training the input embeddings and the first ``n_layers`` decoder layers of a HF causal LM."""
    base = getattr(model, model.base_model_prefix)
    layers = getattr(base, "layers", None)
    if layers is None or n_layers > len(layers):
        raise ValueError(f"trainer.freeze_layers={n_layers}: the model has "
                         f"{len(layers) if layers is not None else 'no'} decoder layers")
    for module in [base.get_input_embeddings(), *list(layers)[:n_layers]]:
        for p in module.parameters():
            p.requires_grad_(False)


class LocalTrainEngine:
    """``TrainEngine`` over one in-process model (fp32 weights; the model object is trained in place).

    Args:
        model: a Hugging Face causal LM (converted to float32 if needed).
        cfg: trainer section (micro-batch budget, autocast, checkpointing, loss and optimizer settings).
        lr: overrides ``cfg.lr`` (the SFT warm start uses its own).
        total_steps: length of the LR schedule (default ``cfg.steps``).
        lr_schedule: overrides ``cfg.lr_schedule`` (the SFT warm start uses its own).
        time_frac: share of a time budget used so far; the schedule decays by steps or time, whichever
            is further along (see ``lr_lambda``).
    """

    def __init__(self, model: Any, cfg: TrainerConfig, lr: float | None = None, total_steps: int | None = None,
                 lr_schedule: str | None = None, time_frac: Callable[[], float] | None = None):
        if next(model.parameters()).dtype != torch.float32:
            log.warning("trainer: upcasting the model to float32 (low-precision master weights lose updates)")
            model = model.float()
        self.model = model
        self.cfg = cfg
        self.version = 0
        self.device = next(model.parameters()).device
        self.bf16 = resolve_bf16(cfg.autocast_bf16, self.device, "trainer bf16 autocast")
        if cfg.gradient_checkpointing:
            kwargs = {"use_reentrant": False}
            if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.2x
                model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
            else:
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
        if cfg.freeze_layers:
            freeze_bottom(model, cfg.freeze_layers)
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=lr or cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps,
                                           weight_decay=cfg.weight_decay)
        total = cfg.steps if total_steps is None else total_steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_lambda(lr_schedule or cfg.lr_schedule, cfg.warmup_steps, total, time_frac))

    # ---- forward -------------------------------------------------------------------------------------
    def _autocast(self):
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def _packs(self) -> bool:
        """Pack a micro-batch's rows into one sequence? Only where attention has a variable-length kernel
        (flash-attention 2); with sdpa the block-diagonal mask forces a slow masked path (measured ~1.5–2×
        slower on CPU), so rows then run one by one with the causal kernel."""
        if self.cfg.pack_rows != "auto":
            return self.cfg.pack_rows == "always"
        return getattr(self.model.config, "_attn_implementation", "") == "flash_attention_2"

    def _microbatches(self, batch: Batch) -> list[list[int]]:
        """Packed: rows grouped up to ``max_tokens_per_mb`` tokens. Unpacked: one row per micro-batch (each
        row's backward then runs before the next forward, so activation memory is one row's)."""
        if self._packs():
            return pack_rows([len(x) for x in batch.ids], self.cfg.max_tokens_per_mb)
        return [[i] for i in sorted(range(len(batch)), key=lambda i: -len(batch.ids[i]))]

    def _forward_logprobs(self, ids: list[torch.Tensor], grad: bool,
                          masks: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
        """Token-aligned logprobs of a micro-batch's rows (packed into one sequence whose position ids restart
        per row, or row by row; see ``_packs``). With ``masks`` (the rows' loss masks) the output head runs
        only at the positions that predict a mask-1 token — the others get 0: prompt and tool tokens are most
        of an agent trajectory, and a 49k-vocabulary head with its fp32 log-softmax is a fifth of a small
        model's compute."""
        if len(ids) > 1 and not self._packs():
            ms = masks if masks is not None else [None] * len(ids)
            return [lp for x, m in zip(ids, ms, strict=True)
                    for lp in self._forward_logprobs([x], grad, None if m is None else [m])]
        lengths = [len(x) for x in ids]
        flat = torch.cat(ids).to(self.device).unsqueeze(0)
        pos = torch.cat([torch.arange(n) for n in lengths]).to(self.device).unsqueeze(0)
        base = getattr(self.model, self.model.base_model_prefix)
        head = self.model.get_output_embeddings()
        with self._autocast():
            hidden = base(input_ids=flat, position_ids=pos, use_cache=False).last_hidden_state[0]
        total = flat.shape[1]
        if masks is None:
            # position t scores token t+1 (the last position of each row scores nothing useful: dropped below)
            at = torch.arange(total, device=self.device)
        else:
            # token t (mask 1, t ≥ 1 within its row) is scored at position t − 1 of the same row
            want = torch.cat([torch.cat([m[1:].bool(), m.new_zeros(1, dtype=torch.bool)]) for m in masks])
            at = want.nonzero().squeeze(-1).to(self.device)
        labels = flat[0][(at + 1).clamp(max=total - 1)]
        temp = self.cfg.temperature or 1.0

        def chunk_lp(h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            with self._autocast():
                logits = head(h)
            return torch.log_softmax(logits.float() / temp, dim=-1).gather(-1, y.unsqueeze(-1)).squeeze(-1)

        # logits are computed ``logprob_chunk`` positions at a time and, for longer sequences, recomputed in
        # backward, so full-vocabulary fp32 logits never exist for the whole sequence
        parts = []
        step = self.cfg.logprob_chunk
        for s in range(0, len(at), step):
            h, y = hidden[at[s:s + step]], labels[s:s + step]
            recompute = grad and len(at) > step  # one chunk only: keeping its logits is cheap enough
            parts.append(checkpoint(chunk_lp, h, y, use_reentrant=False) if recompute else chunk_lp(h, y))
        scored = torch.cat(parts) if parts else hidden[:0, 0].float()  # no loss token: empty, still in the graph
        # token-aligned: token t's logprob came from position t − 1; a row's first token has no context → 0
        keep = (at + 1) < total
        aligned = scored.new_zeros(total).index_copy(0, (at + 1)[keep], scored[keep])
        out, start = [], 0
        for n in lengths:
            row = aligned[start:start + n].clone()
            row[0] = 0.0  # (position start−1 belongs to the previous row)
            out.append(row)
            start += n
        return out

    def compute_logprobs(self, batch: Batch) -> list[torch.Tensor]:
        """π_prox: token-aligned logprobs under the current weights, no grad, eval mode, micro-batched."""
        self.model.eval()
        out: list[torch.Tensor | None] = [None] * len(batch)
        with torch.no_grad():
            for mb in self._microbatches(batch):
                for i, lp in zip(mb, self._forward_logprobs([batch.ids[i] for i in mb], grad=False), strict=True):
                    out[i] = lp.float().cpu()
        return out  # type: ignore[return-value]

    # ---- update --------------------------------------------------------------------------------------
    def _mb_loss(self, batch: Batch, idx: list[int], lps: list[torch.Tensor], loss: str, n_tokens: int,
                 fused_prox: bool = True):
        cat = lambda xs: torch.cat([xs[i] for i in idx]).to(self.device)  # noqa: E731
        lp, mask = torch.cat(lps), cat(batch.loss_mask)
        if loss == "sft":
            return sft_loss(lp, mask, n_tokens=n_tokens)
        old, adv = cat(batch.old_logprobs), cat(batch.advantages)
        if not self.cfg.decoupled:
            prox = old
        elif self.cfg.prox_logp == "loglinear":
            prox = approx_prox_logp(old, lp, cat(batch.versions), v_theta=self.version)
        elif self.cfg.prox_logp == "train_forward" and fused_prox:
            # the step's first update: the weights of this forward ARE π_prox's weights (before any update)
            prox = lp.detach()
        else:
            if batch.prox_logprobs is None:
                raise ValueError("train_step(loss='ppo') needs batch.prox_logprobs: call compute_logprobs first "
                                 "(or set trainer.prox_logp=loglinear)")
            prox = cat(batch.prox_logprobs)
        loss_, stats = decoupled_ppo_loss(lp, prox, old, adv, mask, eps_clip=self.cfg.eps_clip,
                                          behav_cap=self.cfg.behav_imp_weight_cap, c_clip=self.cfg.c_clip,
                                          n_tokens=n_tokens)
        if self.cfg.decoupled and self.cfg.prox_logp == "metrics":
            approx = approx_prox_logp(old, lp, cat(batch.versions), v_theta=self.version)
            stats["prox_err_sum"] = float((approx - prox).abs()[mask.bool()].sum())
        return loss_, stats

    def train_step(self, batch: Batch, loss: Literal["ppo", "sft"] = "ppo") -> dict[str, float]:
        """One training step: one optimizer update (``ppo`` with ``ppo_n_minibatches`` > 1: one per minibatch,
        all against the same π_prox), then the LR schedule and the version advance once. Each update's
        micro-batch losses are divided by its rows' total mask-token count, so their gradients sum to the
        gradient of one token-mean over those rows."""
        return self._train_step(batch, loss)

    def _train_step(self, batch: Batch, loss: str) -> dict[str, float]:
        t0 = time.perf_counter()
        parts = self._ppo_minibatches(batch) if loss == "ppo" else [batch]
        lr = self.scheduler.get_last_lr()[0]
        sums: dict[str, float] = {}
        norms, total_loss, n_mbs = [], 0.0, 0
        for k, part in enumerate(parts):
            loss_k, norm, st, mbs = self._update(part, loss, fused_prox=k == 0)
            total_loss += loss_k / len(parts)
            norms.append(norm)
            n_mbs += mbs
            for key, v in st.items():
                sums[key] = sums.get(key, 0.0) + v
        self.scheduler.step()
        self.version += 1
        self.model.eval()
        dt = time.perf_counter() - t0
        stats = {"loss": total_loss, "grad_norm": sum(norms) / len(norms), "lr": lr, "n_mbs": float(n_mbs),
                 "loss_tokens": float(sums.get("n", 0.0)), "tokens": float(batch.n_tokens),
                 "tokens_per_s": batch.n_tokens / dt if dt > 0 else 0.0}
        n = max(1.0, sums.get("n", 0.0))
        if loss == "ppo":
            kept = max(1.0, sums["kept"])
            stats.update(clip_frac=sums["clipped"] / n, kept_frac=sums["kept"] / n,
                         behav_weight_mean=sums["w_sum"] / kept, behav_kl=sums["behav_kl_sum"] / kept,
                         ratio_mean=sums["ratio_sum"] / n, n_updates=float(len(parts)))
            if "prox_err_sum" in sums:
                stats["prox_approx_abs_err"] = sums["prox_err_sum"] / n
        else:
            stats["nll"] = sums.get("nll_sum", 0.0) / n
        return stats

    def _ppo_minibatches(self, batch: Batch) -> list[Batch]:
        """The step's PPO minibatches. With ``prox_logp: train_forward`` and more than one, π_prox of the rows
        after the first minibatch is computed now, before any update changes the weights."""
        split = batch.minibatches(self.cfg.ppo_n_minibatches)
        if len(split) > 1 and self.cfg.decoupled and self.cfg.prox_logp == "train_forward" \
                and batch.prox_logprobs is None:
            rest = [i for part in split[1:] for i in part]
            prox: list[torch.Tensor | None] = [None] * len(batch)
            for i, lp in zip(rest, self._logprobs_now(batch.subset(rest)), strict=True):
                prox[i] = lp
            batch = Batch(batch.ids, batch.loss_mask, batch.old_logprobs, batch.versions, batch.advantages,
                          prox)  # type: ignore[arg-type]
        return [batch.subset(part) for part in split]

    def _logprobs_now(self, batch: Batch) -> list[torch.Tensor]:
        """``compute_logprobs`` from inside a training step (FSDP: without re-broadcasting the call)."""
        return self.compute_logprobs(batch)

    def _update(self, batch: Batch, loss: str, fused_prox: bool) -> tuple[float, float, dict[str, float], int]:
        """Gradients of ``batch`` (micro-batched) and one optimizer update → (loss, grad norm, loss-stat sums,
        micro-batch count). ``fused_prox``: this is the step's first update, so a ``train_forward`` π_prox
        may come from its own forward."""
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        n_tokens = max(1, batch.n_loss_tokens)
        mbs = self._microbatches(batch)
        total_loss, sums = 0.0, {}
        for mb in mbs:
            lps = self._forward_logprobs([batch.ids[i] for i in mb], grad=True,
                                         masks=[batch.loss_mask[i] for i in mb])
            mb_loss, st = self._mb_loss(batch, mb, lps, loss, n_tokens, fused_prox)
            mb_loss.backward()
            total_loss += float(mb_loss.detach())
            for k, v in st.items():
                sums[k] = sums.get(k, 0.0) + v
        params = [p for p in self.model.parameters() if p.requires_grad]
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip))
        self.optimizer.step()
        return total_loss, grad_norm, sums, len(mbs)

    # ---- weights & checkpoints -----------------------------------------------------------------------
    def state_dict_for_sync(self) -> dict[str, torch.Tensor]:
        return {k: v.detach() for k, v in self.model.state_dict().items()}

    def save_checkpoint(self, path: str | Path, weights_only: bool = False) -> None:
        """Hugging Face model dir (``save_pretrained``) + ``optimizer.pt`` + ``trainer_state.json``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(path)
        if weights_only:
            return
        torch.save({"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()},
                   path / "optimizer.pt")
        (path / "trainer_state.json").write_text(json.dumps({"version": self.version}))

    def load_checkpoint(self, path: str | Path) -> None:
        from safetensors.torch import load_file

        path = Path(path)
        files = sorted(path.glob("*.safetensors"))
        if not files:
            raise FileNotFoundError(f"{path}: no *.safetensors weights (is this a checkpoint directory?)")
        state: dict[str, torch.Tensor] = {}
        for f in files:
            state.update(load_file(str(f)))
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not self._is_tied(k)]
        if missing or unexpected:
            raise ValueError(f"{path}: checkpoint does not match the model (missing {missing[:5]}, "
                             f"unexpected {unexpected[:5]})")
        opt = torch.load(path / "optimizer.pt", weights_only=False)
        self.optimizer.load_state_dict(opt["optimizer"])
        self.scheduler.load_state_dict(opt["scheduler"])
        self.version = json.loads((path / "trainer_state.json").read_text())["version"]

    def _is_tied(self, key: str) -> bool:
        return bool(getattr(self.model.config, "tie_word_embeddings", False)) and key.endswith("lm_head.weight")
