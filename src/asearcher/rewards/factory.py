"""Builds the configured training reward (``RewardConfig.type``): F1/EM/CEM here, or the LLM judge of the
evaluation package (``reward.type: judge``). Used by ``trainer.pipeline``."""

from __future__ import annotations

from pathlib import Path

from asearcher.config.reward import RewardConfig
from asearcher.rewards.base import QAReward, RewardFn


def build_reward_fn(cfg: RewardConfig, run_dir: str | Path | None = None) -> RewardFn:
    """``QAReward(cfg.type)`` or, for ``judge``, ``evaluation.judge.JudgeReward`` (verdicts cached in
    ``run_dir/judge_cache.sqlite``)."""
    if cfg.type == "judge":
        from asearcher.evaluation.judge import judge_from_reward_config

        cache = Path(run_dir) / "judge_cache.sqlite" if run_dir is not None else None
        return judge_from_reward_config(cfg, cache)
    return QAReward(cfg.type)
