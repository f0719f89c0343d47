"""One metrics tracker for the whole run: stdout summary, JSONL and TensorBoard. It never raises
(a failing sink is disabled with one warning); metric names look like ``rollout/staleness_mean``.

Averages that will be combined across processes are logged with their denominators (``x_sum`` and
``x_count``) by the caller; the tracker itself only records scalars per step.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class Tracker:
    """Collects scalar metrics per step and writes them to the enabled sinks."""

    def __init__(self, run_dir: str | Path | None, jsonl: bool = True, tensorboard: bool = False,
                 stdout_every: int = 1):
        self.run_dir = Path(run_dir) if run_dir else None
        self.stdout_every = stdout_every
        self._jsonl = None
        self._tb = None
        if self.run_dir is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if jsonl:
                self._jsonl = self._safe(lambda: (self.run_dir / "metrics.jsonl").open("a"), "jsonl")
            if tensorboard:
                self._tb = self._safe(self._open_tb, "tensorboard")

    def _open_tb(self) -> Any:
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(str(self.run_dir / "tb"))

    def _safe(self, fn: Any, sink: str) -> Any:
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 — monitoring must never kill a run
            log.warning("metrics sink %s disabled: %s", sink, e)
            return None

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        """Record ``metrics`` (numbers; others are dropped) for ``step``."""
        clean = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                 and math.isfinite(float(v))}
        if self._jsonl is not None:
            line = json.dumps({"step": step, "time": time.time(), **clean}) + "\n"
            # write() returns a count, so `write(...) or flush()` never flushed: flush explicitly so that a
            # killed run keeps every logged step
            ok = self._safe(lambda: (self._jsonl.write(line), self._jsonl.flush(), True)[-1], "jsonl")
            if ok is None:
                self._jsonl = None
        if self._tb is not None:
            for k, v in clean.items():
                if self._safe(lambda k=k, v=v: self._tb.add_scalar(k, v, step) or True, "tensorboard") is None:
                    self._tb = None
                    break
        if self.stdout_every and step % self.stdout_every == 0:
            shown = {k: v for k, v in clean.items() if k.split("/")[-1] in _HEADLINE}
            log.info("step %d %s", step, " ".join(f"{k}={v:.4g}" for k, v in sorted(shown.items())))

    def close(self) -> None:
        for sink in (self._jsonl, self._tb):
            if sink is not None:
                self._safe(sink.close, "close")
        self._jsonl = self._tb = None


_HEADLINE = {"reward_mean", "score_mean", "loss", "turns_mean", "staleness_mean", "step_s", "accuracy", "grad_norm"}


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; nan for an empty list."""
    if not values:
        return float("nan")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def budget_fraction(max_minutes: float | None) -> Callable[[], float] | None:
    """A clock started now that reads the share of ``max_minutes`` used so far (None without a budget)."""
    if max_minutes is None:
        return None
    t0 = time.perf_counter()
    return lambda: (time.perf_counter() - t0) / (60 * max_minutes)


def next_step_overruns(elapsed_s: float, steps_done: int, max_minutes: float | None) -> bool:
    """Whether one more step, at the mean pace of the ``steps_done`` so far, would end past ``max_minutes``
    (the time caps of the warm start and of RL; None = no cap)."""
    return max_minutes is not None and steps_done > 0 and elapsed_s + elapsed_s / steps_done > 60 * max_minutes
