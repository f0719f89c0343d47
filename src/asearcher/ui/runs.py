"""Reads what training runs and evaluations leave on disk, for the UI's inspector and dashboard.

Talks to nothing but files. Layouts it understands (written by ``trainer.loop`` and ``evaluation.runner``):

- a training run: ``config.yaml``; ``metrics.jsonl`` (``monitoring.Tracker``: one ``{"step", "time",
  name: value, ...}`` object per line, appended while the run is live, cut back on resume);
  ``trajectories/step_NNNNNN.jsonl`` (``Trajectory`` records sampled from the batch of each step).
- an evaluation: ``config.yaml`` on top and per dataset a folder with ``trajectories.jsonl`` (records of
  ``evaluation.runner.make_record``: ``id``, ``sample``, ``scores``, ``finish``, ``stats``, ``trajectory``
  or ``enc`` for protected benchmarks) and ``summary.json``.

A directory may hold both (a training run with evaluations under it); each part is a ``Source``.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from asearcher.errors import DataError
from asearcher.types import Trajectory

log = logging.getLogger(__name__)

METRICS = "metrics.jsonl"
TRAIN_TRAJECTORIES = "trajectories"
EVAL_RECORDS = "trajectories.jsonl"
_STEP_FILE = re.compile(r"step_(\d+)\.jsonl")
_SCORE_ORDER = ("judge", "f1", "em", "cem")


@dataclass(frozen=True)
class Source:
    """One set of trajectories inside a run directory."""

    kind: Literal["train", "eval"]
    path: str
    """Folder relative to the run directory ("" = the run directory itself)."""
    label: str


def find_sources(root: Path, max_depth: int = 3) -> list[Source]:
    """The training run (``metrics.jsonl`` or ``trajectories/``) and evaluation folders
    (``trajectories.jsonl``) at or below ``root`` (at most ``max_depth`` folders down)."""
    out: list[Source] = []
    if (root / METRICS).is_file() or (root / TRAIN_TRAJECTORIES).is_dir():
        out.append(Source("train", "", "training samples"))

    def walk(d: Path, depth: int) -> None:
        if (d / EVAL_RECORDS).is_file():
            rel = d.relative_to(root).as_posix()
            out.append(Source("eval", "" if rel == "." else rel, f"eval {rel}" if rel != "." else "eval"))
        if depth < max_depth:
            for sub in sorted(p for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")):
                if sub.name not in (TRAIN_TRAJECTORIES, "checkpoints", "tb"):
                    walk(sub, depth + 1)

    walk(root, 0)
    return out


def model_name(root: Path, folder: Path) -> str | None:
    """``model.name`` from the nearest ``config.yaml`` in ``folder`` or above it, up to ``root``."""
    import yaml

    d = folder
    while True:
        cfg = d / "config.yaml"
        if cfg.is_file():
            try:
                name = (yaml.safe_load(cfg.read_text()) or {}).get("model", {}).get("name")
            except (yaml.YAMLError, AttributeError) as e:
                log.warning("%s: cannot read model.name (%s)", cfg, e)
                return None
            return str(name) if name else None
        if d == root or d.parent == d:
            return None
        d = d.parent


def read_jsonl_tail(path: Path, offset: int) -> tuple[list[dict[str, Any]], int, bool]:
    """Complete lines of ``path`` from byte ``offset`` on.

    Returns (objects, new offset, reset): ``reset`` is True when the file became shorter than ``offset``
    (a resumed run cut it back), in which case reading restarted at 0. A torn last line (a writer mid-way)
    is left for the next call; a corrupt complete line is skipped with a warning."""
    if not path.is_file():
        return [], 0, offset > 0
    size = path.stat().st_size
    reset = size < offset
    start = 0 if reset else offset
    with path.open("rb") as f:
        f.seek(start)
        raw = f.read(size - start)
    end = raw.rfind(b"\n") + 1
    rows = []
    for line in raw[:end].splitlines():
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            log.warning("%s: skipping a corrupt line near byte %d", path, start)
    return rows, start + end, reset


def consumer_versions(metrics_path: Path) -> dict[int, int]:
    """Step → version of the weights trained at that step (the ``version`` metric is logged after the update,
    so the weights the batch was trained with are ``version - 1``)."""
    rows, _, _ = read_jsonl_tail(metrics_path, 0)
    return {int(r["step"]): int(r["version"]) - 1 for r in rows if "step" in r and "version" in r}


def staleness(traj: Trajectory, consumer: int | None) -> int | None:
    """Largest ``consumer − version`` over the trajectory's sampled tokens (None when unknown)."""
    versions = [v for c in traj.calls for v in c.output_versions if v >= 0]
    if consumer is None or not versions:
        return None
    return consumer - min(versions)


def _context_len(calls: list[dict[str, Any]]) -> int:
    """Tokens of the longest single call (prompt + output): what the model had to hold at once."""
    best = 0
    for c in calls:
        n_in = len(c["input_ids"]) if "input_ids" in c else int(c.get("input_tokens", 0))
        n_out = len(c["output_ids"]) if "output_ids" in c else int(c.get("output_tokens", 0))
        best = max(best, n_in + n_out)
    return best


