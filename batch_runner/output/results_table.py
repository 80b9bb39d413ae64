"""The cells of the results table, row by row: one record becomes one row, typed by its column.

A column's type depends on every row (a column of numbers with a blank or a
fraction holds floats, ``5.0``, as pandas typed it when the file was written
with pandas), so writing is two passes: ``Columns`` gathers what kinds of
values each column holds (a few interned signatures, not the rows), then
``Columns.cells`` types each row on its own. The results CSV (output/results.py)
streams the second pass to the file; the checkpoint (output/checkpoint.py)
keeps each row's text and types again only the rows whose record changed.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from batch_runner.journal import JobRecord, JobStatus

__all__ = ["RESULT_COLUMNS", "Columns", "result_row", "safe_cell"]

RESULT_COLUMNS = [
    "job_id", "row", "name", "variant", "provider", "providers_tried", "key_id", "model", "scene", "prompt",
    "image", "duration", "resolution", "status", "task_id", "video_url",
    "cost_credits", "cost_usd", "attempts", "paid_attempts", "cost_all_attempts", "credits_all_attempts",
    "earlier_task_ids", "error_code", "provider_code",
    "error_message", "submitted_at", "finished_at", "elapsed_s", "url_expires_at",
    "local_path", "bytes", "sha256", "qa_status", "qa_problems", "video_width", "video_height",
    "video_duration_s", "video_codec", "video_fps", "delivered_url", "in_manifest", "review", "review_note",
]
_FIXED = frozenset(RESULT_COLUMNS)
_NUMERIC = {"row", "variant", "duration", "cost_credits", "cost_usd", "attempts", "paid_attempts",
            "cost_all_attempts", "credits_all_attempts", "elapsed_s", "bytes",
            "video_width", "video_height", "video_duration_s", "video_fps"}
_WHOLE = {"bytes", "video_width", "video_height"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\0")
_INT64 = 2**63
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_AS_IS, _TO_INT, _TO_FLOAT, _GUARD = range(4)  # what a column does to its cells
_NONE = type(None)


class _BigInt(int):
    """The kind of an int too big for a float column (pandas kept such numbers as they are)."""


def _iso(ts: Any) -> str:
    if ts is None or ts == "":
        return ""
    try:
        return datetime.fromtimestamp(float(ts), UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    except (TypeError, ValueError, OverflowError, OSError):
        return ""  # not a time: never stop writing the results for it


def safe_cell(value: Any) -> Any:
    """A text cell made inert for spreadsheets: formula-like text gets a ``'``;
    other values (and text that is a plain number) are returned unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def result_row(record: JobRecord, in_manifest: bool | None = None) -> dict[str, Any]:
    """One results row from a journal record (its ``job`` JSON + state columns);
    ``in_manifest``: whether the job's row is still in the manifest (None: not known,
    e.g. results rebuilt from the journal alone)."""
    job = record.job_fields()
    submitted, finished = record.submitted_at, record.finished_at
    elapsed = round(finished - submitted, 3) if submitted and finished else None
    row = {
        "job_id": record.job_id,
        "row": job.get("row"),
        "name": job.get("name", ""),
        "variant": job.get("variant"),
        "provider": record.provider or job.get("provider"),
        "providers_tried": record.providers_tried or "",
        "key_id": record.key_id or "",
        "model": job.get("model"),
        "scene": job.get("scene"),
        "prompt": job.get("prompt"),
        "image": job.get("image") or "",
        "duration": job.get("duration"),
        "resolution": job.get("resolution"),
        "status": str(record.status),
        "task_id": record.task_id or "",
        "video_url": record.video_url or "",
        "cost_credits": record.cost_credits,
        "cost_usd": record.cost_usd,
        "attempts": record.attempts or 0,
        "paid_attempts": record.paid_attempts,
        "cost_all_attempts": record.usd_all_attempts if record.paid_attempts else None,
        "credits_all_attempts": record.credits_all_attempts,
        "earlier_task_ids": record.earlier_task_ids or "",
        "error_code": record.error_code or "",
        "provider_code": record.provider_code or "",
        "error_message": record.error_message or "",
        "submitted_at": _iso(submitted),
        "finished_at": _iso(finished),
        "elapsed_s": elapsed,
        "url_expires_at": _iso(record.url_expires_at),
        "local_path": record.local_path or "",
        "bytes": record.size_bytes,
        "sha256": record.sha256 or "",
        **_qa_cells(record),
        "delivered_url": record.delivered_url or "",
        "in_manifest": "" if in_manifest is None else ("yes" if in_manifest else "no"),
        "review": record.review or "",
        "review_note": record.review_note or "",
    }
    for key, value in (job.get("extras") or {}).items():
        if key not in row:
            row[key] = value
    return row


def _qa_cells(record: JobRecord) -> dict[str, Any]:
    """The QA columns of a record: its verdict (``skipped`` for a succeeded job
    whose video was not saved; blank for a job without a video) and what the
    probe read."""
    status = record.qa_status or ("skipped" if record.status == JobStatus.SUCCEEDED and not record.local_path
                                  else "")
    return {"qa_status": status if record.status == JobStatus.SUCCEEDED else "",
            "qa_problems": record.qa_problems or "", "video_width": record.video_width,
            "video_height": record.video_height, "video_duration_s": record.video_duration_s,
            "video_codec": record.video_codec or "", "video_fps": record.video_fps}


class _NaN(float):
    """The kind of a NaN cell: a blank to its column's type, made one (None) in the file."""


def _kind(value: Any) -> type:
    """The kind of a cell that decides its column's type: its type, NaN and huge ints marked."""
    kind = type(value)
    if kind is float and math.isnan(value):
        return _NaN
    if kind is int and not -_INT64 <= value < _INT64:
        return _BigInt
    return kind


