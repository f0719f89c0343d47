"""Trajectory → token sequences for training, by token-prefix merging (pure; algorithm notes §5).

Each LLM call carries the exact prompt ids it sent and what it sampled; calls whose prompt extends an
earlier sequence are appended to it, others open a new sequence. Text is never re-tokenised.
Used by ``rollout.controller`` (stats) and ``trainer.loop`` / ``trainer.sft`` (batches).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from asearcher.types import LLMCall, TrainSample, Trajectory


class Drift(StrEnum):
    """How one call's prompt relates to the sequences built so far (after TRL's ``DriftKind``)."""

    CLEAN = "clean"
    """The prompt starts with an existing sequence: appended to it."""
    FORK = "fork"
    """No existing sequence is a prefix of the prompt (context was rewritten, e.g. a page summary was
    replaced by its short text): a new sequence over the whole prompt."""


@dataclass
class Sequence:
    """One batch row under construction; the four lists have equal length."""

    ids: list[int] = field(default_factory=list)
    loss_mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)

    def extend(self, context: list[int], call: LLMCall) -> None:
        """Append ``context`` (prompt/tool tokens: mask 0, logprob 0.0, version −1) then the call's output."""
        n_out = len(call.output_ids)
        if not (len(call.output_logprobs) == len(call.output_versions) == n_out):
            raise ValueError(f"LLM call has {n_out} output ids but {len(call.output_logprobs)} logprobs and "
                             f"{len(call.output_versions)} versions; the engine must return one of each per token")
        self.ids += list(context) + list(call.output_ids)
        self.loss_mask += [0] * len(context) + [1] * n_out
        self.logprobs += [0.0] * len(context) + list(call.output_logprobs)
        self.versions += [-1] * len(context) + list(call.output_versions)


def merge_calls(calls: list[LLMCall]) -> tuple[list[Sequence], list[Drift]]:
    """Merge calls in order: if an existing sequence S is a token prefix of a call's ``input_ids``, extend S
    with ``input_ids[len(S):]`` + the output; otherwise open a new sequence. The most recent matching
    sequence wins. Returns the sequences and one ``Drift`` per call.

    Example (notes §5): call 1 in [10,11,12] → out [20,21]; call 2 in [10,11,12,20,21,30,31] → out [22]
    ⇒ one sequence ids [10,11,12,20,21,30,31,22], loss_mask [0,0,0,1,1,0,0,1], versions [-1,-1,-1,5,5,-1,-1,6].
    """
    seqs: list[Sequence] = []
    drifts: list[Drift] = []
    for call in calls:
        target = None
        for s in reversed(seqs):
            n = len(s.ids)
            if n <= len(call.input_ids) and call.input_ids[:n] == s.ids:
                target = s
                break
        if target is None:
            target = Sequence()
            seqs.append(target)
            drifts.append(Drift.FORK if len(seqs) > 1 else Drift.CLEAN)
        else:
            drifts.append(Drift.CLEAN)
        target.extend(call.input_ids[len(target.ids):], call)
    return seqs, drifts


def trajectory_to_samples(traj: Trajectory, reward: float, group_id: str) -> list[TrainSample]:
    """One ``TrainSample`` per merged sequence, each carrying the trajectory's shaped ``reward``;
    ``begin_of_trajectory`` marks the first. Sequences without any sampled token are left out."""
    seqs, _ = merge_calls(traj.calls)
    out: list[TrainSample] = []
    for s in seqs:
        if not any(s.loss_mask):
            continue
        out.append(TrainSample(ids=s.ids, loss_mask=s.loss_mask, logprobs=s.logprobs, versions=s.versions,
                               reward=reward, trajectory_id=traj.id, group_id=group_id,
                               begin_of_trajectory=not out))
    return out
