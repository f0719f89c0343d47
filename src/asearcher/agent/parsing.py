"""Pure parsing of model outputs: the action of an output, its thought, and the final answer.

Used by ``agent.episode`` (actions of think-and-act calls, answers of read calls) and by rewards/evaluation
(``extract_answer``). No I/O, no tokenizer: text in, typed values out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ActionKind = Literal["search", "access", "answer", "invalid"]

ACTION_TAGS = ("search", "access", "answer")

# A complete call whose content holds no other action tag: for "<search>a<search>b</search>" the call is
# "<search>b</search>", and "<search><answer>x</answer></search>" yields the inner answer.
_CALL = re.compile(r"<(search|access|answer)>((?:(?!</?(?:search|access|answer)>).)*?)</\1>", re.DOTALL)
_ANSWER = re.compile(r"<answer>((?:(?!</?answer>).)*?)</answer>", re.DOTALL)
_TAG = re.compile(r"</?(search|access|answer)>")
_THINK_TAGS = re.compile(r"</?(?:think|thought)>")

_USAGE = "write your reasoning, then exactly one of <search>query</search>, <access>url</access> or <answer>answer</answer>"


@dataclass(frozen=True)
class Action:
    """What the model asked for. ``arg`` is the stripped tag content (query, URL or answer); for ``invalid``
    ``error`` says what was wrong, worded for the model."""

    kind: ActionKind
    arg: str = ""
    error: str = ""


def parse_action(text: str) -> Action:
    """The LAST complete tool call in ``text`` among ``<search>``, ``<access>`` and ``<answer>``.

    Anything else is an ``invalid`` action whose ``error`` starts with "no valid action found:" and names
    the problem (a tag left open, a closing tag without an opening one, no tag at all). Empty content is
    still a call (the tools decide that an empty query fails); it is never an exception.
    """
    calls = list(_CALL.finditer(text))
    if calls:
        last = max(calls, key=lambda m: m.end())
        return Action(kind=last.group(1), arg=last.group(2).strip())  # type: ignore[arg-type]
    return Action(kind="invalid", error=f"no valid action found: {_diagnose(text)}; {_USAGE}.")


def _diagnose(text: str) -> str:
    tags = _TAG.findall(text)
    opened = [t for t in ACTION_TAGS if f"<{t}>" in text]
    closed = [t for t in ACTION_TAGS if f"</{t}>" in text]
    if not tags:
        return "the reply contains no action tag"
    for t in opened:
        if t not in closed:
            return f"<{t}> is never closed with </{t}>"
    for t in closed:
        if t not in opened:
            return f"</{t}> appears without an opening <{t}>"
    return "the action tags are mismatched or nested"


def extract_answer(text: str) -> str | None:
    """Stripped content of the last complete ``<answer>…</answer>`` in ``text``, or None."""
    found = _ANSWER.findall(text)
    return found[-1].strip() if found else None


def thought_of(text: str) -> str:
    """The reasoning part of an output: the text before its last action call (or all of it), without
    ``<think>``/``<thought>`` tags. Prompts may pre-fill ``<think>``, so the opening tag is optional."""
    calls = list(_CALL.finditer(text))
    head = text[: max(calls, key=lambda m: m.end()).start()] if calls else text
    m = _TAG.search(head)
    if m:  # an unclosed or stray action tag: the thought ends where it starts
        head = head[: m.start()]
    return _THINK_TAGS.sub("", head).strip()
