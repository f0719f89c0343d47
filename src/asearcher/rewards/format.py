"""Format reward (pure): ASearcher's ``correct_format_fn`` over every LLM output of a trajectory.

Used by ``rewards.base.score_trajectory``; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable


def output_format_ok(text: str) -> bool:
    """One LLM output is well-formed iff: ``<search>``/``<access>``/``<answer>`` tags are balanced, at most
    one such opening tag occurs, neither ``Assistant`` nor ``assistant`` occurs, and ``</think>`` occurs
    at most once."""
    return (
        text.count("<search>") == text.count("</search>")
        and text.count("<access>") == text.count("</access>")
        and text.count("<answer>") == text.count("</answer>")
        and text.count("<search>") + text.count("<access>") + text.count("<answer>") <= 1
        and text.count("Assistant") == 0
        and text.count("assistant") == 0
        and text.count("</think>") <= 1
    )


def format_ok(outputs: Iterable[str]) -> bool:
    """1 iff *every* output passes ``output_format_ok`` (an empty trajectory passes, like ``all([])``)."""
    return all(output_format_ok(t) for t in outputs)
