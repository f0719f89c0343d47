"""Run checkpoints: ``RUN/checkpoints/step_{n:06d}/`` holds the train engine's checkpoint (HF weights,
optimizer, scheduler, version), ``state.json`` (step, controller counters, data position, questions not
yet trained), ``rng.pt`` (Python/torch RNG states) and the completion marker ``COMPLETE`` written last.
When the run has a tokenizer (``RUN/tokenizer``, written by ``asearcher train``) its files are copied in,
so a checkpoint is also a self-contained Hugging Face model dir (``asearcher eval --model CKPT``).

Used by ``trainer.loop``; written through a temp dir and renamed, so a kill never leaves a half checkpoint
that looks complete.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

from asearcher.errors import DataError
from asearcher.trainer.engine import TrainEngine

COMPLETE = "COMPLETE"
TOKENIZER = "tokenizer"


def checkpoint_dirs(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    root = Path(run_dir) / "checkpoints"
    dirs = [d for d in root.glob("step_*") if (d / COMPLETE).is_file()]
    return sorted(dirs, key=lambda d: int(d.name.split("_")[1]))


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    dirs = checkpoint_dirs(run_dir)
    return dirs[-1] if dirs else None


def _rng_state() -> dict[str, Any]:
    import torch

    return {"python": random.getstate(), "torch": torch.get_rng_state()}


def _set_rng_state(state: dict[str, Any]) -> None:
    import torch

    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])


def save_checkpoint(run_dir: str | Path, step: int, engine: TrainEngine, state: dict[str, Any],
                    keep: int = 2) -> Path:
    """Write checkpoint ``step`` (engine + ``state`` + RNG) atomically; prune to the ``keep`` newest."""
    import torch

    root = Path(run_dir) / "checkpoints"
    final = root / f"step_{step:06d}"
    tmp = root / f".step_{step:06d}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    engine.save_checkpoint(tmp)
    tok = Path(run_dir) / TOKENIZER
    if tok.is_dir():
        for f in tok.iterdir():
            if f.is_file() and not (tmp / f.name).exists():
                shutil.copy2(f, tmp / f.name)
    (tmp / "state.json").write_text(json.dumps({"step": step, **state}))
    torch.save(_rng_state(), tmp / "rng.pt")
    (tmp / COMPLETE).write_text(str(step))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in checkpoint_dirs(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(path: str | Path, engine: TrainEngine) -> dict[str, Any]:
    """Restore the engine and RNG states from ``path``; return ``state.json``."""
    import torch

    path = Path(path)
    if not (path / COMPLETE).is_file():
        raise FileNotFoundError(f"{path} is not a complete checkpoint (no {COMPLETE} marker)")
    engine.load_checkpoint(path)
    _set_rng_state(torch.load(path / "rng.pt", weights_only=False))
    return json.loads((path / "state.json").read_text())


def truncate_jsonl(path: str | Path, max_step: int) -> None:
    """Drop lines whose ``step`` is greater than ``max_step`` (atomic rewrite); used on resume so that logs
    after the restored checkpoint do not appear twice."""
    p = Path(path)
    if not p.is_file():
        return
    text = p.read_text()
    lines = [(n, ln) for n, ln in enumerate(text.splitlines(), start=1) if ln.strip()]
    keep = []
    for i, (n, ln) in enumerate(lines):
        try:
            step = json.loads(ln).get("step", 0)
        except json.JSONDecodeError:
            if i == len(lines) - 1:  # a line torn by the kill we are resuming from: drop it
                break
            raise DataError(p, n, "not a JSON line, so the run's log cannot be rewound to the checkpoint; "
                            "fix or delete that line and resume again") from None
        if step <= max_step:
            keep.append(ln)
    if len(keep) == len(lines) and text.endswith("\n"):
        return  # nothing to drop: leave the file (and any open append handle on it) alone
    tmp = p.with_suffix(p.suffix + ".tmp")
    tmp.write_text("".join(ln + "\n" for ln in keep))
    tmp.replace(p)
