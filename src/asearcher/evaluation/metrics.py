"""Answer metrics (pure functions): EM, F1, cover-EM, sub-EM, ASearcher's set-F1, and the aggregations over
k samples (Avg@k, Pass@k, majority vote, best-of-k) and over groups (per source, per hop count).

Used by ``evaluation.runner`` (scoring trajectories), ``evaluation.report`` and ``asearcher eval score``.
Nothing here does I/O.

Normalisation (the community standard, SQuAD v1.1 ``normalize_answer``, as FlashRAG and Search-R1 report):
lowercase → drop ASCII punctuation → drop the articles a/an/the → collapse whitespace. After that a whole answer
``true``/``false`` reads as ``yes``/``no`` (HotpotQA and 2Wiki gold answers are yes/no). Every metric takes the
max over the gold aliases; a missing prediction (``None``) scores 0.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_BOOL = {"true": "yes", "false": "no"}


def normalize_answer(s: str) -> str:
    """SQuAD v1.1 normalisation: lowercase, remove punctuation, articles and extra whitespace."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", s).split())


def canonical(s: str) -> str:
    """``normalize_answer`` plus True/False → yes/no (a whole answer only)."""
    n = normalize_answer(s)
    return _BOOL.get(n, n)


def _best(pred: str | None, golds: Sequence[str], fn: Callable[[str, str], float]) -> float:
    if pred is None or not golds:
        return 0.0
    return max(fn(pred, g) for g in golds)


def _em1(pred: str, gold: str) -> float:
    return float(canonical(pred) == canonical(gold))


