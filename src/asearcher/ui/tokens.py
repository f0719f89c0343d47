"""Token-level view of a trajectory for the inspector: every LLM call's new context tokens (loss mask 0) and
sampled tokens (loss mask 1, with logprob and weight version), each decoded on its own.

Talks to: ``rollout.to_samples.merge_calls`` (which calls extend a training row and which start a new one —
the trainer's own rule, not re-implemented here) and the model's tokenizer (``decode`` only).
"""

from __future__ import annotations

from typing import Any

from asearcher.rollout.to_samples import merge_calls
from asearcher.types import Trajectory

_WINDOW = 6
"""Tokens of left context used to decode one token (covers multi-byte characters and leading spaces)."""
_REPLACEMENT = "\ufffd"


def token_texts(tokenizer: Any, ids: list[int]) -> list[str]:
    """The text of each token in context: ``decode(ids[i-w : i+1]) − decode(ids[i-w : i])``.

    Decoding a token alone loses leading spaces (SentencePiece) and splits multi-byte characters; decoding
    it after a few left neighbours does not. A token holding only part of a character gets "" (or the
    complete text before it) and the token completing it gets the whole character. Without a tokenizer each token reads ``⟨id⟩``."""
    if tokenizer is None:
        return [f"⟨{i}⟩" for i in ids]

    def dec(part: list[int]) -> str:
        return tokenizer.decode(part, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    out = []
    for i in range(len(ids)):
        lo = max(0, i - _WINDOW)
        before = dec(ids[lo:i]).rstrip(_REPLACEMENT) if i > lo else ""
        after = dec(ids[lo : i + 1])
        if i + 1 < len(ids):  # an unfinished character belongs to the token that completes it
            after = after.rstrip(_REPLACEMENT)
        if after.startswith(before):
            out.append(after[len(before):])
        else:  # the tokenizer rewrote the left context (rare): fall back to the token alone
            out.append(dec([ids[i]]))
    return out


def _shared_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def call_views(traj: Trajectory, tokenizer: Any, consumer: int | None = None) -> list[dict[str, Any]]:
    """One dict per LLM call of ``traj``.

    Keys: ``index``, ``purpose``, ``finish_reason``, ``text``, ``row`` (training row the call belongs to,
    after prefix merging), ``fork`` (True when the call starts a new row: its prompt does not extend an earlier
    sequence), ``input_len``, ``shared`` (prompt tokens identical to the previous call's prompt + output, not
    repeated), ``context`` (``ids``/``text`` of the remaining prompt tokens: prompt or tool text, loss mask 0),
    ``output`` (``ids``/``text``/``logprobs``/``versions`` of the sampled tokens, loss mask 1),
    ``logprob_mean``, ``version_min``/``version_max`` and ``staleness`` (``consumer − version_min``; None when
    the training version is unknown or the engine gave no versions).
    """
    _, drifts = merge_calls(traj.calls)
    views = []
    row, prev = 0, None
    for i, (call, drift) in enumerate(zip(traj.calls, drifts, strict=True)):
        fork = i > 0 and drift == "fork"
        row += int(fork)
        shared = _shared_prefix(call.input_ids, prev.input_ids + prev.output_ids) if prev is not None else 0
        ctx = call.input_ids[shared:]
        vers = [v for v in call.output_versions if v >= 0]
        lps = call.output_logprobs
        views.append({
            "index": i, "purpose": call.purpose, "finish_reason": call.finish_reason, "text": call.text,
            "row": row, "fork": fork, "input_len": len(call.input_ids), "shared": shared,
            "context": {"ids": ctx, "text": token_texts(tokenizer, ctx)},
            "output": {"ids": call.output_ids, "text": token_texts(tokenizer, call.output_ids),
                       "logprobs": lps, "versions": call.output_versions},
            "logprob_mean": sum(lps) / len(lps) if lps and vers else None,
            "version_min": min(vers, default=None), "version_max": max(vers, default=None),
            "staleness": consumer - min(vers) if consumer is not None and vers else None,
        })
        prev = call
    return views
