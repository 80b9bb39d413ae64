"""A CSV or Excel manifest, or a YAML manifest's source sheet, as checked rows.

A sheet is a header row and one job per row (sheets.py reads it); headers are
named through ``columns`` (a YAML manifest's ``columns:``, or ``--map``), cells
typed (cells.py), and the sheet-wide mistakes (mistakes.py: look-alike
columns, a required field nothing gives) said once, before the rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batch_runner.errors import ManifestError, Problem
from batch_runner.manifest.cells import type_cell
from batch_runner.manifest.mistakes import (
    Key,
    Reported,
    key_problems,
    required_problems,
    template_problems,
    used_variables,
)
from batch_runner.manifest.model import Manifest, ManifestRow
from batch_runner.manifest.rows import add_rows
from batch_runner.manifest.schema import JOB_FIELDS
from batch_runner.manifest.sheets import Table, header_key, map_headers, read_table
from batch_runner.manifest.templates import TEMPLATE_FIELDS
from batch_runner.words import count

__all__ = ["Source", "load_sheet_manifest", "table_rows"]


@dataclass
class Source:
    """How a sheet is named in the manifest: the YAML manifest that reads it
    (None for a CSV/Excel manifest), its ``defaults`` and ``matrix`` keys as
    mistakes.Key, each key's YAML line, and where each ``columns`` entry
    comes from (``--map`` entries are located as such)."""

    yaml: str | None = None
    keys: list[Key] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)


def table_rows(table: Table, columns: dict[str, str], base: dict[str, Any],
               matrix: dict[str, list[Any]] | None, problems: list[Problem], mapping: str,
               source: Source) -> list[ManifestRow]:
    """Rows of a sheet: headers named through ``columns``, cells typed, over
    ``base``; the sheet-wide mistakes (mistakes.py) said once, first."""
    names, found = map_headers(table, columns, JOB_FIELDS, mapping, source.origins)
    if found:
        raise ManifestError(problems + found)
    header = f"{table.label}: row {table.header_row}"
    taken = {n for n in names.values() if n in JOB_FIELDS} | {k for k in matrix or {} if k in JOB_FIELDS}
    given = taken | {k for k in base if k in JOB_FIELDS}
    cells = ({names[h]: c} for h in table.headers if names[h] in TEMPLATE_FIELDS for c in table.cells(h) if "{" in c)
    used = used_variables([base, *cells])
    if source.yaml:
        fix = (f'map it under columns: in {source.yaml} ("{{header}}: {{field}}"), '
               'or --map "{header}={field}"')
        how = ("add a '{field}' column (or map one to it under columns:), or set it under defaults: "
               "(or --set {field}=...)")
    else:
        fix = 'rename the header, or map it: --map "{header}={field}"'
        how = "add a '{field}' column (or map one to it: --map \"HEADER={field}\"), or --set {field}=..."
    keys = [Key(header, h, table.cells(h), fix.replace("{header}", h)) for h in table.headers if names[h] == h]
    reported = Reported()
    found = key_problems(keys + source.keys, given, taken, used, reported)
    found += required_problems(header, given, reported, how)
    available = {header_key(n) for n in (*names.values(), *base, *(matrix or {}))}
    found += template_problems(base, source.lines, source.yaml or table.label, available, reported)
    problems += found
    rows: list[ManifestRow] = []
    for number, record in table.rows:
        typed = {names[h]: type_cell(names[h], v) for h, v in record.items()}
        add_rows(rows, problems, f"{table.label}: row {number}", number, {**base, **typed}, matrix, reported)
    if not rows:
        problems.append(Problem(table.label, "", "no job rows: add a header row and one row per job"))
    return rows


def load_sheet_manifest(path: Path, overrides: dict[str, Any], problems: list[Problem], sheet: str | None,
                        mapped: dict[str, str]) -> Manifest:
    """Read a CSV or Excel manifest; ``overrides``: ``--set`` (a column's cells win);
    ``mapped``: ``--map``. Row problems go to ``problems``; raises ManifestError
    when a header cannot be named."""
    table = read_table(path, sheet)
    problems += _set_under_columns(table, overrides, mapped)
    rows = table_rows(table, mapped, dict(overrides), None, problems, "--map",
                      Source(origins=dict.fromkeys(mapped, "--map")))
    return Manifest(path, rows, {})


def _set_under_columns(table: Table, overrides: Mapping[str, Any], mapped: Mapping[str, str]) -> list[Problem]:
    """A warning for each ``--set`` field the sheet also has a column of: the
    cell wins, ``--set`` only fills that column's blank cells (said, not silent)."""
    out = []
    by_field = {mapped.get(h, h).strip().lower(): h for h in table.headers}
    for key, value in overrides.items():
        header = by_field.get(key.lower())
        if header is None:
            continue
        filled = sum(1 for _ in table.cells(header))
        if filled:
            out.append(Problem("--set", key, f"--set {key}={value} is used only where the '{header}' column of "
                               f"{table.label} is blank: its cells win ({filled} of {count(len(table.rows), 'row')}); "
                               f"to use {value} everywhere, change that column or delete it", "warning"))
    return out
