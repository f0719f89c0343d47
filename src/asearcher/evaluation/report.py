"""Evaluation summaries: scored samples → ``summary.json`` (overall Avg@k / Pass@k / maj@k per metric, per-source /
per-hop / per-level breakdowns, episode stats) and the markdown table (dataset × metric).

Pure except for ``write_summary``. Used by ``evaluation.runner`` (after episodes) and ``evaluation.scoring``
(``asearcher eval score``). Lexical metrics are recomputed here from the stored predictions, so a summary only
depends on predictions (and judge verdicts), never on the order in which episodes finished.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asearcher.evaluation.metrics import METRICS, aggregate, breakdown
from asearcher.types import Example

DEFAULT_BREAKDOWNS = ("source", "hops", "level")
"""Example meta keys that get a per-group breakdown (when they split the dataset into ≥ 2 groups)."""

_STAT_KEYS = ("turns", "searches", "accesses", "tool_failures", "invalid_actions", "output_tokens")

Sample = dict[str, Any]
"""One scored sample: ``prediction`` (str|None), ``scores`` ({metric: float}, may hold ``judge``),
``confidence`` (float|None), ``stats`` ({name: number}), ``finish`` (str), ``error`` (str|None)."""


def _rows(examples: Sequence[Example], samples: dict[str, list[Sample]], metrics: Sequence[str],
          k: int) -> tuple[list[dict[str, Any]], int]:
    rows, missing = [], 0
    for ex in examples:
        got = list(samples.get(ex.id, []))[:k]
        if not got:
            missing += 1
        got += [{"prediction": None, "scores": {}}] * (k - len(got))
        preds = [s.get("prediction") for s in got]
        scores = {}
        for m in metrics:
            if m in METRICS:
                scores[m] = [METRICS[m](p, ex.answers) for p in preds]
            else:  # judge: verdicts stored with the sample
                scores[m] = [float(s.get("scores", {}).get(m, 0.0)) for s in got]
        rows.append({"answers": ex.answers, "predictions": preds, "scores": scores,
                     "confidences": [s.get("confidence") for s in got], "meta": ex.meta, "samples": got})
    return rows, missing


def _stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    samples = [s for r in rows for s in r["samples"] if "stats" in s]
    if not samples:
        return {}
    out: dict[str, Any] = {f"{k}_mean": sum(float(s["stats"].get(k, 0)) for s in samples) / len(samples)
                           for k in _STAT_KEYS}
    out["finish"] = dict(sorted(Counter(s.get("finish") or "unknown" for s in samples).items()))
    out["errors"] = sum(1 for s in samples if s.get("error"))
    return out


def summarize(dataset: str, examples: Sequence[Example], samples: dict[str, list[Sample]], *,
              metrics: Sequence[str], k: int, breakdowns: Sequence[str] = DEFAULT_BREAKDOWNS,
              judge: dict[str, str] | None = None) -> dict[str, Any]:
    """Summary of one dataset.

    Args:
        dataset: name shown in reports.
        examples: the questions, in dataset order (only these are summarized).
        samples: question id → its samples (sample order); missing questions count as unanswered.
        metrics: metric names (``METRICS`` keys, plus ``judge`` when judged).
        k: samples per question.
        breakdowns: example meta keys to break down by.
        judge: ``LLMJudge.info()`` when the judge metric is used.
    """
    rows, missing = _rows(examples, samples, metrics, k)
    out: dict[str, Any] = {"dataset": dataset, "k": k, "metrics": list(metrics), "missing": missing,
                           "overall": aggregate(rows, metrics), "breakdowns": {}}
    for key in breakdowns:
        groups = breakdown(rows, lambda r, key=key: r["meta"].get(key), metrics)
        if len(groups) >= 2:
            out["breakdowns"][key] = groups
    out["stats"] = _stats(rows)
    out["judge"] = judge
    return out


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def markdown(summaries: Sequence[dict[str, Any]]) -> str:
    """One table: a row per dataset (and per breakdown group, indented), a column per metric × (Avg@k, Pass@k);
    with k = 1 one column per metric. Scores are percentages; "tool calls" (when the samples carry episode
    stats) is the mean number of searches and page accesses per sample."""
    if not summaries:
        return ""
    metrics = list(dict.fromkeys(m for s in summaries for m in s["metrics"]))
    k = max(s["k"] for s in summaries)
    cols = [f"{m} avg@{k}" for m in metrics] + ([f"{m} pass@{k}" for m in metrics] if k > 1 else [])
    if k == 1:
        cols = list(metrics)
    calls = any("tool_calls" in s["overall"] for s in summaries)
    header = ["dataset", "n", "answered", *(["tool calls"] if calls else []), *cols]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]

    def row(label: str, agg: dict[str, Any]) -> str:
        vals = [label, str(agg.get("n", 0)), _pct(agg.get("answered"))]
        if calls:
            vals.append("–" if agg.get("tool_calls") is None else f"{agg['tool_calls']:.2f}")
        for m in metrics:
            vals.append(_pct((agg.get(m) or {}).get("avg@k")))
        if k > 1:
            vals += [_pct((agg.get(m) or {}).get("pass@k")) for m in metrics]
        return "| " + " | ".join(vals) + " |"

    for s in summaries:
        lines.append(row(s["dataset"], s["overall"]))
        for key, groups in s["breakdowns"].items():
            for g, agg in groups.items():
                lines.append(row(f"  {s['dataset']} · {key}={g}", agg))
    judges = {json.dumps(s["judge"], sort_keys=True) for s in summaries if s.get("judge")}
    notes = [f"Scores in %; k = {k} samples per question (Avg@k = mean over samples, Pass@k = best sample)."]
    for j in sorted(judges):
        info = json.loads(j)
        notes.append(f"judge: {info['model']} (prompt {info['prompt_version']})")
    return "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_summary(out_dir: str | Path, summary: dict[str, Any] | Sequence[dict[str, Any]]) -> None:
    """``summary.json`` and ``summary.md`` in ``out_dir`` (each written to a temp file, then renamed). A list of
    summaries is written as ``{"datasets": {name: summary}}``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    many = not isinstance(summary, dict)
    items = list(summary) if many else [summary]  # type: ignore[arg-type]
    doc = {"datasets": {s["dataset"]: s for s in items}} if many else summary
    _atomic_write(out / "summary.json", json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    _atomic_write(out / "summary.md", markdown(items))
