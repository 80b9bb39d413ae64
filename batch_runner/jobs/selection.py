"""Which manifest rows a run takes: ``--rows 2-10`` / ``--rows 2,5,7-9``.

Row numbers are the ones the manifest's problems name: the spreadsheet row
(CSV/Excel, header = row 1, so the first job is row 2), or the line of a job
in a YAML manifest. Every job of a chosen row is taken (its variants and matrix
combinations too).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from batch_runner.errors import ConfigError
from batch_runner.jobs.model import Job

__all__ = ["RowSelection", "choose_rows", "describe_rows", "parse_rows"]

_PART = re.compile(r"^(\d+)(?:\s*-\s*(\d+))?$")


@dataclass(frozen=True)
class RowSelection:
    """Manifest rows chosen by a ``--rows`` spec: ``spans`` of (first, last)
    row numbers, both included; ``spec`` the text as given."""

    spans: tuple[tuple[int, int], ...]
    spec: str

    def __contains__(self, row: object) -> bool:
        return isinstance(row, int) and any(a <= row <= b for a, b in self.spans)

    def outside(self, first: int, last: int) -> str:
        """The chosen row numbers before ``first`` or after ``last`` (the
        manifest's first and last row), as ``describe_rows`` writes them ("" when
        none). Rows inside that range without a job (the lines between the jobs
        of a YAML manifest) are not counted."""
        gaps = []
        for a, b in self.spans:
            if a < first:
                gaps.append((a, min(b, first - 1)))
            if b > last:
                gaps.append((max(a, last + 1), b))
        return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in sorted(set(gaps)))


def parse_rows(spec: str) -> RowSelection:
    """A ``--rows`` spec: row numbers and ranges separated by commas, e.g.
    ``2-10`` or ``2,5,7-9`` (ranges include both ends; spaces are ignored).

    Raises ValueError naming the part that is not a row number >= 1 or a
    range ``FIRST-LAST`` with FIRST <= LAST.
    """
    spans = []
    parts = spec.split(",")
    for part in parts:
        text = part.strip()
        m = _PART.match(text)
        if not m:
            raise ValueError(f"{text!r} is not a row number or a range like 2-10" if text
                             else "an empty part (two commas, or one at an end)")
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) is not None else first
        if first < 1:
            raise ValueError(f"{text!r}: rows are numbered from 1 (the header of a sheet is row 1)")
        if last < first:
            raise ValueError(f"{text!r}: the range ends before it starts (write {last}-{first})")
        spans.append((first, last))
    return RowSelection(tuple(spans), spec.strip())


def describe_rows(rows: Iterable[int]) -> str:
    """Row numbers written short: ``[2, 3, 4, 6]`` -> ``2-4, 6``."""
    out: list[str] = []
    run: list[int] = []
    for r in sorted(set(rows)):
        if run and r == run[-1] + 1:
            run.append(r)
            continue
        if run:
            out.append(f"{run[0]}" if len(run) == 1 else f"{run[0]}-{run[-1]}")
        run = [r]
    if run:
        out.append(f"{run[0]}" if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return ", ".join(out)


def choose_rows(jobs: list[Job], rows: RowSelection | None) -> tuple[list[Job], str | None]:
    """The jobs of the chosen rows, in manifest order, and a one-line note when
    some chosen rows are not in the manifest, e.g. ``rows 7-9 are not in the
    manifest (its rows: 2-6)`` (None otherwise). ``rows`` None:
    every job, no note.

    Raises ConfigError when no chosen row is in the manifest.
    """
    if rows is None:
        return jobs, None
    chosen = [j for j in jobs if j.row in rows]
    numbers = [j.row for j in jobs]
    have = describe_rows(numbers)
    if have.count(",") >= 5:
        have = f"{min(numbers)} to {max(numbers)}, with gaps"
    if not chosen:
        raise ConfigError(f"--rows {rows.spec}: no such row in the manifest (its rows: {have})")
    missing = rows.outside(min(numbers), max(numbers))
    note = f"rows {missing} are not in the manifest (its rows: {have})" if missing else None
    return chosen, note
