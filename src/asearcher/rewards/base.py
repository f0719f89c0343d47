"""The reward seam: a pluggable task score (``RewardFn``) plus ASearcher's per-trajectory shaping
(format × score, invalid-question override) and group centring (algorithm notes §4 steps 1–4).

Talks to: ``rewards.qa`` (F1/EM/CEM) and ``rewards.format``. An LLM judge (``asearcher.evaluation``)
plugs in by implementing ``RewardFn``. Used by ``rollout.controller`` after every group.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from asearcher.rewards.format import format_ok
from asearcher.rewards.qa import best_score
from asearcher.types import Trajectory

INVALID_MARKERS = ("question", "invalid", "appropriate", "valid")
"""Case-sensitive substrings that make an answer count as "the question is invalid" (ASearcher)."""


@runtime_checkable
class RewardFn(Protocol):
    """Task score of one finished trajectory in [0, 1] (before format and invalid-question handling).

    Implementations: ``QAReward`` (F1/EM/CEM of ``trajectory.answer`` against the gold aliases) and the LLM
    judge of the evaluation package. Called concurrently from many groups; must be safe for that."""

    name: str

    async def score(self, trajectory: Trajectory) -> float:
        """Score of ``trajectory.answer`` against ``trajectory.example``; 0 when there is no answer."""
        ...


class QAReward:
    """F1 (default), EM or CEM of the last ``<answer>`` against the gold aliases (max over aliases).

    With ``meta["aug_answers"]`` on the example, ``0.7·s + 0.3·max(s_aug, s)`` (ASearcher ``aug_answer``)."""

    def __init__(self, kind: str = "f1"):
        best_score(kind, None, [])  # validates kind
        self.kind = kind
        self.name = kind

    async def score(self, trajectory: Trajectory) -> float:
        ex = trajectory.example
        s = best_score(self.kind, trajectory.answer, ex.answers)
        aug = ex.meta.get("aug_answers")
        if aug:
            s = 0.7 * s + 0.3 * max(best_score(self.kind, trajectory.answer, list(aug)), s)
        return s


def claims_invalid(answer: str | None) -> bool:
    """True if the answer contains one of ``INVALID_MARKERS`` (case-sensitive substring)."""
    return answer is not None and any(m in answer for m in INVALID_MARKERS)


def shape_score(score: float, fmt_ok: bool, answer: str | None, valid_instruction: bool,
                use_format: bool = True, invalid_penalty: float = -0.5, calls: int = 0,
                call_cost: float = 0.0) -> float:
    """The trajectory's scalar reward (§4 steps 1–3).

    ``score × format``, times ``max(0, 1 − call_cost·calls)`` for ``calls`` tool calls; then, when the
    prompt asked for "the most likely answer" (``valid_instruction`` False, ASearcher's ``valid_inst``) and
    the answer claims the question is invalid, ``invalid_penalty`` overrides everything."""
    r = score * (1.0 if (fmt_ok or not use_format) else 0.0)
    if call_cost:
        r *= max(0.0, 1.0 - call_cost * calls)
    if not valid_instruction and claims_invalid(answer):
        r = invalid_penalty
    return r


async def score_trajectory(traj: Trajectory, reward_fn: RewardFn, use_format: bool = True,
                           invalid_penalty: float = -0.5, call_cost: float = 0.0) -> float:
    """Fill ``traj.score``, ``traj.format_ok`` and ``traj.reward`` and return the reward.

    ``call_cost`` is charged on the episode's searches and accesses (``traj.stats``), see ``shape_score``.
    No answer (incl. turn or context limit hit) scores 0 without calling ``reward_fn``."""
    traj.format_ok = format_ok(c.text for c in traj.calls)
    traj.score = 0.0 if traj.answer is None else float(await reward_fn.score(traj))
    traj.reward = shape_score(traj.score, traj.format_ok, traj.answer, traj.valid_instruction,
                              use_format, invalid_penalty, traj.stats.searches + traj.stats.accesses,
                              call_cost)
    return traj.reward


def group_centre(rewards: list[float]) -> list[float] | None:
    """``c_k = r_k − mean(r)``; None when the group carries no signal (all rewards equal, or < 2 of them).

    Equality is tested on the rewards themselves (``max == min``) rather than on ``c_k == 0``, which
    float rounding of the mean can break (three rewards of 0.1 give c = −1.4e-17)."""
    if len(rewards) < 2 or max(rewards) == min(rewards):
        return None
    mean = sum(rewards) / len(rewards)
    return [r - mean for r in rewards]