Signature = tuple[tuple[str, ...], tuple[type, ...]]  # a row's column names, the kinds of their values


class Columns:
    """What kinds of values each column of a results table holds, and so how each
    column types its cells (pandas' way, which the file has always followed).

    ``add(row)`` / ``remove(signature)`` count a row in or out (``add`` returns
    the row's signature: its column names and the kinds of their values, interned,
    a few distinct ones per campaign); ``columns()`` lists RESULT_COLUMNS then the
    manifest's extra columns, first seen first; ``cells(row)`` is one row's typed
    cells in that order.
    """

    def __init__(self) -> None:
        self.rows = 0
        self.signatures: Counter[Signature] = Counter()
        self._interned: dict[Signature, Signature] = {}
        self._extras: list[str] = []
        self._plan: tuple[list[str], list[int], list[int], list[int], list[int]] | None = None
        self._modes: list[int] = []

    def add(self, row: dict[str, Any]) -> Signature:
        """Count ``row`` (a result_row) in; returns its signature."""
        values = tuple(row.values())
        kinds = tuple(map(type, values))
        if (float in kinds and any(v != v for v in values if type(v) is float)) or (
                int in kinds and any(type(v) is int and not -_INT64 <= v < _INT64 for v in values)):
            kinds = tuple(map(_kind, values))  # rare: a NaN or a huge int, marked
        signature = (tuple(row), kinds)
        signature = self._interned.setdefault(signature, signature)
        if signature not in self.signatures:
            self._extras.extend(k for k in signature[0] if k not in _FIXED and k not in self._extras)
            self._plan = None
        self.signatures[signature] += 1
        self.rows += 1
        return signature

    def remove(self, signature: Signature) -> None:
        """Count out a row added with ``signature`` (its record changed)."""
        self.signatures[signature] -= 1
        self.rows -= 1
        if not self.signatures[signature]:
            del self.signatures[signature]
            self._plan = None

    def columns(self) -> list[str]:
        """RESULT_COLUMNS, then the extra columns of the rows counted in (first seen first)."""
        return RESULT_COLUMNS + self._extras

    def header(self) -> list[str]:
        """The header row: the column names, extra ones made inert (safe_cell)."""
        return RESULT_COLUMNS + [safe_cell(c) for c in self._extras]

    def modes(self) -> list[int]:
        """How each column types its cells (_AS_IS, _TO_INT, _TO_FLOAT, _GUARD), in ``columns()`` order."""
        columns = self.columns()
        kinds: dict[str, set[type]] = {c: set() for c in columns}
        for names, types in self.signatures:
            have = dict(zip(names, types, strict=True))
            for column, found in kinds.items():
                found.add(have.get(column, _NONE))
        return [_mode(kinds[c], numeric=c in _NUMERIC, whole=c in _WHOLE) for c in columns]

    def order(self, signatures: Iterable[Signature]) -> None:
        """Put the extra columns in the order they are first seen in ``signatures``
        (those of the rows in the file's order; columns no row has are dropped)."""
        extras = list(dict.fromkeys(k for names, _ in signatures for k in names if k not in _FIXED))
        if extras != self._extras:
            self._extras = extras
            self._plan = None

    def typing(self) -> dict[str, int]:
        """Each column's mode (how it types its cells), by name: what a row's line depends on."""
        columns, *_ = self._typing()
        return dict(zip(columns, self._modes, strict=True))

    def _typing(self) -> tuple[list[str], list[int], list[int], list[int], list[int]]:
        """The columns, then the positions of those whose cells become floats, ints,
        inert text, and of those that may hold a NaN."""
        if self._plan is None:
            modes = self._modes = self.modes()
            nan = {n for names, types in self.signatures for n, t in zip(names, types, strict=True) if t is _NaN}
            columns = self.columns()
            floats, ints, guard = ([i for i, m in enumerate(modes) if m == want]
                                   for want in (_TO_FLOAT, _TO_INT, _GUARD))
            self._plan = plan = (columns, floats, ints, guard, [i for i, c in enumerate(columns) if c in nan])
            return plan
        return self._plan

    def cells(self, row: dict[str, Any]) -> list[Any]:
        """``row``'s cells in ``columns()`` order, typed by their columns."""
        columns, floats, ints, guard, nan = self._typing()
        out = list(map(row.get, columns))
        for i in nan:
            value = out[i]
            if type(value) is float and math.isnan(value):
                out[i] = None
        for i in floats:
            value = out[i]
            if value is not None:
                out[i] = float(value)
        for i in ints:
            value = out[i]
            if value is not None:
                out[i] = int(value)
        for i in guard:
            value = out[i]
            if isinstance(value, str) and value.startswith(_FORMULA_START):
                out[i] = safe_cell(value)
        return out


def _mode(kinds: set[type], *, numeric: bool, whole: bool) -> int:
    """How a column whose cells are of ``kinds`` types them: a column of numbers
    with a blank or a fraction holds floats (``whole``: ints); text outside the
    ``numeric`` columns is made inert (safe_cell)."""
    present = kinds - {_NONE, _NaN}
    kinds = {_NONE if k is _NaN else k for k in kinds}
    if present and present <= {int, float, _BigInt}:
        if whole:
            return _TO_INT
        if float in present or len(present) < len(kinds):
            return _AS_IS if _BigInt in present else _TO_FLOAT
        return _AS_IS
    if numeric or not any(issubclass(k, str) for k in present):
        return _AS_IS
    return _GUARD


def table_rows(records: Iterable[JobRecord], in_manifest: Any = None) -> Iterable[dict[str, Any]]:
    """The result_row of each record; ``in_manifest``: a set of job ids (None: not known)."""
    for record in records:
        yield result_row(record, None if in_manifest is None else record.job_id in in_manifest)
