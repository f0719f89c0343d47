"""Typed configuration (pydantic). Importing this package must not import torch (tested).

One file per section; ``TrainConfig`` composes them for ``asearcher train``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from asearcher.config.agent import AgentConfig
from asearcher.config.base import ConfigError, Section, load_config, save_config
from asearcher.config.engine import EngineConfig
from asearcher.config.eval import EvalConfig
from asearcher.config.knowledge import KnowledgeConfig
from asearcher.config.model import ModelConfig
from asearcher.config.monitoring import MonitoringConfig
from asearcher.config.reward import RewardConfig
from asearcher.config.rollout import RolloutConfig
from asearcher.config.sft import SFTConfig
from asearcher.config.trainer import TrainerConfig
from asearcher.config.world import WorldConfig


class TrainConfig(Section):
    """Everything ``asearcher train`` needs. Defaults run on a 2-core CPU."""

    out: str = "runs/default"
    """Run directory: resolved config, metrics, checkpoints, sampled trajectories."""
    seed: int = 0
    """Seed for data order, sampling and the invalid-question switch."""
    data: str | None = None
    """Training questions: None = the generated world's train split; or any {id, question, answer} jsonl."""
    model: ModelConfig = Field(default_factory=ModelConfig)
    world: WorldConfig = Field(default_factory=lambda: WorldConfig(passage_words=30, wording="fixed"))
    """Passages of ~30 words (not wiki-18's 100): the same facts, twins and questions with less filler, so
    a search result costs ~200 tokens instead of ~450 — 1.8× fewer tokens per trajectory on a CPU. One
    wording per relation (``fixed``): with a wording drawn per entity the oracle's search queries used words
    the policy cannot know from the question, and the warm-started policy learned to invent them."""
    knowledge: KnowledgeConfig = Field(default_factory=KnowledgeConfig)
    agent: AgentConfig = Field(default_factory=lambda: AgentConfig(
        max_turns=8, max_new_tokens=128, temperature=0.7, prompt="concise"))
    """Training defaults differ from ``asearcher ask``: 8 LLM calls (a 4-hop question needs 5) and 128 new
    tokens per call (oracle actions take ~60) bound the cost of a policy that rambles, on a CPU; rollouts
    sample at 0.7 (at 1.0 a freshly warm-started 135M policy failed whole groups, and 22 of 27 groups were
    dropped for zero variance — docs/LOG.md); the concise system prompt (~55 tokens, not the paper's ~200:
    every sample re-processes it)."""
    engine: EngineConfig = Field(default_factory=lambda: EngineConfig(autocast_bf16="auto", max_batch=32))
    """The in-process engine runs under bf16 autocast where the CPU has bf16 instructions (``auto``; prefill
    ~2× faster there, while a CPU without them emulates bf16 ~5× slower than fp32; its
    weights stored in bf16, ``bf16_weights``) and decodes up to 32 sequences together: decode is bound by
    reading the weights, so on 2 cores 16 sequences gave 1.5× the tokens/s of 8, and 32 another 1.3×."""
    rollout: RolloutConfig = Field(default_factory=lambda: RolloutConfig(max_concurrent=8))
    """8 groups of 4 trajectories in flight: 32 episodes keep the engine's batch of 32 full (LOG 2026-11-27,
    session 5: RL steps of 117–161 s against 150–290 s with 4 groups and a batch of 8)."""
    reward: RewardConfig = Field(default_factory=RewardConfig)
    trainer: TrainerConfig = Field(default_factory=lambda: TrainerConfig(prox_logp="train_forward", steps=16))
    """π_prox taken from the training forward (the same values, one pass less); the temperature follows the
    rollouts' unless set. Up to 16 RL steps, within what the run's ``max_minutes`` leaves (~23 min, about
    10 steps on 2 cores): the warm start is capped at ``sft.max_minutes`` and the evaluations take 2–4 min
    each, and the same work took 20 % longer on some evenings than on others."""
    sft: SFTConfig = Field(default_factory=SFTConfig)
    eval: EvalConfig = Field(default_factory=lambda: EvalConfig(max_turns=8, concurrency=40))
    """Before/after evaluation; at most 8 LLM calls per episode by default (as in training); 40 episodes at
    once (the default 10 questions × 4 hop counts) keep the engine's batch of 32 full."""
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    evaluate: list[Literal["base", "sft", "final"]] = Field(default_factory=lambda: ["base", "sft", "final"])
    """Policies evaluated on the world's ``eval.split`` (greedy by default): the base model, the warm-started
    one and the final RL policy; the comparison goes to ``RUN/eval.md`` and ``RUN/eval.json``."""
    eval_per_hop: int | None = Field(default=10, ge=1)
    """At most this many evaluation questions per hop count (file order; None = the whole split)."""
    eval_metric: Literal["em", "f1", "cem", "sub_em", "asearcher_f1"] = "em"
    """Accuracy metric of the before/after table."""
    max_minutes: float | None = Field(default=45, gt=0)
    """Wall-time budget of the whole run (setup, evaluations, warm start, RL): RL gets what is left after the
    phases before it and an estimate of the final evaluation (2× the previous evaluation's time), and
    stops at the step whose successor would overrun it (as ``trainer.max_rl_minutes``, which caps RL on its
    own as well). Phases cut short by a kill are not counted on ``--resume``. None = no budget."""

    @model_validator(mode="after")
    def _same_temperature(self) -> TrainConfig:
        # behaviour logprobs are of softmax(logits / T_rollout); the trainer's of softmax(logits / T_train)
        if self.trainer.temperature is None:
            self.trainer.temperature = self.agent.temperature if self.agent.temperature > 0 else 1.0
        elif self.agent.temperature > 0 and abs(self.agent.temperature - self.trainer.temperature) > 1e-9:
            raise ValueError(f"agent.temperature ({self.agent.temperature}) must equal trainer.temperature "
                             f"({self.trainer.temperature}): logprobs of rollout and training must use one temperature")
        return self


def with_settings(cfg: TrainConfig, settings: dict[tuple[str, str], Any], source: str) -> TrainConfig:
    """``cfg`` with ``(section, key) → value`` settings applied (``None`` or ``""`` = leave as is) and
    validated again; a ``ConfigError`` names ``source`` (e.g. "asearcher ask flags"). For commands that only
    sample (``ask``, the UI): the trainer's temperature follows a new agent temperature."""
    from pydantic import ValidationError

    from asearcher.config.base import format_validation_error

    data = cfg.model_dump(mode="json")
    for (section, key), value in settings.items():
        if value not in (None, ""):
            data[section][key] = value
    if settings.get(("agent", "temperature")) not in (None, ""):
        data["trainer"]["temperature"] = None  # follows the new rollout temperature
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(TrainConfig, e, source)) from None


__all__ = [
    "AgentConfig",
    "ConfigError",
    "EngineConfig",
    "EvalConfig",
    "KnowledgeConfig",
    "ModelConfig",
    "MonitoringConfig",
    "RewardConfig",
    "RolloutConfig",
    "SFTConfig",
    "Section",
    "TrainConfig",
    "TrainerConfig",
    "WorldConfig",
    "load_config",
    "save_config",
    "with_settings",
]
