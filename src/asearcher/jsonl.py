"""Reading JSON-lines input files with errors that name the file and the line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from asearcher.errors import DataError


def iter_objects(path: str | Path, expected: str, lines: Iterable[str] | None = None, hint: str = "",
                 ) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, object)`` for each non-blank line of a JSON-lines file.

    Args:
        path: the file (read as UTF-8 unless ``lines`` is given; then only used in messages).
        expected: what one line should hold, for the error message, e.g. ``"{id, question, answer}"``.
        lines: the file's lines when the caller has already read them.
        hint: how to fix a bad line, appended to the message.

    Raises:
        DataError: ``file:line: invalid JSON (…)`` or ``file:line: expected a JSON object …``.
    """
    p = Path(path)
    if lines is None:
        if not p.is_file():
            raise DataError(p, None, f"no such file; expected JSON lines, one {expected} object per line")
        with p.open(encoding="utf-8") as f:
            yield from iter_objects(p, expected, f, hint)
        return
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(p, lineno, f"invalid JSON ({e.msg} at column {e.colno}); each line must be one JSON "
                                       f"object {expected}{hint and '; ' + hint}") from None
        if not isinstance(obj, dict):
            raise DataError(p, lineno, f"expected a JSON object {expected}, got {type(obj).__name__}"
                                       f"{hint and '; ' + hint}")
        yield lineno, obj
