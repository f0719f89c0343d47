"""The evaluation runner: agent episodes over a question set, k samples each, with bounded concurrency, a progress
bar, one JSONL record per finished sample (appended and flushed as it finishes), resume, and the summary.

Talks to the agent (``asearcher.agent.run_episode``), any ``InferenceEngine`` (in-process or OpenAI-compatible),
any ``Tools``, the optional ``LLMJudge``, and ``report`` for the summary. Used by ``asearcher eval`` and by
``asearcher train`` (base / warm-started / final policy on the world's test split).

Output of ``evaluate(out_dir=D)``:

- ``D/trajectories.jsonl``: one line per finished (question, sample): ``id``, ``sample``, ``prediction``,
  ``scores``, ``confidence``, ``finish``, ``stats``, ``error``, ``trajectory``. For protected benchmarks
  (GAIA, xbench) ``prediction`` and ``trajectory`` are replaced by ``enc`` = base64(XOR(json, key=canary)).
- ``D/summary.json`` + ``D/summary.md``: see ``report.summarize``; deterministic for a given set of records.
- ``D/run.json``: the run's fingerprint (resume refuses a different one) and the timing of the last run.

Resume: re-running with the same ``out_dir`` skips (question, sample) pairs already in the JSONL (a torn last
line from a killed run is dropped); the summary is computed from the records, so an interrupted-and-resumed
greedy run summarizes exactly like an uninterrupted one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from asearcher.errors import ConfigError, DataError
from asearcher.evaluation import protect
from asearcher.evaluation.metrics import DEFAULT_METRICS, METRICS, score_answer
from asearcher.evaluation.report import DEFAULT_BREAKDOWNS, Sample, summarize, write_summary
from asearcher.types import Example, Trajectory

log = logging.getLogger(__name__)

EpisodeFn = Callable[..., Awaitable[Trajectory]]
"""``run_episode(agent, engine, tools, example, max_turns, *, valid_instruction, temperature, trajectory_id)``."""

RECORDS = "trajectories.jsonl"


def read_records(path: Path, repair: bool = False) -> list[dict[str, Any]]:
    """Records of a trajectories file. Every newline-terminated line must parse (else ``DataError``); an
    unterminated tail is a record torn by a killed run: dropped, and cut from the file when ``repair``."""
    if not path.exists():
        return []
    raw = path.read_bytes()
    body_end = raw.rfind(b"\n") + 1
    records = []
    for n, line in enumerate(raw[:body_end].split(b"\n")[:-1], start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            raise DataError(path, n, "corrupt record; delete this line (that sample is re-run) or use a new "
                                     "--out") from None
    if body_end < len(raw):
        log.warning("%s: dropping a torn last record (%d bytes) of an interrupted run", path, len(raw) - body_end)
        if repair:
            with path.open("r+b") as f:
                f.truncate(body_end)
    return records


def _protected_key(ex: Example) -> str | None:
    return ex.meta.get("canary") if ex.meta.get("protected") else None


def open_record(rec: dict[str, Any], ex: Example) -> dict[str, Any]:
    """The record with ``prediction``/``trajectory`` decrypted in memory (protected benchmarks)."""
    if "enc" not in rec:
        return rec
    key = _protected_key(ex)
    if key is None:
        raise DataError(RECORDS, None, f"record {rec.get('id')!r} is encrypted but its example is not protected")
    return {**rec, **json.loads(protect.decrypt(rec["enc"], key))}


def _confidence(traj: Trajectory) -> float | None:
    """Mean token logprob of the last call (the one that answered); None for text-only engines (their
    calls carry version -1 and no real logprobs)."""
    last = traj.calls[-1] if traj.calls else None
    if traj.answer is None or last is None or not last.output_logprobs or min(last.output_versions) < 0:
        return None
    lps = last.output_logprobs
    return sum(lps) / len(lps)


def _trajectory_json(traj: Trajectory, save_tokens: bool) -> dict[str, Any]:
    if save_tokens:
        return traj.model_dump(mode="json")
    d = traj.model_dump(mode="json", exclude={"calls"})
    d["calls"] = [{"purpose": c.purpose, "text": c.text, "finish_reason": c.finish_reason,
                   "input_tokens": len(c.input_ids), "output_tokens": len(c.output_ids)} for c in traj.calls]
    return d


def make_record(ex: Example, sample: int, traj: Trajectory, scores: dict[str, float],
                save_tokens: bool = False) -> dict[str, Any]:
    """The JSONL record of one finished sample (encrypted body for protected examples)."""
    st = traj.stats
    rec: dict[str, Any] = {
        "id": ex.id, "sample": sample, "scores": scores, "confidence": _confidence(traj), "finish": st.finish,
        "stats": {"turns": st.turns, "searches": st.searches, "accesses": st.accesses,
                  "tool_failures": st.tool_failures, "invalid_actions": st.invalid_actions,
                  "input_tokens": st.input_tokens, "output_tokens": st.output_tokens},
        "error": traj.error,
    }
    body = {"prediction": traj.answer, "trajectory": _trajectory_json(traj, save_tokens)}
    key = _protected_key(ex)
    if key is not None:
        rec["protected"] = ex.meta["protected"]
        rec["enc"] = protect.encrypt(json.dumps(body, ensure_ascii=False), key)
    else:
        rec.update(body)
    return rec


def check_fingerprint(out_dir: str | Path, fingerprint: dict[str, Any] | None) -> None:
    """Raise ``ConfigError`` when ``out_dir`` holds records made under a different ``fingerprint``."""
    out_dir = Path(out_dir)
    path = out_dir / "run.json"
    if fingerprint is None or not path.exists() or not read_records(out_dir / RECORDS):
        return
    old = json.loads(path.read_text()).get("fingerprint")
    if old is not None and old != fingerprint:
        diff = sorted(k for k in set(old) | set(fingerprint) if old.get(k) != fingerprint.get(k))
        raise ConfigError(f"{out_dir} holds results of a different configuration (differs in {diff}); "
                          "use a new --out, or delete the folder to start over")


async def evaluate(examples: Sequence[Example], agent: Any, engine: Any, tools: Any, *, k: int = 1,
                   concurrency: int = 8, out_dir: str | Path, dataset: str = "eval",
                   metrics: Sequence[str] = DEFAULT_METRICS, judge: Any = None, temperature: float | None = 0.0,
                   max_turns: int | None = None, valid_instruction: bool = True,
                   breakdowns: Sequence[str] = DEFAULT_BREAKDOWNS, save_tokens: bool = False,
                   fingerprint: dict[str, Any] | None = None, progress: bool = True,
                   episode_fn: EpisodeFn | None = None) -> dict[str, Any]:
    """Run (or resume) an evaluation and return its summary (also written to ``out_dir``).

    Args:
        examples: questions (ids unique).
        agent, engine, tools: what ``run_episode`` needs (``build_agent``, any engine, any ``Tools``).
        k: samples per question (Avg@k / Pass@k).
        concurrency: episodes in flight at once.
        out_dir: output folder (see the module docstring); re-running resumes.
        dataset: name in the summary.
        metrics: lexical metrics (``metrics.METRICS`` keys); ``judge`` is added when ``judge`` is given.
        judge: an ``LLMJudge`` (optional).
        temperature: sampling temperature of the agent (0 = greedy; None = the agent's own).
        max_turns: per-episode LLM-call limit (None = the agent's).
        valid_instruction: prompt variant allowing "the question is invalid" (ASearcher's eval default).
        breakdowns: example meta keys to break the summary down by.
        save_tokens: keep token ids of every call in the records (large).
        fingerprint: settings that must match to resume into ``out_dir``.
        progress: show a tqdm progress bar.
        episode_fn: replaces ``asearcher.agent.run_episode`` (tests).
    """
    if episode_fn is None:
        from asearcher.agent import run_episode as episode_fn  # noqa: N813
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ConfigError(f"unknown metric(s) {unknown}; choose from {sorted(METRICS)} (add a judge for 'judge')")
    if len({e.id for e in examples}) != len(examples):
        raise DataError(dataset, None, "duplicate question ids; ids must be unique to resume")
    metrics = [*metrics, "judge"] if judge is not None else list(metrics)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / RECORDS
    by_id = {e.id: e for e in examples}
    done: dict[tuple[str, int], dict[str, Any]] = {}
    for rec in read_records(path, repair=True):
        if rec.get("id") in by_id and 0 <= int(rec.get("sample", 0)) < k:
            done[(rec["id"], int(rec.get("sample", 0)))] = rec
    check_fingerprint(out, fingerprint)
    pending = [(e, j) for e in examples for j in range(k) if (e.id, j) not in done]
    t0 = time.time()
    _write_run(out, fingerprint, {"started": t0, "resumed_samples": len(done), "pending_samples": len(pending)})
    if done:
        log.info("%s: resuming — %d of %d samples already done", dataset, len(done), len(examples) * k)

    bar = _progress_bar(len(examples) * k, len(done), dataset, progress)
    sem = asyncio.Semaphore(concurrency)
    with path.open("a", encoding="utf-8") as f:

        async def one(ex: Example, j: int) -> None:
            async with sem:
                traj = await episode_fn(agent, engine, tools, ex, max_turns, valid_instruction=valid_instruction,
                                        temperature=temperature, trajectory_id=f"{ex.id}#{j}")
                scores = score_answer(traj.answer, ex.answers, [m for m in metrics if m in METRICS])
                if judge is not None:
                    scores["judge"] = (await judge.judge(ex.question, ex.answers, traj.answer)).score
            rec = make_record(ex, j, traj, scores, save_tokens)
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            f.flush()
            done[(ex.id, j)] = rec
            bar.update(1)

        try:
            async with asyncio.TaskGroup() as tg:
                for ex, j in pending:
                    tg.create_task(one(ex, j))
        except BaseExceptionGroup as group:  # the first failing episode fails the run, with its own error
            first: BaseException = group
            while isinstance(first, BaseExceptionGroup):
                first = first.exceptions[0]
            raise first from None
        finally:
            bar.close()

    summary = await _summary(examples, done, metrics, k, dataset, judge, breakdowns)
    write_summary(out, summary)
    _write_run(out, fingerprint, {"started": t0, "finished": time.time(), "resumed_samples": len(done) - len(pending),
                                  "ran_samples": len(pending), "elapsed_s": round(time.time() - t0, 3)})
    return summary


async def _summary(examples: Sequence[Example], done: dict[tuple[str, int], dict[str, Any]], metrics: list[str],
                   k: int, dataset: str, judge: Any, breakdowns: Sequence[str]) -> dict[str, Any]:
    """Summary from the records; records judged before the judge was enabled are judged now (cache first)."""
    by_id = {e.id: e for e in examples}
    samples: dict[str, list[Sample]] = {}
    for (qid, _j), rec in sorted(done.items(), key=lambda kv: kv[0][1]):
        ex = by_id[qid]
        rec = open_record(rec, ex)
        if judge is not None and "judge" not in rec["scores"]:
            rec = {**rec, "scores": {**rec["scores"],
                                     "judge": (await judge.judge(ex.question, ex.answers, rec["prediction"])).score}}
        samples.setdefault(qid, []).append(rec)
    return summarize(dataset, examples, samples, metrics=metrics, k=k, breakdowns=breakdowns,
                     judge=judge.info() if judge is not None else None)


def _write_run(out: Path, fingerprint: dict[str, Any] | None, info: dict[str, Any]) -> None:
    path = out / "run.json"
    tmp = path.with_name("run.json.tmp")
    tmp.write_text(json.dumps({"fingerprint": fingerprint, **info}, indent=2, default=str) + "\n")
    tmp.replace(path)


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, initial: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="ep", dynamic_ncols=True, leave=True)
