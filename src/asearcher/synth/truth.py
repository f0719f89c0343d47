"""Truth check of synthesized QA (a measured error rate of the synthesis agent), without any model.

For an accepted QA:

- ``answer_in_root``: the answer occurs as a phrase in the root page (the base QA was drawn from it);
- ``answer_in_statement``: the base statement (the first one) states the answer;
- ``statements_supported``: each statement is supported by the page it came from, i.e.
  ``support(statement, page) >= threshold``, support = share of the statement's distinct content words
  (normalised, stopwords removed) found in that page (``parsing.support``);
- ``world_fact`` (generated world only, where ``entities.jsonl`` lies next to ``pages.jsonl``): the
  relation or attribute of the world's fact table that links the root entity to the answer (its
  attributes, relation targets, and the entities whose relation points at it); None when no fact does.
  Pages also hold filler sentences that no fact table backs; answers drawn from them do not count.

``correct`` = on a generated world: ``world_fact`` found, the base statement states the answer and all
statements are supported; on any other pages file: ``answer_in_root`` instead of ``world_fact``. The
synthesis error rate is ``1 - correct / accepted``. This checks grounding: it catches hallucinated answers
and statements, not a question whose wording changed what it asks (the model checks address that).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from asearcher.errors import DataError
from asearcher.synth.pages import PageGraph
from asearcher.synth.parsing import contains_phrase, normalize, support

WorldFacts = dict[str, dict[str, str]]
"""entity name → {normalised value → relation or attribute name}."""


def _forms(value: Any) -> list[str]:
    """Normalised spellings of a fact value (numbers with and without thousands separators)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return list(dict.fromkeys([normalize(str(value)), normalize(f"{value:,}")]))
    return [normalize(str(value))]


def load_world_facts(pages_path: str | Path | None) -> WorldFacts | None:
    """The fact table of the generated world whose ``pages.jsonl`` is ``pages_path`` (from the
    ``entities.jsonl`` beside it); None for a pages file outside a world."""
    if pages_path is None:
        return None
    path = Path(pages_path).with_name("entities.jsonl")
    if not path.is_file():
        return None
    facts: WorldFacts = {}
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            try:
                e = json.loads(line)
                name, attrs, rels = e["name"], e.get("attrs", {}), e.get("relations", {})
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise DataError(path, lineno, f"expected an entity {{name, attrs, relations}}: {err}") from None
            own = facts.setdefault(name, {})
            for attr, value in attrs.items():
                own.update(dict.fromkeys(_forms(value), attr))
            for rel, target in rels.items():
                own[normalize(target)] = rel
                facts.setdefault(target, {})[normalize(name)] = f"{rel} (inverse)"
    return facts


def truth_check(record: dict[str, Any], graph: PageGraph, threshold: float,
                world: WorldFacts | None = None) -> dict[str, Any]:
    """The truth fields of one accepted record (see the module docstring)."""
    root = graph.pages[record["root"]]["contents"]
    statements = record["statements"]
    supports = [round(support(s["text"], graph.pages[s["source"]]["contents"]), 3) for s in statements]
    answer_in_root = contains_phrase(root, record["answer"])
    answer_in_statement = bool(statements) and contains_phrase(statements[0]["text"], record["answer"])
    supported = all(s >= threshold for s in supports)
    out: dict[str, Any] = {"answer_in_root": answer_in_root, "answer_in_statement": answer_in_statement,
                           "statement_support": supports, "statements_supported": supported}
    if world is None:
        grounded = answer_in_root
    else:
        out["world_fact"] = world.get(record["root"], {}).get(normalize(record["answer"]))
        grounded = out["world_fact"] is not None
    out["correct"] = grounded and answer_in_statement and supported
    return out
