"""QA dataset loaders → ``list[Example]``: the generated world's splits, generic jsonl/json, FlashRAG, R1-Searcher,
DeepResearcher parquet, IRCoT / HotpotQA / 2Wiki / MuSiQue originals, FRAMES, GAIA (text-only) and
xbench-DeepSearch (decrypted in memory).

Used by ``asearcher eval`` (``load_dataset``) and by training (``load_dataset("world:test")``). Talks to
``asearcher.world`` for world splits; everything else is file parsing. Malformed input raises ``DataError``
naming the file and line.

Every example carries ``meta["source"]`` (the sub-dataset, for per-source breakdowns) and, where the dataset
defines it, ``meta["hops"]``. Protected benchmarks (GAIA, xbench) carry ``meta["protected"]`` and
``meta["canary"]`` (the key ``evaluation.protect`` encrypts their outputs with); never log their text.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asearcher.errors import DataError
from asearcher.evaluation import protect
from asearcher.types import Example

Record = tuple[int | None, dict[str, Any]]
"""(1-based line number for JSON-lines files, or None for a JSON array; the parsed object)."""


@dataclass
class Dataset:
    """A loaded question set."""

    name: str
    """Short name used for output folders and report rows (``world-test``, ``frames``, ``bamboogle-test`` …)."""
    examples: list[Example]
    format: str
    """Loader that parsed it (``flashrag``, ``xbench`` …)."""
    path: str | None = None
    protected: bool = False
    """True for GAIA/xbench: outputs are stored encrypted."""
    info: dict[str, Any] = field(default_factory=dict)


# ---- reading --------------------------------------------------------------------------------------------------


def _iter_records(path: Path) -> Iterator[Record]:
    """Objects of a JSON array file (``[...]`` or ``{"data": [...]}``) or of a JSON-lines file (blank lines skipped).
    The extension does not decide: several upstream ``.json`` files are JSON lines."""
    text = path.read_text(encoding="utf-8")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        if text.lstrip().startswith("["):
            raise DataError(path, e.lineno, f"invalid JSON: {e.msg}") from None
        doc = None  # JSON lines (or garbage: reported per line below)
    if doc is not None:
        items = doc.get("data") if isinstance(doc, dict) and isinstance(doc.get("data"), list) else doc
        items = [items] if isinstance(items, dict) else items
        if not isinstance(items, list):
            raise DataError(path, None, "expected a JSON array of objects (or JSON lines)")
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise DataError(path, None, f"record {i}: expected an object, got {type(item).__name__}")
            yield None, item
        return
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(path, n, f"invalid JSON ({e.msg}); each line must be one JSON object") from None
        if not isinstance(item, dict):
            raise DataError(path, n, f"expected a JSON object, got {type(item).__name__}")
        yield n, item


def _field(path: Path, n: int | None, rec: dict[str, Any], i: int, *names: str) -> Any:
    for name in names:
        if name in rec and rec[name] is not None:
            return rec[name]
    where = "" if n is not None else f"record {i}: "
    raise DataError(path, n, f"{where}missing field {' or '.join(repr(x) for x in names)} "
                             f"(found {sorted(rec)[:12]}); fix the file or pick the right --format")


def _aliases(path: Path, n: int | None, value: Any) -> list[str]:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        out = [str(value)]
    elif isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        out = [str(v) for v in value]
    else:
        raise DataError(path, n, f"answer must be a string or a list of strings, got {type(value).__name__}")
    out = list(dict.fromkeys(a.strip() for a in out if str(a).strip()))
    if not out:
        raise DataError(path, n, "empty gold answer")
    return out


def _unique(path: Path, examples: list[Example]) -> list[Example]:
    seen: set[str] = set()
    for e in examples:
        if e.id in seen:
            raise DataError(path, None, f"duplicate id {e.id!r}; ids must be unique for resumable evaluation")
        seen.add(e.id)
    return examples


def _literal(value: Any) -> Any:
    """Lists stored as Python literals inside strings (2Wiki ``evidences``, MIGRES fields)."""
    if isinstance(value, str) and value[:1] in "[{(":
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
    return value


# ---- loaders (one per format) ---------------------------------------------------------------------------------

_META_KEYS = ("source", "hops", "level", "type", "tag", "data_source")


def load_generic(path: str | Path, source: str | None = None) -> list[Example]:
    """``{id?, question, answer | answers | golden_answers, meta?}`` per record (JSON lines or a JSON array).

    Missing ids become the 0-based record index; ``source``/``hops``/``level``/``type``/``tag`` go to ``meta``."""
    p = Path(path)
    out = []
    for i, (n, r) in enumerate(_iter_records(p)):
        answers = _aliases(p, n, _field(p, n, r, i, "answers", "golden_answers", "answer"))
        meta = dict(r["meta"]) if isinstance(r.get("meta"), dict) else {}
        meta.update({k: r[k] for k in _META_KEYS if k in r and r[k] is not None})
        if source and "source" not in meta:
            meta["source"] = source
        rid = r.get("id", r.get("_id", r.get("idx", i)))
        out.append(Example(id=str(rid), question=str(_field(p, n, r, i, "question")), answers=answers, meta=meta))
    return _unique(p, out)


def load_flashrag(path: str | Path) -> list[Example]:
    """FlashRAG: ``{id, question, golden_answers[], metadata?}``; source = the parent folder (``nq``, ``popqa``…)."""
    p = Path(path)
    out = []
    for i, (n, r) in enumerate(_iter_records(p)):
        meta: dict[str, Any] = {"source": p.parent.name}
        if isinstance(r.get("metadata"), dict):
            meta["metadata"] = r["metadata"]
        out.append(Example(id=str(_field(p, n, r, i, "id")), question=str(_field(p, n, r, i, "question")),
                           answers=_aliases(p, n, _field(p, n, r, i, "golden_answers")), meta=meta))
    return _unique(p, out)


def load_r1searcher(path: str | Path) -> list[Example]:
    """R1-Searcher eval/train: ``{idx, question, answer}``; source = file stem without ``_500``."""
    p = Path(path)
    source = re.sub(r"_\d{3,}$", "", p.stem)
    out = []
    for i, (n, r) in enumerate(_iter_records(p)):
        out.append(Example(id=str(_field(p, n, r, i, "idx")), question=str(_field(p, n, r, i, "question")),
                           answers=_aliases(p, n, _field(p, n, r, i, "answer")), meta={"source": source}))
    return _unique(p, out)


ANSWER_SPLIT = "<|answer_split|>"


def load_deepresearcher(path: str | Path) -> list[Example]:
    """DeepResearcher verl parquet: question = last user message of ``prompt``; aliases split on
    ``<|answer_split|>``; source = ``data_source``; id = ``extra_info.index``."""
    import pyarrow.parquet as pq

    p = Path(path)
    try:
        rows = pq.read_table(p).to_pylist()
    except Exception as e:  # pyarrow raises several types for a bad file
        raise DataError(p, None, f"cannot read parquet: {e}") from None
    out = []
    for i, r in enumerate(rows):
        try:
            question = [m for m in r["prompt"] if m["role"] == "user"][-1]["content"]
            truth = r["reward_model"]["ground_truth"]
            rid = (r.get("extra_info") or {}).get("index", i)
        except (KeyError, IndexError, TypeError) as e:
            raise DataError(p, None, f"row {i}: missing {e} (expected verl fields prompt, reward_model.ground_truth)") from None
        answers = _aliases(p, None, truth.split(ANSWER_SPLIT) if isinstance(truth, str) else truth)
        out.append(Example(id=str(rid), question=question, answers=answers,
                           meta={"source": str(r.get("data_source", "unknown"))}))
    return _unique(p, out)


def load_ircot(path: str | Path) -> list[Example]:
    """IRCoT processed data: ``question_id, question_text, answers_objects[{spans}], contexts``."""
    p = Path(path)
    out = []
    for i, (n, r) in enumerate(_iter_records(p)):
        spans = [s for a in _field(p, n, r, i, "answers_objects") for s in a.get("spans", [])]
        source = "hotpotqa" if "hotpot" in str(p).lower() else p.parent.name
        meta: dict[str, Any] = {"source": source}
        if source == "hotpotqa":
            meta["hops"] = 2
        out.append(Example(id=str(_field(p, n, r, i, "question_id")), question=str(_field(p, n, r, i, "question_text")),
                           answers=_aliases(p, n, spans), meta=meta))
    return _unique(p, out)


def load_hotpotqa(path: str | Path) -> list[Example]:
    """Original HotpotQA (``_id, question, answer, type, level, …``); every question is 2-hop."""
    p = Path(path)
    out = []
    for i, (n, r) in enumerate(_iter_records(p)):
        meta = {"source": "hotpotqa", "hops": 2, **{k: r[k] for k in ("type", "level") if k in r}}
        out.append(Example(id=str(_field(p, n, r, i, "_id")), question=str(_field(p, n, r, i, "question")),
                           answers=_aliases(p, n, _field(p, n, r, i, "answer")), meta=meta))
    return _unique(p, out)


_2WIKI_HOPS = {"comparison": 2, "inference": 2, "compositional": 2, "bridge_comparison": 4}


def load_2wiki(path: str | Path) -> list[Example]:
    """Original 2WikiMultihopQA (``_id, type, question, answer, evidences …``); hops by question type
    (bridge_comparison 4, others 2), else the number of evidence triples."""
    p = Path(path)
    out = []
    for i, (n, r) in enumerate(_iter_records(p)):
        qtype = r.get("type")
        hops = _2WIKI_HOPS.get(qtype)
        if hops is None and isinstance(_literal(r.get("evidences")), list):
            hops = len(_literal(r["evidences"]))
        meta = {"source": "2wiki", "type": qtype, **({"hops": hops} if hops else {})}
        out.append(Example(id=str(_field(p, n, r, i, "_id")), question=str(_field(p, n, r, i, "question")),
                           answers=_aliases(p, n, _field(p, n, r, i, "answer")), meta=meta))
    return _unique(p, out)


def load_musique(path: str | Path) -> list[Example]:
    """Original MuSiQue (``id, question, answer, answer_aliases, question_decomposition``);
    hops = number of decomposition steps."""
    p = Path(path)
    out = []
    for i, (n, r) in enumerate(_iter_records(p)):
        answers = _aliases(p, n, [_field(p, n, r, i, "answer"), *(r.get("answer_aliases") or [])])
        meta: dict[str, Any] = {"source": "musique"}
        if isinstance(r.get("question_decomposition"), list):
            meta["hops"] = len(r["question_decomposition"])
        if "answerable" in r:
            meta["answerable"] = bool(r["answerable"])
        out.append(Example(id=str(_field(p, n, r, i, "id")), question=str(_field(p, n, r, i, "question")),
                           answers=answers, meta=meta))
    return _unique(p, out)


def load_frames(path: str | Path) -> list[Example]:
    """FRAMES (``id, Question, Answer, answer[], reasoning_types``): aliases = ``Answer`` + ``answer``."""
    p = Path(path)
    out = []
    for i, (n, r) in enumerate(_iter_records(p)):
        extra = _literal(r.get("answer")) or []
        answers = _aliases(p, n, [_field(p, n, r, i, "Answer"), *(extra if isinstance(extra, list) else [extra])])
        meta = {"source": "frames", "reasoning_types": r.get("reasoning_types")}
        out.append(Example(id=str(_field(p, n, r, i, "id")), question=str(_field(p, n, r, i, "Question")),
                           answers=answers, meta=meta))
    return _unique(p, out)


def load_gaia(path: str | Path) -> list[Example]:
    """GAIA text-only (``task_id, Question, answer[], Level``). Protected: outputs are stored encrypted."""
    p = Path(path)
    out = []
    for i, (n, r) in enumerate(_iter_records(p)):
        meta = {"source": "gaia", "level": r.get("Level"), "protected": "gaia", "canary": protect.GAIA_CANARY}
        out.append(Example(id=str(_field(p, n, r, i, "task_id", "id")), question=str(_field(p, n, r, i, "Question")),
                           answers=_aliases(p, n, _field(p, n, r, i, "answer", "Final answer")), meta=meta))
    return _unique(p, out)


def load_xbench(path: str | Path) -> list[Example]:
    """xbench-DeepSearch CSV (``id, prompt, answer, reference_steps, canary``), each text field
    ``base64(XOR(utf8, key=canary))``: decrypted here, in memory only. Protected like GAIA."""
    p = Path(path)
    out = []
    with p.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"id", "prompt", "answer", "canary"} - set(reader.fieldnames or [])
        if missing:
            raise DataError(p, 1, f"missing column(s) {sorted(missing)}; expected xbench columns id,prompt,answer,canary")
        for r in reader:
            line = reader.line_num
            try:
                question = protect.decrypt(r["prompt"], r["canary"])
                answer = protect.decrypt(r["answer"], r["canary"])
            except ValueError as e:
                raise DataError(p, line, f"{e} (is this the encrypted xbench file as distributed?)") from None
            meta = {"source": "xbench-" + p.stem.split("-")[-1], "protected": "xbench", "canary": r["canary"]}
            out.append(Example(id=str(r["id"]), question=question, answers=_aliases(p, line, answer), meta=meta))
    return _unique(p, out)


def load_world(split: str, world_cfg: Any = None) -> list[Example]:
    """A split (``train``/``dev``/``test``) of the generated world (generated on demand from ``world_cfg``)."""
    from asearcher.config.world import WorldConfig
    from asearcher.world import ensure_world, load_questions

    world_dir = ensure_world(world_cfg or WorldConfig())
    examples = load_questions(world_dir, split)
    for e in examples:
        e.meta.setdefault("source", "world")
    return examples


LOADERS: dict[str, Callable[[Path], list[Example]]] = {
    "generic": load_generic,
    "flashrag": load_flashrag,
    "r1searcher": load_r1searcher,
    "deepresearcher": load_deepresearcher,
    "ircot": load_ircot,
    "hotpotqa": load_hotpotqa,
    "2wiki": load_2wiki,
    "musique": load_musique,
    "frames": load_frames,
    "gaia": load_gaia,
    "xbench": load_xbench,
}
"""Format name → loader (``--format`` forces one; otherwise ``detect_format``)."""


# ---- detection and names --------------------------------------------------------------------------------------


def _first_record(path: Path) -> dict[str, Any]:
    for _, rec in _iter_records(path):
        return rec
    raise DataError(path, None, "no records in file")


def detect_format(path: str | Path) -> str:
    """The loader for a file, from its extension and the fields of its first record."""
    p = Path(path)
    if p.suffix == ".parquet":
        return "deepresearcher"
    if p.suffix == ".csv":
        with p.open(newline="", encoding="utf-8") as f:
            header = next(csv.reader(f), [])
        if {"prompt", "answer", "canary"} <= set(header):
            return "xbench"
        raise DataError(p, 1, f"unknown CSV columns {header}; only the xbench-DeepSearch CSV format is supported")
    keys = set(_first_record(p))
    rules: list[tuple[set[str], str]] = [
        ({"question_text", "answers_objects"}, "ircot"),
        ({"task_id", "Question", "Level"}, "gaia"),
        ({"Question", "Answer"}, "frames"),
        ({"_id", "question", "answer", "evidences"}, "2wiki"),
        ({"_id", "question", "answer", "supporting_facts"}, "hotpotqa"),
        ({"id", "question", "answer", "question_decomposition"}, "musique"),
        ({"id", "question", "golden_answers"}, "flashrag"),
    ]
    for need, fmt in rules:
        if need <= keys:
            return fmt
    if {"idx", "question", "answer"} <= keys and not keys & {"id", "_id"}:
        return "r1searcher"
    if "question" in keys and keys & {"answer", "answers", "golden_answers"}:
        return "generic"
    if "question" not in keys and not keys & {"answer", "answers", "golden_answers"}:
        raise DataError(p, None, "no question/answer fields: this looks like a passage corpus, not a question set "
                                 "(index corpora with `asearcher kb build`)")
    shown = [k[:30] for k in sorted(keys)[:12]]
    raise DataError(p, None, f"cannot detect the format from fields {shown}; expected "
                             "{id?, question, answer|answers|golden_answers} or pass --format")


KNOWN: dict[str, str] = {
    "nq": "flashrag_format_subsamples/nq/test.jsonl",
    "triviaqa": "flashrag_format_subsamples/triviaqa/test.jsonl",
    "popqa": "flashrag_format_subsamples/popqa/test.jsonl",
    "bamboogle": "flashrag_format_subsamples/bamboogle/test.jsonl",
    "hotpotqa-500": "r1searcher_eval/hotpotqa_500.jsonl",
    "2wiki-500": "r1searcher_eval/2wiki_500.jsonl",
    "musique-500": "r1searcher_eval/musique_500.jsonl",
    "deepresearcher-test": "deepresearcher_eval/test.parquet",
    "deepresearcher-dev": "deepresearcher_eval/dev.parquet",
    "hotpotqa-ircot-500": "hotpotqa_ircot_dev500/dev_subsampled.jsonl",
    "hotpotqa-migres": "migres_multihop/hotpot.json",
    "2wiki-migres": "migres_multihop/wikihop.json",
    "musique-migres": "migres_multihop/musique.json",
    "frames": "simpledeepsearcher_eval/frames.json",
    "gaia": "simpledeepsearcher_eval/gaia.json",
    "xbench-2505": "xbench_deepsearch/DeepSearch-2505.csv",
    "xbench-2510": "xbench_deepsearch/DeepSearch-2510.csv",
}
"""Benchmark name → path under the data root (``$ASEARCHER_DATA`` or ``data_root=``)."""


def dataset_name(path: str | Path) -> str:
    """Output name of a file: ``<parent>-<stem>`` (``flashrag…/nq/test.jsonl`` → ``nq-test``)."""
    p = Path(path)
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{p.parent.name}-{p.stem}" if p.parent.name else p.stem)


def first_per_hop(examples: list[Example], n: int) -> list[Example]:
    """The first ``n`` examples (file order) of each hop count (``meta["hops"]``; examples without it count as
    one group), in their original order."""
    seen: dict[Any, int] = {}
    keep = []
    for e in examples:
        h = e.meta.get("hops")
        if seen.get(h, 0) < n:
            seen[h] = seen.get(h, 0) + 1
            keep.append(e)
    return keep


def load_dataset(name_or_path: str, *, data_root: str | Path | None = None, fmt: str | None = None,
                 world_cfg: Any = None, limit: int | None = None, per_hop: int | None = None) -> Dataset:
    """Load a dataset by path (format auto-detected unless ``fmt``), by ``world:SPLIT``, or by a ``KNOWN`` name.

    Args:
        name_or_path: a file path, ``world:test`` (any world split), or a name from ``KNOWN``.
        data_root: folder the ``KNOWN`` names are relative to (default ``$ASEARCHER_DATA``).
        fmt: force a loader from ``LOADERS``.
        world_cfg: ``WorldConfig`` for ``world:`` names (default world when None).
        limit: keep the first ``limit`` examples (file order), after ``per_hop``.
        per_hop: keep the first ``per_hop`` examples of each hop count (``first_per_hop``).
    """
    if name_or_path.startswith("world:"):
        split = name_or_path.split(":", 1)[1] or "test"
        examples = load_world(split, world_cfg)
        ds = Dataset(name=f"world-{split}", examples=examples, format="world")
    else:
        path = Path(name_or_path)
        name = None
        if not path.exists() and name_or_path in KNOWN:
            root = data_root or os.environ.get("ASEARCHER_DATA")
            if not root:
                raise DataError(name_or_path, None, "a known benchmark name needs a data root: set $ASEARCHER_DATA "
                                                    "or pass --data-root (the folder holding the benchmark files)")
            path, name = Path(root) / KNOWN[name_or_path], name_or_path
        if not path.is_file():
            known = ", ".join(sorted(KNOWN))
            raise DataError(path, None, f"no such file; pass a path, world:SPLIT, or one of: {known}")
        fmt = fmt or detect_format(path)
        if fmt not in LOADERS:
            raise DataError(path, None, f"unknown format {fmt!r}; choose from {sorted(LOADERS)}")
        examples = LOADERS[fmt](path)
        ds = Dataset(name=name or dataset_name(path), examples=examples, format=fmt, path=str(path))
    if per_hop is not None:
        ds.examples = first_per_hop(ds.examples, per_hop)
    if limit is not None:
        ds.examples = ds.examples[:limit]
    ds.protected = any("protected" in e.meta for e in ds.examples)
    return ds
