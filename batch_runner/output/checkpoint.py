"""The results file written again during a run (every 30 s), from a thread, re-typing only what changed.

A checkpoint reads the journal on a connection of its own (``Journal.reader``),
so the run's event loop goes on sending and polling while it works. Each job's
line of the file is kept with the hash of the record it was made from: a
record that has not changed since the last checkpoint is not turned into a row
again, only its kept line is written. A column whose type changes (its first
blank, its first fraction) makes every line again, once. The file written is
byte for byte the one ``write_results`` writes from the same records: same
columns, same cells, UTF-8 with a byte-order mark, written atomically.
"""

from __future__ import annotations

import csv
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from batch_runner.journal import JobRecord
from batch_runner.output.atomic import write_atomically
from batch_runner.output.results_table import Columns, Signature, result_row

__all__ = ["Checkpoint"]

_BOM = "\ufeff"  # the byte-order mark of output/results.py's file


class _Reader(Protocol):
    def records(self) -> Iterator[JobRecord]: ...


class _Readable(Protocol):
    def reader(self) -> AbstractContextManager[_Reader]: ...


class Checkpoint:
    """Writes the results CSV at ``path`` from ``journal`` (a Journal or PgJournal)
    whenever called (``write``), in the order of ``order`` (the manifest's job ids),
    then the records of rows no longer in the manifest whose task may have cost
    money. Thread-safe: one write at a time; after ``close()`` a write does nothing
    (the run's last write of the results is then the last one).

    Holds one line of text (about 400 bytes) per job between writes, and the hash
    and signature (results_table.Columns) of the record it came from.
    """

    def __init__(self, path: str | Path, journal: _Readable, order: Sequence[str]) -> None:
        self.path, self.journal = Path(path), journal
        self.order = list(order)
        self.ids = set(self.order)
        self.columns = Columns()
        self.kept: dict[str, tuple[int, Signature, str]] = {}  # job id -> (record hash, signature, line)
        self._typed: dict[str, int] | None = None  # the columns' types the kept lines were made under
        self._columns: list[str] = []
        self._lock = threading.Lock()
        self._closed = False
        self.made = 0  # rows made by the last write: the records that changed (all of them when types changed)

    def close(self) -> None:
        """No write after this one (waits for a write under way); the kept lines are let go."""
        with self._lock:
            self._closed = True
            self.kept.clear()

    def write(self) -> None:
        """Write the file. Raises OSError (the file) or JournalError (the journal
        cannot be read)."""
        with self._lock:
            if self._closed:
                return
            if self.path.suffix.lower() == ".xlsx":  # a workbook is made whole (its posters are not decoded here)
                self._workbook()
                return
            self.made = 0
            with self.journal.reader() as view:
                removed, again = self._update(view.records, again=False)
                if again:  # a column's type, or the columns, changed: every line is made again
                    self._update(view.records, again=True)
            ids = [j for j in self.order if j in self.kept] + removed
            write_atomically(self.path, self._chunks(ids))

    def _workbook(self) -> None:
        from batch_runner.output.results import write_results

        with self.journal.reader() as view:
            every = list(view.records())
        by_id = {r.job_id: r for r in every if r.job_id in self.ids}
        removed = [r for r in every if r.job_id not in self.ids and r.possibly_paid]
        write_results(self.path, [by_id[j] for j in self.order if j in by_id] + removed,
                      manifest_ids=self.ids, make_posters=False)

    def _update(self, records: Callable[[], Iterator[JobRecord]], *, again: bool) -> tuple[list[str], bool]:
        """Count in the records that changed and make their lines (``again``: make
        every line); returns the ids of the rows no longer in the manifest, and
        whether every line must be made again (the columns' types changed)."""
        removed: list[str] = []
        pending: list[tuple[str, int, Signature, dict[str, Any]]] = []
        redo = self._typed is None
        for record in records():
            job_id = record.job_id
            inside = job_id in self.ids
            if not inside and not record.possibly_paid:
                continue
            if not inside:
                removed.append(job_id)
            key = hash(record)
            old = self.kept.get(job_id)
            if old is not None and old[0] == key and not again:
                continue
            row = result_row(record, inside)
            self.made += 1
            if old is None or old[0] != key:
                if old is not None:
                    self.columns.remove(old[1])
                signature = self.columns.add(row)
            else:
                signature = old[1]
            if again:
                self.kept[job_id] = (key, signature, self._line(row))
            elif redo or self.columns.typing() != self._typed:  # types changed: lines made in the pass again
                redo, pending = True, []
                self.kept[job_id] = (key, signature, "")
            else:
                pending.append((job_id, key, signature, row))
        if not again:
            self._order_extras(removed)
            redo = redo or self.columns.typing() != self._typed or self.columns.columns() != self._columns
        for job_id, key, signature, row in [] if redo else pending:
            self.kept[job_id] = (key, signature, self._line(row))
        self._typed, self._columns = self.columns.typing(), self.columns.columns()
        return removed, redo

    def _order_extras(self, removed: list[str]) -> None:
        """The manifest's extra columns, first seen first in the file's order."""
        seen: set[int] = set()
        signatures = []
        for job_id in [*self.order, *removed]:
            kept = self.kept.get(job_id)
            if kept is not None and id(kept[1]) not in seen:
                seen.add(id(kept[1]))
                signatures.append(kept[1])
        self.columns.order(signatures)

    def _line(self, row: dict[str, Any]) -> str:
        lines: list[str] = []
        csv.writer(_Lines(lines), quoting=csv.QUOTE_NONNUMERIC, lineterminator=os.linesep).writerow(
            self.columns.cells(row))
        return lines[0]

    def _chunks(self, ids: list[str]) -> Iterator[str]:
        lines: list[str] = []
        csv.writer(_Lines(lines), quoting=csv.QUOTE_NONNUMERIC, lineterminator=os.linesep).writerow(
            self.columns.header())
        yield _BOM + lines[0]
        for start in range(0, len(ids), 2000):
            yield "".join(self.kept[j][2] for j in ids[start:start + 2000])


class _Lines:
    """A csv.writer's file that keeps each line it is given (one ``write`` a row)."""

    def __init__(self, lines: list[str]) -> None:
        self.write = lines.append
