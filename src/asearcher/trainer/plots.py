"""Training curves of a run directory as PNG files (matplotlib, Agg backend; no display needed).

Reads ``RUN/metrics.jsonl`` (RL) and ``RUN/sft/metrics.jsonl`` (warm start); used by ``asearcher plot``.
"""

from __future__ import annotations

import json
from pathlib import Path

from asearcher.errors import DataError

PANELS: dict[str, list[str]] = {
    "reward": ["reward/mean", "reward/score_mean", "reward/format_mean"],
    "behaviour": ["rollout/turns_mean", "rollout/searches_mean", "rollout/accesses_mean", "data/hops_mean"],
    "staleness": ["rollout/staleness_mean", "rollout/staleness_max"],
    "time": ["time/wait_rollout_s", "time/prox_s", "time/train_s", "time/sync_s", "time/step_s"],
    "train": ["train/loss", "train/grad_norm", "train/clip_frac", "train/behav_kl"],
    "rollout": ["rollout/rejected_groups", "rollout/failed_trajectories", "rollout/accepted_total"],
    "curriculum": ["curriculum/max_hops", "rollout/mixed_rate_hop*"],
    "sft": ["sft/nll", "sft/grad_norm"],
}
"""File name → metrics drawn in it (each in its own subplot); ``prefix*`` = every logged metric so named."""


def read_metrics(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise DataError(path, n, "not valid JSON (a torn last line of a killed run? delete it)") from None
    return rows


def plot_run(run_dir: Path, out: Path | None = None, names: list[str] | None = None) -> list[Path]:
    """Write one PNG per panel that has data (or one ``custom.png`` for ``names``); returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    for f in (run_dir / "metrics.jsonl", run_dir / "sft" / "metrics.jsonl"):
        if f.is_file():
            rows += read_metrics(f)
    if not rows:
        raise DataError(run_dir, None, "no metrics.jsonl (nor sft/metrics.jsonl): is this a run directory?")
    out = out or run_dir / "plots"
    out.mkdir(parents=True, exist_ok=True)
    panels = {"custom": names} if names else PANELS
    written = []
    for panel, metrics in panels.items():
        metrics = [k for m in metrics for k in (sorted({k for r in rows for k in r if k.startswith(m[:-1])})
                                                 if m.endswith("*") else [m])]
        series = {m: [(r["step"], r[m]) for r in rows if m in r] for m in metrics}
        series = {m: s for m, s in series.items() if s}
        if not series:
            continue
        fig, axes = plt.subplots(1, len(series), figsize=(4 * len(series), 3.2), squeeze=False)
        for ax, (m, pts) in zip(axes[0], series.items(), strict=True):
            pts.sort()
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="." if len(pts) < 50 else None)
            ax.set_title(m, fontsize=9)
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
        fig.suptitle(f"{run_dir.name}: {panel}", fontsize=10)
        fig.tight_layout()
        path = out / f"{panel}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    if not written:
        raise DataError(run_dir, None, f"none of the metrics {sorted({m for v in panels.values() for m in v})} were logged")
    return written
