"""Read a results file back (the CSV, or the workbook's Results sheet) as rows of text.

Used by the report and the contact sheet, which are made from the results
file as written (or as Excel saved it again), not from the journal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from batch_runner.errors import ConfigError, ManifestError, Problem
from batch_runner.manifest.sheets import read_table

__all__ = ["listed_task_ids", "read_results", "shown"]

_GUARDED = ("=", "+", "-", "@", "\t", "\r")

_NO_HEADER = re.compile(r"row (\d+)$"), re.compile(r"^column (\d+) has values but no header")


def read_results(path: Path, needed: Sequence[str]) -> list[dict[str, str]]:
    """The rows of a results file, every cell as text (a blank cell: ``""``).

    Read with the manifest's sheet reader (manifest/sheets.py), so a results
    CSV that Excel saved again (``;`` or tab delimiter, byte-order mark, CRLF,
    quotes dropped), or a results workbook (``.xlsx``, its first sheet), reads
    like the file that was written. ``needed``: the columns the caller uses.
    Raises ConfigError when it cannot be read or lacks one of ``needed``.
    """
    try:
        table = read_table(path)
    except ManifestError as exc:
        raise ConfigError(f"{path}: cannot read the results CSV: {_why(exc.problems, path)}") from None
    missing = [c for c in needed if c not in table.headers]
    if missing:
        raise ConfigError(f"{path}: not a batch-runner results CSV (no column {', '.join(missing)})")
    blank = dict.fromkeys(table.headers, "")
    return [{**blank, **cells} for _, cells in table.rows]


def _why(problems: list[Problem], path: Path) -> str:
    """The sheet reader's problems in a results CSV's words: cells past the
    last column are one message naming the first such row; where a problem
    is the file ``path`` itself, it is not named twice."""
    extra = [(_NO_HEADER[0].search(p.where), _NO_HEADER[1].match(p.message)) for p in problems]
    found = [(int(r.group(1)), int(c.group(1))) for r, c in extra if r and c]
    if found:
        row, column = min(found)
        return f"row {row} has more cells than the {column - 1} columns"
    wheres = [p.where.split(": ", 1)[-1] if p.where else "" for p in problems[:3]]
    said = [p.message.removeprefix("cannot read: ") for p in problems[:3]]
    return "; ".join(f"{where}: {message}" if where and where != str(path) else message
                     for where, message in zip(wheres, said, strict=True))


def shown(value: object) -> str:
    """A results cell as text to show: the results CSV's formula guard (a
    leading ``'``, output/results.py ``safe_cell``) undone."""
    text = "" if value is None else str(value)
    if text[:1] == "'" and text[1:2] in _GUARDED:
        text = text[1:]
    return text


def listed_task_ids(path: Path) -> set[str]:
    """The task ids a results file lists (its ``task_id`` column, blank cells
    left out); an empty set when there is no such file or it cannot be read as
    results (nothing then shows that jobs were paid)."""
    if not path.is_file():
        return set()
    try:
        rows = read_results(path, ["task_id"])
    except ConfigError:
        return set()
    return {shown(row["task_id"]).strip() for row in rows} - {""}
