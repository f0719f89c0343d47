"""Training questions for the rollout controller: loading ``{id, question, answer}`` JSONL and a
deterministic, resumable, curriculum-aware question stream.

Talks to the filesystem only; the generated world's loader lives in ``asearcher.world``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asearcher.errors import ConfigError, DataError
from asearcher.jsonl import iter_objects
from asearcher.types import Example


def load_examples(path: str | Path) -> list[Example]:
    """Read a JSONL of questions: ``id`` (optional: the line number), ``question``, and ``answer`` (a string
    or list) or ``answers``; other keys go to ``meta``. Bad lines raise ``DataError`` naming file and line."""
    p = Path(path)
    if not p.is_file():
        raise DataError(p, None, "no such file; give a JSONL with one {id, question, answer} object per line")
    out: list[Example] = []
    for n, obj in iter_objects(p, "{id, question, answer}"):
        if not isinstance(obj.get("question"), str):
            raise DataError(p, n, "missing string field 'question'")
        ans = obj.get("answers", obj.get("answer"))
        if isinstance(ans, str):
            ans = [ans]
        if not isinstance(ans, list) or not ans or not all(isinstance(a, str) for a in ans):
            raise DataError(p, n, "field 'answer' must be a string or a non-empty list of strings")
        meta = {k: v for k, v in obj.items() if k not in ("id", "question", "answer", "answers")}
        out.append(Example(id=str(obj.get("id", n)), question=obj["question"], answers=ans, meta=meta))
    if not out:
        raise DataError(p, None, "no questions in file")
    return out


def stage_at(curriculum: Sequence[Any], version: int) -> Any | None:
    """The curriculum stage in force at ``version``: the last one with ``from_step <= version`` (or None)."""
    current = None
    for stage in sorted(curriculum, key=lambda s: s.from_step):
        if stage.from_step <= version:
            current = stage
    return current


def stage_for(curriculum: Sequence[Any], version: int, default_max_hops: int | None) -> tuple[int, int | None]:
    """(min_hops, max_hops) in force at ``version``: the last stage with ``from_step <= version``."""
    stage = stage_at(curriculum, version)
    return (1, default_max_hops) if stage is None else (stage.min_hops, stage.max_hops)


class QuestionStream:
    """Shuffled epochs over ``examples`` (seeded by ``seed`` and the epoch number); ``next`` returns the
    next not-yet-drawn question of this epoch whose hop count is allowed now. Questions skipped by the
    curriculum stay available for later in the epoch. ``requeue`` puts drawn-but-untrained questions back
    in front (used on resume). Examples without ``meta["hops"]`` pass every hop filter.

    Adaptive hop sampling (``adaptive=True``): the controller reports, per finished group, whether its
    rewards were mixed (``record``); ``next`` first draws a hop count among those the curriculum allows,
    with probability proportional to ``max(floor, mixed rate)`` — the mixed rate of that hop count's last
    ``window`` groups, smoothed as ``(mixed + 0.5) / (groups + 1)`` — then serves the next question of
    that hop count in the epoch's order. Generation goes where groups carry a GRPO signal (zero-variance
    groups are dropped, so their generation is wasted), while ``floor`` keeps probing hop counts that the
    policy cannot solve yet. The draw is seeded by the draw count, and the outcome windows are part of the
    state, so a resumed run continues the same way. A stage with ``hop_shares`` draws the hop count with
    those fixed weights instead (adaptive or not); a stage with ``train_shares`` draws it with weight
    ``share / mixed rate``, so that the groups kept (mixed) follow the shares."""

    def __init__(self, examples: list[Example], seed: int = 0, curriculum: Sequence[Any] = (),
                 max_hops: int | None = None, adaptive: bool = False, window: int = 8, floor: float = 0.15):
        if not examples:
            raise ConfigError("no training questions (empty dataset)")
        if window < 1 or not 0.0 < floor <= 1.0:
            raise ConfigError(f"adaptive hop sampling needs window >= 1 and 0 < floor <= 1 (got {window}, {floor})")
        self.examples = examples
        self.seed = seed
        self.curriculum = list(curriculum)
        self.max_hops = max_hops
        self.adaptive, self.window, self.floor = adaptive, window, floor
        self.epoch = 0
        self.drawn: set[int] = set()
        self.requeued: list[int] = []
        self.draws = 0
        self.outcomes: dict[int, list[int]] = {}
        """hop count → 1 (mixed) / 0 (all rewards equal) for its last ``window`` groups, oldest first."""
        self._hops = sorted({h for e in examples if isinstance(h := e.meta.get("hops"), int)})
        self._order = self._shuffle(0)

    def _shuffle(self, epoch: int) -> list[int]:
        order = list(range(len(self.examples)))
        random.Random(self.seed * 1_000_003 + epoch).shuffle(order)
        return order

    def _ok(self, i: int, lo: int, hi: int | None) -> bool:
        hops = self.examples[i].meta.get("hops")
        return hops is None or (hops >= lo and (hi is None or hops <= hi))

    def next(self, version: int = 0) -> tuple[int, Example]:
        """(index into ``examples``, example) for the next question allowed at ``version``."""
        lo, hi = stage_for(self.curriculum, version, self.max_hops)
        for k, i in enumerate(self.requeued):
            if self._ok(i, lo, hi):
                del self.requeued[k]
                return self._take(i)
        stage = stage_at(self.curriculum, version)
        shares, train = getattr(stage, "hop_shares", None), getattr(stage, "train_shares", None)
        if shares:
            weights = {h: float(w) for h, w in sorted(shares.items()) if h in self._hops}
        elif train:
            weights = {h: float(w) / self.mixed_rate(h) for h, w in sorted(train.items()) if h in self._hops}
        else:
            weights = self.hop_weights(lo, hi) if self.adaptive else {}
        if len(weights) > 1 or ((shares or train) and weights):
            h = random.Random(self.seed * 7_919 + self.draws).choices(list(weights), list(weights.values()))[0]
            for i in self._order:
                if i not in self.drawn and self.examples[i].meta.get("hops") == h:
                    self.drawn.add(i)
                    return self._take(i)
            # this epoch has no question of that hop count left: any allowed question, as without adaptation
        for _ in range(2):
            for i in self._order:
                if i not in self.drawn and self._ok(i, lo, hi):
                    self.drawn.add(i)
                    return self._take(i)
            self.epoch += 1
            self.drawn = set()
            self._order = self._shuffle(self.epoch)
        raise ConfigError(f"no training question has between {lo} and {hi} hops; check rollout.curriculum / "
                          "rollout.max_hops against the dataset")

    def record(self, index: int, mixed: bool) -> None:
        """A group of question ``index`` finished: were its rewards mixed (a GRPO signal) or all equal?"""
        hops = self.examples[index].meta.get("hops")
        if isinstance(hops, int):
            w = self.outcomes.setdefault(hops, [])
            w.append(int(mixed))
            del w[:-self.window]

    def mixed_rate(self, hops: int) -> float:
        """Smoothed share of mixed groups among the last ``window`` groups with ``hops`` hops (0.5 with none)."""
        w = self.outcomes.get(hops, [])
        return (sum(w) + 0.5) / (len(w) + 1)

    def hop_weights(self, lo: int, hi: int | None) -> dict[int, float]:
        """Unnormalised draw weight of every hop count in the dataset within ``lo``..``hi``."""
        return {h: max(self.floor, self.mixed_rate(h)) for h in self._hops if h >= lo and (hi is None or h <= hi)}

    def _take(self, i: int) -> tuple[int, Example]:
        self.draws += 1
        return i, self.examples[i]

    def requeue(self, indices: list[int]) -> None:
        """Serve these (drawn but never trained) questions first, in the given order."""
        self.requeued = list(indices) + [i for i in self.requeued if i not in indices]

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "drawn": sorted(self.drawn), "requeued": list(self.requeued),
                "draws": self.draws, "n": len(self.examples), "seed": self.seed,
                "outcomes": [[h, list(w)] for h, w in sorted(self.outcomes.items())]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["n"] != len(self.examples) or state["seed"] != self.seed:
            raise ConfigError(f"resume: the dataset or seed changed (checkpoint has {state['n']} questions, seed "
                              f"{state['seed']}; now {len(self.examples)}, seed {self.seed})")
        self.epoch = state["epoch"]
        self._order = self._shuffle(self.epoch)
        self.drawn = set(state["drawn"])
        self.requeued = list(state["requeued"])
        self.draws = state["draws"]
        self.outcomes = {int(h): list(w) for h, w in state.get("outcomes", [])}