def _f1(pred: str, gold: str) -> float:
    p, g = canonical(pred), canonical(gold)
    # SQuAD/HotpotQA: a yes/no/noanswer answer must match exactly (no partial credit).
    if (p in ("yes", "no", "noanswer") or g in ("yes", "no", "noanswer")) and p != g:
        return 0.0
    pt, gt = p.split(), g.split()
    if not pt or not gt:
        return float(pt == gt)
    same = sum((Counter(pt) & Counter(gt)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pt), same / len(gt)
    return 2 * precision * recall / (precision + recall)


def _cem1(pred: str, gold: str) -> float:
    gt = canonical(gold).split()
    pt = set(canonical(pred).split())
    return float(bool(gt) and all(t in pt for t in gt))


def _sub_em1(pred: str, gold: str) -> float:
    g = canonical(gold)
    return float(bool(g) and g in canonical(pred))


def exact_match(pred: str | None, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised gold alias."""
    return _best(pred, golds, _em1)


def f1(pred: str | None, golds: Sequence[str]) -> float:
    """SQuAD token F1 over token **multisets** (the default F1).

    ``P = |pred ∩ gold| / |pred|``, ``R = |pred ∩ gold| / |gold|`` (∩ of multisets), ``F1 = 2PR / (P + R)``;
    a yes/no/noanswer prediction or gold scores 0 unless both are equal."""
    return _best(pred, golds, _f1)


def cover_em(pred: str | None, golds: Sequence[str]) -> float:
    """Cover-EM (CEM, as ASearcher's evaluation): 1.0 when every normalised gold token occurs in the prediction."""
    return _best(pred, golds, _cem1)


def sub_em(pred: str | None, golds: Sequence[str]) -> float:
    """Sub-EM (FlashRAG / Search-R1 ``subem``): 1.0 when the normalised gold is a substring of the prediction."""
    return _best(pred, golds, _sub_em1)


def asearcher_train_f1(pred: str | None, golds: Sequence[str]) -> float:
    """ASearcher's training-reward F1 (an option, not the default; ``rewards.qa.f1``): lowercase, punctuation →
    spaces, articles kept, tokens form a **set**; CJK golds compare characters (digit runs kept whole).
    "The Eiffel Tower, Paris" vs "Eiffel Tower" → P = 2/4, R = 2/2, F1 = 0.6667."""
    from asearcher.rewards.qa import best_score

    return best_score("f1", pred, list(golds))


METRICS: dict[str, Callable[[str | None, Sequence[str]], float]] = {
    "em": exact_match,
    "f1": f1,
    "cem": cover_em,
    "sub_em": sub_em,
    "asearcher_f1": asearcher_train_f1,
}
"""Metric name → function(prediction, gold aliases). ``f1`` is the headline metric by default."""

DEFAULT_METRICS = ("em", "f1", "cem", "sub_em")


def score_answer(pred: str | None, golds: Sequence[str], metrics: Sequence[str] = DEFAULT_METRICS) -> dict[str, float]:
    """All requested metrics of one prediction."""
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {sorted(METRICS)}")
    return {m: METRICS[m](pred, golds) for m in metrics}


# ---- aggregation over k samples -------------------------------------------------------------------------------


def avg_at_k(scores: Sequence[Sequence[float]]) -> float:
    """Avg@k: mean over questions of the mean over that question's k samples."""
    if not scores:
        return 0.0
    return sum(sum(s) / len(s) for s in scores) / len(scores)


def pass_at_k(scores: Sequence[Sequence[float]]) -> float:
    """Pass@k: mean over questions of the best of that question's k samples (for 0/1 metrics: solved by any)."""
    if not scores:
        return 0.0
    return sum(max(s) for s in scores) / len(scores)


def majority_vote(predictions: Sequence[str | None]) -> str | None:
    """The most frequent prediction by normalised form (ties: the earliest); None only if all are None."""
    votes = [(canonical(p), i) for i, p in enumerate(predictions) if p is not None]
    if not votes:
        return None
    counts = Counter(n for n, _ in votes)
    top = max(counts.values())
    winner = next(n for n, _ in votes if counts[n] == top)
    return predictions[next(i for n, i in votes if n == winner)]


def best_of_k(predictions: Sequence[str | None], confidences: Sequence[float | None]) -> str | None:
    """The prediction with the highest confidence (e.g. the answer call's mean token logprob); ties → earliest.
    Samples without a prediction or without a confidence are never chosen."""
    best, best_c = None, None
    for p, c in zip(predictions, confidences, strict=True):
        if p is not None and c is not None and (best_c is None or c > best_c):
            best, best_c = p, c
    return best


# ---- summaries ------------------------------------------------------------------------------------------------


def aggregate(rows: Sequence[dict[str, Any]], metrics: Sequence[str]) -> dict[str, Any]:
    """Summary of scored questions.

    Args:
        rows: one per question: ``{"answers": [gold…], "predictions": [k preds], "scores": {metric: [k scores]},
            "confidences": [k floats|None], "samples": [k records]}`` (``confidences`` and ``samples`` optional;
            samples with episode ``stats`` give ``tool_calls``).
        metrics: metric names present in ``scores`` (``judge`` allowed; it has no vote/best-of scoring).

    Returns:
        ``{"n": questions, "k": samples per question, "answered": fraction of samples with an answer,
        "tool_calls"?: mean tool calls per sample with stats,
        "<metric>": {"avg@k", "pass@k", "maj@k", "best@k"?}}``; ``maj@k`` re-scores the majority-vote answer,
        ``best@k`` (only when every question has a confidence) the most confident one.
    """
    out: dict[str, Any] = {"n": len(rows)}
    if not rows:
        return out
    ks = {len(r["predictions"]) for r in rows}
    out["k"] = max(ks)
    total = sum(len(r["predictions"]) for r in rows)
    out["answered"] = sum(p is not None for r in rows for p in r["predictions"]) / total
    stats = [s["stats"] for r in rows for s in r.get("samples", ()) if "stats" in s]
    if stats:  # episode records (a predictions file has none): mean searches + page accesses per sample
        out["tool_calls"] = sum(float(st.get("searches", 0)) + float(st.get("accesses", 0)) for st in stats) / len(stats)
    have_conf = all(any(c is not None for c in r.get("confidences") or []) for r in rows)
    for m in metrics:
        per_q = [r["scores"][m] for r in rows]
        entry = {"avg@k": avg_at_k(per_q), "pass@k": pass_at_k(per_q)}
        if m in METRICS:
            entry["maj@k"] = sum(METRICS[m](majority_vote(r["predictions"]), r["answers"]) for r in rows) / len(rows)
            if have_conf:
                entry["best@k"] = sum(METRICS[m](best_of_k(r["predictions"], r["confidences"]), r["answers"])
                                      for r in rows) / len(rows)
        out[m] = entry
    return out


def breakdown(rows: Sequence[dict[str, Any]], key: Callable[[dict[str, Any]], Any],
              metrics: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``aggregate`` per group (``key(row)`` → group; rows whose key is None are left out), groups sorted."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        g = key(r)
        if g is not None:
            groups.setdefault(str(g), []).append(r)
    order = sorted(groups, key=lambda g: (0, int(g)) if g.isdigit() else (1, g))
    return {g: aggregate(groups[g], metrics) for g in order}
