"""Trainer section: decoupled PPO loss, optimiser, micro-batching, checkpointing."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from asearcher.config.base import Section


class TrainerConfig(Section):
    type: Literal["local", "fsdp"] = "local"
    """``local``: single-process trainer; ``fsdp``: PyTorch FSDP2 (torchrun)."""
    steps: int = Field(default=4, ge=0)
    """Training steps (weight versions) of async RL."""
    lr: float = Field(default=2e-5, gt=0)
    """AdamW learning rate of RL (ASearcher uses 5e-6 for 7B models). For the warm-started SmolLM2-135M, 5e-5
    lengthened episodes within 2–3 steps (going on after an answer; one H200 run collapsed from 76 % to 16 %
    on 1-hop questions) while 2e-5 kept tool calls flat (docs/LOG.md, 2026-11-26)."""
    weight_decay: float = Field(default=0.01, ge=0)
    """AdamW weight decay."""
    betas: tuple[float, float] = (0.9, 0.999)
    """AdamW betas."""
    eps: float = 1e-8
    """AdamW epsilon."""
    lr_schedule: Literal["constant", "cosine", "linear"] = "constant"
    """Learning-rate schedule after warmup (decays to 0 at ``steps``)."""
    warmup_steps: int = Field(default=0, ge=0)
    """Linear warmup steps."""
    grad_clip: float = Field(default=1.0, gt=0)
    """Gradient-norm clipping threshold."""
    eps_clip: float = Field(default=0.4, gt=0)
    """PPO ratio clip ε."""
    behav_imp_weight_cap: float | None = 5.0
    """Tokens whose behaviour weight π_prox/π_behav exceeds this are dropped (None = no cap)."""
    c_clip: float | None = None
    """Dual clip (> 1), unused by ASearcher."""
    decoupled: bool = True
    """Decoupled PPO (π_prox recomputed, behaviour weight π_prox/π_behav). False = standard PPO against the
    engine's logprobs (π_prox = π_behav, no recompute, no behaviour weight)."""
    prox_logp: Literal["recompute", "train_forward", "loglinear", "metrics"] = "recompute"
    """π_prox: ``recompute`` in a separate no-grad pass once per step (AReaL); ``train_forward``: take it from
    the training forward itself (detached) — exactly the same values, because each step makes ONE optimizer
    update on the whole batch with the weights π_prox is defined by, and it saves that extra pass (~25 % of
    trainer compute); the A-3PO log-linear approximation (no recompute); or ``metrics`` (recompute and train
    with it, and log the approximation's error ``train/prox_approx_abs_err``)."""
    ppo_n_minibatches: int = Field(default=1, ge=1)
    """Optimizer updates per RL step (AReaL's ``ppo_n_minibatches``; ASearcher uses 1): the step's rows are
    split into this many minibatches balanced by loss tokens, each one AdamW update against the same π_prox
    (the weights before the step), so the PPO clip bounds how far the later ones move. More learning per
    generated trajectory where generation is the bottleneck; the version and the LR schedule still advance
    once per step. With ``prox_logp: train_forward`` the first minibatch takes π_prox from its training
    forward and the others' is recomputed before the first update."""
    max_tokens_per_mb: int = Field(default=4096, ge=64)
    """Token budget of a packed micro-batch (rows are packed greedily up to it; see ``pack_rows``)."""
    pack_rows: Literal["auto", "always", "never"] = "auto"
    """Pack rows into sequences of up to ``max_tokens_per_mb`` tokens (position ids restart per row), or run
    each row as its own micro-batch. ``auto`` packs only with flash-attention 2 (variable-length kernel); with
    sdpa (CPU) the block-diagonal mask takes a slow masked path, so rows run one by one."""
    logprob_chunk: int = Field(default=1024, ge=1)
    """Tokens whose full-vocabulary logits are materialised at once when computing logprobs (recomputed in
    backward), so long sequences never hold [T, vocab] fp32 logits."""
    freeze_layers: int = Field(default=0, ge=0)
    """Freeze the input embeddings and the bottom N decoder layers (0 = train everything). Backward then
    stops at the first trainable layer: on a CPU this makes a step markedly cheaper. With tied embeddings
    (SmolLM2) the output head is frozen too."""
    gradient_checkpointing: bool = False
    """Recompute activations in backward (less memory, ~20 % slower)."""
    autocast_bf16: bool | Literal["auto"] = "auto"
    """bf16 autocast with fp32 master weights. ``auto``: where the device computes bf16 natively (a GPU with
    bf16, a CPU with AVX512-BF16/AMX or Arm bf16); elsewhere torch emulates bf16, several times slower than
    fp32 (``asearcher.precision``)."""
    rl_torch_threads: int | None = Field(default=None, ge=1)
    """Torch intra-op threads of the trainer during async RL (π_prox and the update). With an in-process
    engine, generation and training compute at the same time in two threads of one process, and the
    engine's loop also gets this many while the trainer computes; None = half the CPU cores each (2 threads
    fighting over 1 core thrash, measured 4× slower). With a remote engine None = all cores."""
    rl_lend_idle_cores: bool = True
    """While the trainer waits for rollouts, an in-process engine's loop runs on all CPU cores, and drops to
    ``rl_torch_threads`` while the trainer computes. False = ``rl_torch_threads`` for the engine throughout
    (one core idles whenever the trainer waits)."""
    temperature: float | None = Field(default=None, gt=0)
    """Temperature of the trained logprobs, softmax(logits / T); must equal the rollout temperature. None =
    take the rollout's (``agent.temperature``; 1.0 when rollouts are greedy)."""
    weight_sync: Literal["memory", "disk"] = "memory"
    """How new weights reach the inference engine: in memory (in-process engine) or through
    ``RUN/weights/v{n}`` safetensors dirs with a ``STABLE`` marker (remote engines)."""
    max_rl_minutes: float | None = Field(default=None, gt=0)
    """Wall-time budget of async RL in this process: no new step starts when the mean step time so far says
    it would end past the budget; the last finished step is checkpointed. None = run all ``steps``."""
    save_every: int = Field(default=5, ge=1)
    """Checkpoint every N steps (and at the end)."""
    keep_checkpoints: int = Field(default=2, ge=1)
    """How many recent checkpoints to keep on disk."""

    @model_validator(mode="after")
    def _minibatches_need_an_exact_prox(self) -> TrainerConfig:
        if self.ppo_n_minibatches > 1 and self.decoupled and self.prox_logp == "loglinear":
            raise ValueError(f"trainer.ppo_n_minibatches={self.ppo_n_minibatches} needs an exact π_prox: the "
                             "log-linear approximation (prox_logp: loglinear) interpolates between weight versions, "
                             "and updates within a step are not versions; set trainer.prox_logp to recompute or "
                             "train_forward, or trainer.ppo_n_minibatches=1")
        return self
