"""Summary and statistics of a synthesis run, like the paper's Figure 5: distributions of the number of
supporting facts, of inject and fuzz actions and of the direct-answer accuracy, plus rejection reasons,
skipped steps and the truth-check error rate. Writes a JSON summary, a markdown table and a PNG.

Talks to: the filesystem; matplotlib (Agg backend, imported inside ``write_png``).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any


def _hist(values: list[Any]) -> dict[str, int]:
    return {str(k): v for k, v in sorted(Counter(values).items())}


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def summarize(attempts: list[dict[str, Any]], accepted: list[dict[str, Any]], truth_mode: str = "pages") -> dict[str, Any]:
    """Aggregate the attempt ledger (every finished attempt) and the accepted records. ``truth_mode``:
    ``world`` when answers were checked against a generated world's fact table, else ``pages``."""
    rejected = [a for a in attempts if a["status"] == "rejected"]
    changes: dict[str, dict[str, Any]] = {}
    for a in attempts:
        for act in a.get("actions", []):
            c = changes.setdefault(act["type"], {"tried": 0, "accepted": 0, "rejected_by_reason": Counter()})
            c["tried"] += 1
            c["accepted"] += int(act["accepted"])
            if not act["accepted"]:
                c["rejected_by_reason"][act.get("reason") or "unknown"] += 1
    skipped: Counter[str] = Counter()
    retried: Counter[str] = Counter()
    for a in attempts:
        skipped.update(a.get("skipped_steps", {}))
        retried.update(a.get("retried", {}))
    truths = [r["truth"] for r in accepted if "truth" in r]
    n_ok = sum(t["correct"] for t in truths)
    accs = [r["direct_gen_accuracy"] for r in accepted]
    return {
        "attempts": len(attempts),
        "accepted": len(accepted),
        "rejected": len(rejected),
        "acceptance_rate": round(len(accepted) / len(attempts), 4) if attempts else None,
        "rejected_by_reason": dict(Counter(a["reason"] for a in rejected).most_common()),
        "rejected_attempts": [{k: a.get(k) for k in ("id", "root", "reason", "detail")} for a in rejected],
        "changes": {k: {**v, "rejected_by_reason": dict(v["rejected_by_reason"])} for k, v in sorted(changes.items())},
        "skipped_steps": dict(skipped),
        "retried": dict(retried),
        "llm_calls": sum(a.get("llm_calls", 0) for a in attempts),
        "truth": {
            "checked": len(truths),
            "correct": n_ok,
            "error_rate": round(1 - n_ok / len(truths), 4) if truths else None,
            "answer_in_root": sum(t["answer_in_root"] for t in truths),
            "answer_in_statement": sum(t["answer_in_statement"] for t in truths),
            "statements_supported": sum(t["statements_supported"] for t in truths),
            "world_fact": sum(t.get("world_fact") is not None for t in truths),
            "mode": truth_mode,
        },
        "stats": {
            "n_statements": _hist([len(r["statements"]) for r in accepted]),
            "n_inject": _hist([r["n_inject"] for r in accepted]),
            "n_fuzz": _hist([r["n_fuzz"] for r in accepted]),
            "direct_gen_accuracy": _hist([round(x, 2) for x in accs]),
            "mean_statements": _mean([len(r["statements"]) for r in accepted]),
            "mean_direct_gen_accuracy": _mean(accs),
        },
    }


def _table(title: str, hist: dict[str, int], key: str) -> list[str]:
    total = sum(hist.values())
    lines = [f"### {title}", "", f"| {key} | QAs | share |", "|---:|---:|---:|"]
    lines += [f"| {k} | {v} | {v / total:.0%} |" for k, v in hist.items()]
    return [*lines, ""] if hist else [f"### {title}", "", "(no accepted QA)", ""]


def to_markdown(summary: dict[str, Any]) -> str:
    """The summary as markdown tables (Figure-5 style distributions first)."""
    s, t = summary["stats"], summary["truth"]
    err = "n/a" if t["error_rate"] is None else f"{t['error_rate']:.1%}"
    lines = [
        "# QA synthesis report", "",
        f"Attempts {summary['attempts']}, accepted {summary['accepted']}, rejected {summary['rejected']}; "
        f"{summary['llm_calls']} LLM calls.", "",
        f"Truth check ({t['mode']}): {t['correct']}/{t['checked']} accepted QAs correct, error rate {err} "
        f"(answer a world fact of the root {t['world_fact']}, answer in root page {t['answer_in_root']}, base "
        f"statement states the answer {t['answer_in_statement']}, all statements supported "
        f"{t['statements_supported']}).", "",
    ]
    lines += _table("Supporting facts per QA", s["n_statements"], "facts")
    lines += _table("Inject actions per QA", s["n_inject"], "injects")
    lines += _table("Fuzz actions per QA", s["n_fuzz"], "fuzzes")
    lines += _table("Direct-answer accuracy (reasoning model, no tools)", s["direct_gen_accuracy"], "accuracy")
    lines += ["### Rejected attempts", "", "| reason | attempts |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in summary["rejected_by_reason"].items()] + [""]
    lines += ["### Changes (actions)", "", "| action | tried | accepted | rejected by reason |", "|---|---:|---:|---|"]
    for name, c in summary["changes"].items():
        reasons = ", ".join(f"{k} {v}" for k, v in c["rejected_by_reason"].items()) or "-"
        lines.append(f"| {name} | {c['tried']} | {c['accepted']} | {reasons} |")
    lines += ["", "### Skipped steps (no usable JSON after retries)", "", "| task | skipped | retries |",
              "|---|---:|---:|"]
    for task in sorted(set(summary["skipped_steps"]) | set(summary["retried"])):
        lines.append(f"| {task} | {summary['skipped_steps'].get(task, 0)} | {summary['retried'].get(task, 0)} |")
    return "\n".join(lines) + "\n"


def write_png(summary: dict[str, Any], path: str | Path) -> None:
    """Four bar charts (facts, injects, fuzzes, direct accuracy) into ``path`` (atomic)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = summary["stats"]
    panels = [("supporting facts", s["n_statements"]), ("inject actions", s["n_inject"]),
              ("fuzz actions", s["n_fuzz"]), ("direct-answer accuracy", s["direct_gen_accuracy"])]
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.2))
    for ax, (name, hist) in zip(axes, panels, strict=True):
        ax.bar(list(hist), list(hist.values()), color="#4c72b0")
        ax.set_title(name)
        ax.set_ylabel("QAs")
    fig.suptitle(f"QA synthesis: {summary['accepted']} accepted of {summary['attempts']} attempts")
    fig.tight_layout()
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, p)


def write_text(path: str | Path, text: str) -> None:
    """Write a file atomically (temp file, then rename)."""
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, p)


def write_reports(summary: dict[str, Any], paths: dict[str, Path]) -> None:
    """``summary.json``, ``report.md`` and ``stats.png`` at the given paths."""
    write_text(paths["summary"], json.dumps(summary, indent=2) + "\n")
    write_text(paths["report"], to_markdown(summary))
    write_png(summary, paths["png"])
