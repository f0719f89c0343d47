"""``asearcher eval score``: score an existing predictions file against a dataset, without any model.

Reads JSON lines ``{"id", "prediction": str | null}`` (one sample; repeated ids add samples),
``{"id", "prediction": [str, …]}`` or ``{"id", "predictions": [str, …]}`` (k samples), or an evaluation's own
``trajectories.jsonl`` (encrypted records of protected benchmarks are decrypted in memory). Produces the same
summary as ``evaluation.runner`` via ``report.summarize``; talks to the judge when one is given.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asearcher.errors import DataError
from asearcher.evaluation.datasets import Dataset
from asearcher.evaluation.metrics import DEFAULT_METRICS
from asearcher.evaluation.report import DEFAULT_BREAKDOWNS, Sample, summarize
from asearcher.evaluation.runner import open_record
from asearcher.jsonl import iter_objects

log = logging.getLogger(__name__)


def _as_preds(path: Path, n: int, value: Any) -> list[str | None]:
    values = value if isinstance(value, list) else [value]
    for v in values:
        if v is not None and not isinstance(v, str | int | float):
            raise DataError(path, n, f"a prediction must be a string or null, got {type(v).__name__}")
    return [None if v is None else str(v) for v in values]


def read_predictions(path: str | Path, dataset: Dataset) -> dict[str, list[Sample]]:
    """Question id → samples ``{"prediction", "confidence"}`` in sample order (``sample`` fields order them when
    present; ``confidence`` is kept from evaluation records, for best-of-k, and so are their episode ``stats``)."""
    p = Path(path)
    by_id = {e.id: e for e in dataset.examples}
    found: dict[str, list[tuple[int, int, Sample]]] = {}
    if not p.is_file():
        raise DataError(p, None, "predictions file not found")
    for n, rec in iter_objects(p, '{"id", "prediction"}'):
        if "id" not in rec:
            raise DataError(p, n, "each line needs an \"id\" and a \"prediction\" (or \"predictions\")")
        qid = str(rec["id"])
        if qid not in by_id:
            raise DataError(p, n, f"id {qid!r} is not in dataset {dataset.name}; check --data")
        if "enc" in rec:
            rec = open_record(rec, by_id[qid])
        if "predictions" in rec:
            preds = _as_preds(p, n, rec["predictions"])
        elif "prediction" in rec:
            preds = _as_preds(p, n, rec["prediction"])
        else:
            raise DataError(p, n, "missing \"prediction\" (or \"predictions\")")
        order = int(rec.get("sample", len(found.get(qid, []))))
        conf = rec.get("confidence") if len(preds) == 1 else None
        # an evaluation record's episode stats, so a re-scored run reports its tool calls as well
        stats = {"stats": rec["stats"]} if len(preds) == 1 and isinstance(rec.get("stats"), dict) else {}
        found.setdefault(qid, []).extend((order, n * 1000 + i, {"prediction": pr, "confidence": conf, **stats})
                                         for i, pr in enumerate(preds))
    return {qid: [sample for _, _, sample in sorted(items, key=lambda t: t[:2])] for qid, items in found.items()}


async def score_predictions(dataset: Dataset, predictions: str | Path, *, metrics: Sequence[str] = DEFAULT_METRICS,
                            breakdowns: Sequence[str] = DEFAULT_BREAKDOWNS, judge: Any = None) -> dict[str, Any]:
    """Summary of a predictions file over ``dataset`` (questions without predictions count as unanswered and
    are reported as ``missing``); k = the largest number of predictions of one question."""
    preds = read_predictions(predictions, dataset)
    k = max((len(v) for v in preds.values()), default=1)
    metrics = [*metrics, "judge"] if judge is not None else list(metrics)
    samples: dict[str, list[Sample]] = {}
    for ex in dataset.examples:
        for sample in preds.get(ex.id, []):
            scores = {}
            if judge is not None:
                scores["judge"] = (await judge.judge(ex.question, ex.answers, sample["prediction"])).score
            samples.setdefault(ex.id, []).append({**sample, "scores": scores})
    missing = sum(1 for ex in dataset.examples if ex.id not in preds)
    if missing:
        log.warning("%d of %d questions have no prediction (scored as unanswered)", missing, len(dataset.examples))
    return summarize(dataset.name, dataset.examples, samples, metrics=metrics, k=k, breakdowns=breakdowns,
                     judge=judge.info() if judge is not None else None)
