"""Answer scores used as training rewards (pure): F1, EM and cover-EM, exactly as ASearcher trains with
(``ASearcher/utils/rewards.py``; algorithm notes §4.1).

The evaluation engineer may report other variants (e.g. multiset F1); these are the *training* ones:
F1 compares token **sets**, keeps articles, and splits CJK golds into characters (digit runs kept whole).
No I/O; used by ``rewards.base.QAReward``.
"""

from __future__ import annotations

import re
import string

_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_CJK_STRIP = "0123456789，。 ,.-"


def bool_mapping(s: str) -> str:
    """``"True"`` → ``"yes"``, ``"False"`` → ``"no"`` (exact strings only)."""
    return {"True": "yes", "False": "no"}.get(s, s)


def normalize_em(s: str) -> str:
    """EM normalisation: lowercase, drop punctuation, drop a/an/the, collapse whitespace."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", s).split())


def normalize_f1(s: str) -> str:
    """F1 normalisation: punctuation → spaces, collapse whitespace, lowercase (articles kept)."""
    for p in string.punctuation:
        s = s.replace(p, " ")
    return re.sub(r"\s+", " ", s).strip().lower()


def contains_cjk(text: str) -> bool:
    """True if any CJK unified ideograph (basic, extension A–F, compatibility) occurs."""
    for ch in text:
        o = ord(ch)
        if (0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF
                or 0x20000 <= o <= 0x2EBEF):
            return True
    return False


def _cjk_tokens(s: str) -> set[str]:
    """Characters as tokens, except that runs of digits stay one token; listed punctuation dropped."""
    numbers: list[str] = []
    for i, c in enumerate(s):
        if c.isdigit():
            if i > 0 and s[i - 1].isdigit():
                numbers[-1] += c
            else:
                numbers.append(c)
    for c in _CJK_STRIP:
        s = s.replace(c, "")
    return set(s) | set(numbers)


def f1(prediction: str, gold: str) -> float:
    """Set-based token F1: P = |common|/|pred|, R = |common|/|gold| (0 when either side is empty).

    "The Eiffel Tower, Paris" vs "Eiffel Tower" → P = 2/4, R = 1 → 0.6667.
    """
    pred, ref = normalize_f1(bool_mapping(prediction)), normalize_f1(bool_mapping(gold))
    if contains_cjk(ref):
        p_tok, g_tok = _cjk_tokens(pred), _cjk_tokens(ref)
    else:
        p_tok, g_tok = set(pred.split()), set(ref.split())
    if not p_tok or not g_tok:
        return 0.0
    common = len(p_tok & g_tok)
    if common == 0:
        return 0.0
    p, r = common / len(p_tok), common / len(g_tok)
    return 2 * p * r / (p + r)


def em(prediction: str, gold: str) -> float:
    """1.0 iff the EM-normalised strings are equal."""
    return float(normalize_em(bool_mapping(prediction)) == normalize_em(bool_mapping(gold)))


def cem(prediction: str, gold: str) -> float:
    """Cover EM: 1.0 iff every EM-normalised gold token occurs among the prediction's tokens (any order)."""
    pred = normalize_em(bool_mapping(prediction)).split()
    ref = normalize_em(bool_mapping(gold)).split()
    return float(bool(ref) and all(t in pred for t in ref))


SCORERS = {"f1": f1, "em": em, "cem": cem}


def best_score(kind: str, prediction: str | None, golds: list[str]) -> float:
    """Max over gold aliases of the ``kind`` score; 0 when there is no prediction."""
    if kind not in SCORERS:
        raise ValueError(f"unknown score {kind!r}; choose one of {sorted(SCORERS)}")
    if prediction is None or not golds:
        return 0.0
    fn = SCORERS[kind]
    return max(fn(prediction, g) for g in golds)
