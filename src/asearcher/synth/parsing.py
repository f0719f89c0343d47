"""Pure helpers of the QA synthesis agent: pull a JSON object out of an LLM reply, check its fields,
normalise answers, and measure lexical support. No I/O, no models (tested against hand-computed values).
"""

from __future__ import annotations

import json
import re
import string
from typing import Any

from asearcher.errors import AsearcherError


class ReplyError(AsearcherError):
    """An LLM reply is not what was asked for; the message is fed back to the model on a retry."""


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
_DECODER = json.JSONDecoder()


def parse_json_object(text: str) -> dict[str, Any]:
    """The first JSON object in ``text``: inside a ```json fence if there is one, else the first ``{``
    that starts a decodable object. Raises ``ReplyError`` saying what was wrong."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for chunk in candidates:
        for start in (i for i, c in enumerate(chunk) if c == "{"):
            try:
                obj, _ = _DECODER.raw_decode(chunk, start)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                return obj
    if "{" not in text:
        raise ReplyError("the reply contains no JSON object (no '{' found)")
    raise ReplyError("the reply contains '{' but no complete, valid JSON object (check quotes, commas, braces)")


def get_str(obj: dict[str, Any], key: str, allow_empty: bool = False) -> str:
    """``obj[key]`` as a stripped string; ``ReplyError`` when it is missing, not a string, or empty."""
    if key not in obj:
        raise ReplyError(f"the JSON object has no key {key!r} (keys: {sorted(obj)})")
    value = obj[key]
    if not isinstance(value, str):
        raise ReplyError(f"{key!r} must be a string, got {type(value).__name__}")
    value = value.strip()
    if not value and not allow_empty:
        raise ReplyError(f"{key!r} must not be empty")
    return value


def get_bool(obj: dict[str, Any], key: str) -> bool:
    """``obj[key]`` as a bool (JSON true/false, or the strings "true"/"false"/"yes"/"no")."""
    if key not in obj:
        raise ReplyError(f"the JSON object has no key {key!r} (keys: {sorted(obj)})")
    value = obj[key]
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "yes", "false", "no"}:
        return value.strip().lower() in {"true", "yes"}
    raise ReplyError(f"{key!r} must be true or false, got {value!r}")


def get_str_list(obj: dict[str, Any], key: str, min_len: int = 1) -> list[str]:
    """``obj[key]`` as a list of non-empty strings (at least ``min_len`` of them)."""
    if key not in obj:
        raise ReplyError(f"the JSON object has no key {key!r} (keys: {sorted(obj)})")
    value = obj[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ReplyError(f"{key!r} must be a list of strings")
    items = [v.strip() for v in value if v.strip()]
    if len(items) < min_len:
        raise ReplyError(f"{key!r} must hold at least {min_len} non-empty string(s)")
    return items


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans({c: " " for c in string.punctuation})


def normalize(text: str) -> str:
    """SQuAD-style answer normalisation: lower case, punctuation → space, drop articles, squeeze spaces."""
    text = _ARTICLES.sub(" ", text.lower().translate(_PUNCT))
    return " ".join(text.split())


def contains_phrase(haystack: str, needle: str) -> bool:
    """True when the normalised ``needle`` occurs in the normalised ``haystack`` on word boundaries."""
    n = normalize(needle)
    return bool(n) and f" {n} " in f" {normalize(haystack)} "


def answer_matches(pred: str, gold: str) -> bool:
    """Cheap, certain match: equal after normalisation, or the gold answer appears as a phrase in a short
    prediction (at most 3 words more than the gold). Anything else goes to the LLM judge."""
    p, g = normalize(pred), normalize(gold)
    if not p or not g:
        return False
    return p == g or (contains_phrase(p, g) and len(p.split()) <= len(g.split()) + 3)


_DIRECT = re.compile(r"(?:final answer|answer)\s*[:：]\s*(.+)", re.IGNORECASE)


def extract_direct_answer(text: str, max_chars: int = 200) -> str:
    """The answer of a free-text direct reply: what follows the last "Answer:" (first line of it), else
    the last non-empty line. Reasoning text before it is ignored."""
    text = re.sub(r"<think>.*?</think>", " ", text, flags=re.DOTALL)
    matches = _DIRECT.findall(text)
    if matches:
        ans = matches[-1].strip().splitlines()[0]
    else:
        lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
        ans = lines[-1] if lines else ""
    return ans.strip().strip("*").strip()[:max_chars]


STOPWORDS = frozenset(
    "a an the of in on at by for with from to and or is are was were be been being it its this that these "
    "those as which who whom whose what when where why how he she they them his her their there than then "
    "also into onto over under after before during about".split()
)


def content_words(text: str) -> list[str]:
    """Normalised words of ``text`` without stopwords (order kept, duplicates kept)."""
    return [w for w in normalize(text).split() if w not in STOPWORDS]


def support(statement: str, page_text: str) -> float:
    """Fraction of the statement's distinct content words that occur in the page (1.0 for none).

    support = |W(statement) ∩ W(page)| / |W(statement)|, with W = set of content words."""
    words = set(content_words(statement))
    if not words:
        return 1.0
    page_words = set(normalize(page_text).split())
    return len(words & page_words) / len(words)
