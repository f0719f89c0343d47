"""Rewards: task scores (F1/EM/CEM, pluggable judge), format check, trajectory shaping, group centring."""

from asearcher.rewards.base import QAReward, RewardFn, group_centre, score_trajectory, shape_score
from asearcher.rewards.format import format_ok, output_format_ok
from asearcher.rewards.qa import best_score, cem, em, f1

__all__ = ["QAReward", "RewardFn", "best_score", "cem", "em", "f1", "format_ok", "group_centre",
           "output_format_ok", "score_trajectory", "shape_score"]