def _row_of(traj: dict[str, Any]) -> dict[str, Any]:
    """Display fields of a trajectory dict (full or without token ids)."""
    stats = traj.get("stats") or {}
    calls = traj.get("calls") or []
    versions = [v for c in calls for v in c.get("output_versions", []) if v >= 0]
    ex = traj.get("example") or {}
    return {"id": traj.get("id"), "question": ex.get("question", ""), "gold": ex.get("answers", []),
            "answer": traj.get("answer"), "reward": traj.get("reward"), "score": traj.get("score"),
            "turns": stats.get("turns", len(calls)), "searches": stats.get("searches"),
            "accesses": stats.get("accesses"), "output_tokens": stats.get("output_tokens"),
            "context_tokens": _context_len(calls), "finish": stats.get("finish"), "error": traj.get("error"),
            "version_min": min(versions, default=None), "version_max": max(versions, default=None)}


class RunReader:
    """Lists and loads the trajectories of run directories; parsed files are cached by (size, mtime)."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[tuple[int, int], list[dict[str, Any]]]] = {}

    def _lines(self, path: Path) -> list[dict[str, Any]]:
        st = path.stat()
        key = (st.st_size, st.st_mtime_ns)
        hit = self._cache.get(path)
        if hit is not None and hit[0] == key:
            return hit[1]
        rows, _, _ = read_jsonl_tail(path, 0)
        self._cache[path] = (key, rows)
        return rows

    def describe(self, root: Path) -> dict[str, Any]:
        """Sources, model name and whether the run has metrics."""
        return {"path": str(root), "sources": [asdict(s) for s in find_sources(root)],
                "model": model_name(root, root), "has_metrics": (root / METRICS).is_file()}

    def rows(self, root: Path, source: Source) -> list[dict[str, Any]]:
        """One display row per trajectory of ``source``; ``ref`` names it for ``load``."""
        if source.kind == "train":
            return self._train_rows(root)
        return self._eval_rows(root, source)

    def _train_rows(self, root: Path) -> list[dict[str, Any]]:
        consumers = consumer_versions(root / METRICS)
        files = sorted((root / TRAIN_TRAJECTORIES).glob("step_*.jsonl"))
        out = []
        for f in files:
            m = _STEP_FILE.fullmatch(f.name)
            if m is None:
                continue
            step = int(m.group(1))
            for i, t in enumerate(self._lines(f)):
                row = _row_of(t) | {"ref": f"{TRAIN_TRAJECTORIES}/{f.name}:{i}", "step": step}
                c, lo = consumers.get(step), row["version_min"]
                row["staleness"] = c - lo if c is not None and lo is not None else None
                out.append(row)
        return out

    def _eval_rows(self, root: Path, source: Source) -> list[dict[str, Any]]:
        rel = f"{source.path}/{EVAL_RECORDS}" if source.path else EVAL_RECORDS
        out = []
        for i, rec in enumerate(self._lines(root / rel)):
            base = {"ref": f"{rel}:{i}", "step": None, "staleness": None, "sample": rec.get("sample")}
            scores = rec.get("scores") or {}
            score = next((scores[k] for k in _SCORE_ORDER if k in scores), None)
            if "enc" in rec or not isinstance(rec.get("trajectory"), dict):
                stats = rec.get("stats") or {}
                out.append(base | {"id": rec.get("id"), "question": "(protected benchmark: not shown)",
                                   "answer": None, "reward": None, "score": score, "scores": scores,
                                   "turns": stats.get("turns"), "output_tokens": stats.get("output_tokens"),
                                   "context_tokens": None, "finish": rec.get("finish"), "protected": True,
                                   "version_min": None, "version_max": None})
                continue
            row = _row_of(rec["trajectory"]) | base
            row.update(id=rec.get("id"), score=score, scores=scores, answer=rec.get("prediction", row["answer"]))
            out.append(row)
        return out

    def load(self, root: Path, ref: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(trajectory dict, its record) for ``ref`` = ``"<file>:<line>"`` as given by ``rows``.

        Raises ``DataError`` for a ref that does not name a trajectory file of ``root`` or a line in it."""
        rel, _, idx = ref.rpartition(":")
        path = (root / rel).resolve()
        ok_name = path.name == EVAL_RECORDS or (path.parent.name == TRAIN_TRAJECTORIES
                                                and _STEP_FILE.fullmatch(path.name))
        if not idx.isdigit() or not ok_name or not path.is_relative_to(root.resolve()) or not path.is_file():
            raise DataError(str(root), None, f"{ref!r} is not a trajectory of this run; pick one from the list")
        lines = self._lines(path)
        i = int(idx)
        if i >= len(lines):
            raise DataError(rel, i + 1, "no such trajectory (the file changed?); reload the list")
        rec = lines[i]
        if path.name == EVAL_RECORDS:
            if "enc" in rec or not isinstance(rec.get("trajectory"), dict):
                raise DataError(rel, i + 1, "this record is encrypted (protected benchmark) and is not shown")
            return rec["trajectory"], rec
        return rec, {}

    def step_of(self, ref: str) -> int | None:
        """The training step of a training-sample ``ref`` (None for evaluation records)."""
        m = _STEP_FILE.search(ref.rpartition(":")[0])
        return int(m.group(1)) if m and ref.startswith(TRAIN_TRAJECTORIES + "/") else None
