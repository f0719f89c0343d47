"""Truth check of synthesized QA against the pages (a measured error rate of the synthesis agent).

On the generated world every page is rendered from the world's facts, so the pages are the truth. For an
accepted QA the check asks three things, without any model:

- ``answer_in_root``: the answer occurs as a phrase in the root page (the base QA was drawn from it);
- ``answer_in_statement``: the base statement (the first one) states the answer;
- ``statements_supported``: each statement is supported by the page it came from, i.e.
  ``support(statement, page) >= threshold`` with support = share of the statement's distinct content words
  (normalised, stopwords removed) found in that page (``parsing.support``).

``correct`` = all three hold. The synthesis error rate is ``1 - correct / accepted``. This is a lexical
grounding check: it catches hallucinated answers and statements, not a question whose wording changed
what it asks (validity and uniqueness checks address that, with a model).
"""

from __future__ import annotations

from typing import Any

from asearcher.synth.pages import PageGraph
from asearcher.synth.parsing import contains_phrase, support


def truth_check(record: dict[str, Any], graph: PageGraph, threshold: float) -> dict[str, Any]:
    """The truth fields of one accepted record (see the module docstring)."""
    root = graph.pages[record["root"]]["contents"]
    statements = record["statements"]
    supports = [round(support(s["text"], graph.pages[s["source"]]["contents"]), 3) for s in statements]
    answer_in_root = contains_phrase(root, record["answer"])
    answer_in_statement = bool(statements) and contains_phrase(statements[0]["text"], record["answer"])
    supported = [s >= threshold for s in supports]
    return {
        "answer_in_root": answer_in_root,
        "answer_in_statement": answer_in_statement,
        "statement_support": supports,
        "statements_supported": all(supported),
        "correct": answer_in_root and answer_in_statement and all(supported),
    }
