"""Run many synthesis attempts: concurrency-limited, resumable, with a progress bar, then write the
summary, the markdown report and the PNG.

Files (``out`` = ``DIR/NAME.jsonl``): ``NAME.jsonl`` accepted QA (appended per finished attempt),
``NAME.attempts.jsonl`` every finished attempt (the resume ledger: a rerun skips ids found in either
file), ``NAME.summary.json``, ``NAME.report.md``, ``NAME.stats.png``, ``NAME.config.yaml``.

Talks to: ``agent.SynthAgent`` (attempts), ``truth`` and ``report`` (outputs), the filesystem.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import IO, Any

from asearcher.config.base import save_config
from asearcher.config.synth import SynthConfig
from asearcher.jsonl import iter_objects
from asearcher.synth.agent import SynthAgent
from asearcher.synth.llm import Role
from asearcher.synth.pages import PageGraph
from asearcher.synth.report import summarize, write_reports
from asearcher.synth.truth import load_world_facts, truth_check

log = logging.getLogger(__name__)

_LEDGER_ONLY = ("status", "reason", "detail")


def output_paths(out: str | Path) -> dict[str, Path]:
    """All files of a run, named after ``out``."""
    p = Path(out)
    stem = p.name[: -len(".jsonl")] if p.name.endswith(".jsonl") else p.name
    side = {"attempts": ".attempts.jsonl", "summary": ".summary.json", "report": ".report.md",
            "png": ".stats.png", "config": ".config.yaml"}
    return {"out": p, **{k: p.with_name(stem + ext) for k, ext in side.items()}}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of an append-only JSONL file. A last line cut short by a crash (no newline) is removed
    with a warning; any other bad line is a ``DataError``."""
    if not path.exists():
        return []
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
        log.warning("%s: dropping an unfinished last line (%d bytes) left by an interrupted run",
                    path, len(data) - keep)
        with path.open("r+b") as f:
            f.truncate(keep)
        data = data[:keep]
    return [row for _, row in iter_objects(path, "(one record)", data.decode("utf-8").splitlines(),
                                           hint="delete the line or the file to redo it")]


def attempt_ids(cfg: SynthConfig) -> list[tuple[int, str]]:
    return [(i, f"{cfg.id_prefix}-{cfg.seed}-{i:05d}") for i in range(cfg.n)]


def _append(f: IO[str], record: dict[str, Any]) -> None:
    f.write(json.dumps(record, ensure_ascii=False) + "\n")  # one write per record: a crash cuts one line at most
    f.flush()


def _progress(cfg: SynthConfig, done: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=cfg.n, initial=done, disable=not cfg.progress, desc="synth", unit="attempt", leave=False)


async def run_synthesis(cfg: SynthConfig, graph: PageGraph, instruct: Role, reasoning: Role) -> dict[str, Any]:
    """Run the attempts of ``cfg`` that are not done yet, append their records, and write the reports of
    the whole run (earlier runs included). Returns the summary. Engine errors propagate (what finished so
    far stays on disk; rerun to resume)."""
    paths = output_paths(cfg.out)
    paths["out"].parent.mkdir(parents=True, exist_ok=True)
    save_config(cfg, paths["config"])
    done = {r["id"] for r in read_jsonl(paths["attempts"])} | {r["id"] for r in read_jsonl(paths["out"])}
    todo = [(i, aid) for i, aid in attempt_ids(cfg) if aid not in done]
    if done:
        log.info("resuming: %d attempt(s) done, %d to run", cfg.n - len(todo), len(todo))
    agent = SynthAgent(graph, instruct, reasoning, cfg)
    world = load_world_facts(graph.path)
    sem = asyncio.Semaphore(cfg.concurrency)
    bar = _progress(cfg, cfg.n - len(todo))
    counts = {"accepted": 0, "rejected": 0}

    async def one(index: int, attempt_id: str, fout: IO[str], fledger: IO[str]) -> None:
        async with sem:
            rec = await agent.attempt(attempt_id, index)
        rec["seed"] = cfg.seed
        if rec["status"] == "accepted":
            rec["truth"] = truth_check(rec, graph, cfg.support_threshold, world)
            out = {"id": rec["id"], "question": rec["question"], "answer": rec["answer"], "answers": [rec["answer"]]}
            out.update((k, v) for k, v in rec.items() if k not in out and k not in _LEDGER_ONLY)
            _append(fout, out)
        _append(fledger, rec)
        counts[rec["status"]] += 1
        bar.update(1)
        bar.set_postfix(counts)

    try:
        with paths["out"].open("a", encoding="utf-8") as fout, paths["attempts"].open("a", encoding="utf-8") as fl:
            async with asyncio.TaskGroup() as tg:
                for index, attempt_id in todo:
                    tg.create_task(one(index, attempt_id, fout, fl))
    finally:
        bar.close()
    return write_run_reports(cfg, "pages" if world is None else "world")


def write_run_reports(cfg: SynthConfig, truth_mode: str) -> dict[str, Any]:
    """Summarise the run's files into ``summary.json``, ``report.md`` and ``stats.png``."""
    paths = output_paths(cfg.out)
    attempts = read_jsonl(paths["attempts"])
    accepted = read_jsonl(paths["out"])
    seen = {a["id"] for a in attempts}
    # an accepted QA whose ledger line was lost in a crash still counts as an accepted attempt
    attempts += [{**r, "status": "accepted", "reason": ""} for r in accepted if r["id"] not in seen]
    summary = summarize(attempts, accepted, truth_mode)
    write_reports(summary, paths)
    return summary
