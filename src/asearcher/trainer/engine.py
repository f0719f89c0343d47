"""The train-engine seam: what the RL/SFT loops need from whatever holds the policy weights.

``trainer.local.LocalTrainEngine`` is the single-process implementation; an FSDP2 implementation (one
``Batch`` shard per rank, mask-token counts all-reduced for the loss denominator, full state dict gathered
on rank 0 for sync) plugs in behind the same five methods. ``Batch`` is the typed data crossing it.

Token alignment: every per-token tensor is aligned with ``ids`` — position t holds data about token t
(its engine logprob, its version, whether it was sampled). Position 0 is never trained. Implementations
shift internally (the model's logits at t − 1 score token t), equivalent to AReaL's rolled tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from asearcher.types import TrainSample


@dataclass
class Batch:
    """Rows of one training step (one row = one merged token sequence). All lists have one entry per row;
    each entry is a 1-D tensor of that row's length."""

    ids: list[torch.Tensor]
    """int64 token ids."""
    loss_mask: list[torch.Tensor]
    """bool; True = sampled by the policy and trained on (never position 0)."""
    old_logprobs: list[torch.Tensor]
    """float32; the engine's (behaviour) logprob of each token, 0 where the mask is False."""
    versions: list[torch.Tensor]
    """int64; weight version that produced each token, −1 for prompt/tool tokens."""
    advantages: list[torch.Tensor]
    """float32; per-token advantage (0 where the mask is False). SFT batches use 1."""
    prox_logprobs: list[torch.Tensor] | None = None
    """float32; π_prox logprobs from ``compute_logprobs`` (filled by the loop before ``train_step``)."""

    @classmethod
    def from_samples(cls, samples: list[TrainSample], advantages: list[list[float]] | None = None) -> Batch:
        """Build from ``TrainSample`` rows; ``advantages`` defaults to 1 on every mask token (SFT)."""
        import torch

        if advantages is None:
            advantages = [[float(x) for x in s.loss_mask] for s in samples]
        masks = []
        for s in samples:
            m = torch.tensor(s.loss_mask, dtype=torch.bool)
            if len(m) and m[0]:
                raise ValueError(f"trajectory {s.trajectory_id}: the first token of a row cannot be trained on "
                                 "(no context predicts it); rows must start with prompt tokens")
            masks.append(m)
        return cls(
            ids=[torch.tensor(s.ids, dtype=torch.long) for s in samples],
            loss_mask=masks,
            old_logprobs=[torch.tensor(s.logprobs, dtype=torch.float32) for s in samples],
            versions=[torch.tensor(s.versions, dtype=torch.long) for s in samples],
            advantages=[torch.tensor(a, dtype=torch.float32) for a in advantages],
        )

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, idx: list[int]) -> Batch:
        """The rows ``idx`` (in that order) as a batch of their own, ``prox_logprobs`` included."""
        pick = lambda xs: [xs[i] for i in idx] if xs is not None else None  # noqa: E731
        return Batch(pick(self.ids), pick(self.loss_mask), pick(self.old_logprobs), pick(self.versions),
                     pick(self.advantages), pick(self.prox_logprobs))

    def minibatches(self, n: int) -> list[list[int]]:
        """Row indices of ``n`` PPO minibatches (fewer when there are fewer rows), balanced by loss tokens:
        rows with the most mask-1 tokens first, each onto the lightest minibatch. Deterministic, so every
        FSDP rank (each holding the whole batch) computes the same split."""
        if n < 1:
            raise ValueError(f"minibatches(n={n}): n must be ≥ 1")
        n = max(1, min(n, len(self)))
        loads, parts = [0] * n, [[] for _ in range(n)]
        for i in sorted(range(len(self)), key=lambda k: (-int(self.loss_mask[k].sum()), k)):
            j = loads.index(min(loads))
            parts[j].append(i)
            loads[j] += int(self.loss_mask[i].sum())
        return [sorted(p) for p in parts]

    @property
    def n_tokens(self) -> int:
        """Total tokens over all rows."""
        return sum(len(x) for x in self.ids)

    @property
    def n_loss_tokens(self) -> int:
        """Mask-1 tokens over all rows (the loss denominator)."""
        return int(sum(int(m.sum()) for m in self.loss_mask))


@runtime_checkable
class TrainEngine(Protocol):
    """Holds the trainable policy, its optimizer and LR schedule."""

    version: int
    """Weight version: the number of optimizer steps taken (bumped by ``train_step``)."""

    def compute_logprobs(self, batch: Batch) -> list[torch.Tensor]:
        """Per-row, token-aligned logprobs under the current weights (no grad, eval mode): π_prox."""
        ...

    def train_step(self, batch: Batch, loss: Literal["ppo", "sft"] = "ppo") -> dict[str, float]:
        """One training step over the whole batch (micro-batched) → stats (``loss``, ``grad_norm``, ``lr`` …):
        one optimizer update, or with ``ppo`` and ``trainer.ppo_n_minibatches`` > 1 one per minibatch, all
        against the same ``batch.prox_logprobs``; the version and the LR schedule advance once. ``ppo`` needs
        ``batch.prox_logprobs`` unless the engine approximates π_prox (A-3PO)."""
        ...

    def state_dict_for_sync(self) -> dict[str, torch.Tensor]:
        """Full (unsharded) weights for the inference engine; tensors may alias the live parameters."""
        ...

    def save_checkpoint(self, path: str | Path, weights_only: bool = False) -> None:
        """Write weights as a loadable Hugging Face model dir (+ optimizer, scheduler and version unless
        ``weights_only``) into ``path``."""
        ...

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore what ``save_checkpoint`` wrote (weights, optimizer, scheduler, version)."""
        ...
