"""Weight sync from the train engine to the inference engine, called by the rollout controller while the
inference engine is paused (``controller.update_weights``).

- ``InProcessSync``: same process; hands the state dict to ``engine.update_weights(state_dict=...)``.
- ``DiskSync``: for remote engines; writes a Hugging Face model dir ``root/v{version}/`` (safetensors +
  config) through a temp dir, adds the completion marker ``STABLE`` (JSON with the version) last, renames it
  into place, then calls ``engine.update_weights(path=...)``. Readers trust only dirs with the marker.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any, Protocol

from asearcher.inference.base import InferenceEngine
from asearcher.trainer.engine import TrainEngine

log = logging.getLogger(__name__)

MARKER = "STABLE"


class WeightSync(Protocol):
    async def push(self, engine: InferenceEngine, version: int) -> None:
        """Make ``engine`` serve the train engine's current weights as ``version`` (engine is paused)."""
        ...


class InProcessSync:
    """In-memory hand-over to an engine living in this process."""

    def __init__(self, train_engine: TrainEngine):
        self.train_engine = train_engine

    async def push(self, engine: InferenceEngine, version: int) -> None:
        await engine.update_weights(version, state_dict=self.train_engine.state_dict_for_sync())


def read_marker(path: str | Path) -> int | None:
    """The version recorded in ``path/STABLE``, or None when the dir is incomplete."""
    p = Path(path) / MARKER
    if not p.is_file():
        return None
    return int(json.loads(p.read_text())["version"])


def latest_weights(root: str | Path) -> tuple[int, Path] | None:
    """The newest complete ``v{n}`` dir under ``root``."""
    found = [(v, d) for d in Path(root).glob("v*") if d.is_dir() and (v := read_marker(d)) is not None]
    return max(found) if found else None


class DiskSync:
    """Safetensors on disk + completion marker + version; keeps the ``keep`` newest versions."""

    def __init__(self, train_engine: TrainEngine, root: str | Path, keep: int = 2):
        self.train_engine = train_engine
        self.root = Path(root)
        self.keep = keep

    def write(self, version: int) -> Path:
        """Write ``root/v{version}`` atomically (temp dir, marker last, rename) and return it."""
        final = self.root / f"v{version}"
        tmp = self.root / f".v{version}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        t0 = time.perf_counter()
        self.train_engine.save_checkpoint(tmp, weights_only=True)
        (tmp / MARKER).write_text(json.dumps({"version": version, "time": time.time()}))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        log.debug("wrote weights v%d to %s in %.2fs", version, final, time.perf_counter() - t0)
        for old in sorted((d for d in self.root.glob("v*") if d.is_dir()), key=_version_of)[:-self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    async def push(self, engine: InferenceEngine, version: int) -> None:
        path = await asyncio.to_thread(self.write, version)
        await engine.update_weights(version, path=str(path))


def _version_of(d: Path) -> int:
    try:
        return int(d.name[1:])
    except ValueError:
        return -1


def build_weight_sync(kind: str, train_engine: TrainEngine, run_dir: str | Path, **_: Any) -> WeightSync:
    """``memory`` (in-process engine) or ``disk`` (``run_dir/weights``)."""
    if kind == "memory":
        return InProcessSync(train_engine)
    if kind == "disk":
        return DiskSync(train_engine, Path(run_dir) / "weights")
    raise ValueError(f"unknown weight sync {kind!r}; choose memory or disk")
