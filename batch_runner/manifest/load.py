"""Load a manifest (YAML, CSV or Excel) and check it against schemas/manifest.schema.json.

A YAML manifest is a mapping with optional ``defaults``, ``providers`` and
``matrix``, and either a ``jobs`` list or a ``source`` sheet (CSV or Excel, read
by sheets.py) whose headers ``columns`` maps to job fields. A CSV or Excel
manifest is a header row and one job per row, with the same field names. Each
row is expanded over the matrix and its ``{column}`` templates filled
(templates.py); sheet cells are typed ("6" -> 6, "true" -> True, blank ->
unset); unknown camera commands are warnings (camera.py). Every problem is
collected before ``ManifestError`` is raised, each naming the file, the row
(spreadsheet row number, header = row 1) or YAML line, the field, what is
wrong and what is allowed.

This module picks the reader by the file's suffix and gathers the warnings;
yaml_manifest.py and sheet_manifest.py read the two kinds, rows.py expands and
checks a row, cells.py types a cell, model.py holds the result, options.py
reads ``--set`` and ``--map``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from batch_runner.errors import ManifestError, Problem
from batch_runner.manifest import bounds
from batch_runner.manifest.mistakes import at
from batch_runner.manifest.model import Manifest
from batch_runner.manifest.sheet_manifest import load_sheet_manifest
from batch_runner.manifest.sheets import CSV_SUFFIXES, EXCEL_SUFFIXES
from batch_runner.manifest.yaml_manifest import load_yaml_manifest

__all__ = ["load_manifest"]


def _grouped(warnings: list[Problem]) -> list[Problem]:
    """One warning per (file, field, message), listing its rows: a typo copied
    down a 1,000-row sheet is one line, not 1,000."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for p in warnings:
        file, _, place = p.where.partition(": ")
        groups.setdefault((file, p.field, p.message), []).append(place)
    return [Problem(at(file, [p for p in places if p]), fld, message, "warning")
            for (file, fld, message), places in groups.items()]


def load_manifest(
    path: str | Path, overrides: dict[str, Any] | None = None, *, strict: bool = True,
    sheet: str | None = None, allow_outside_paths: bool = False, columns: Mapping[str, str] | None = None,
) -> Manifest:
    """Load and schema-check a manifest; ``overrides`` are ``--set`` defaults;
    ``sheet`` names the workbook sheet to read (default: the first);
    ``allow_outside_paths``: the source sheet and image paths may leave the
    manifest's folder; ``columns`` (``--map``): sheet header -> job field,
    over a YAML manifest's ``columns:`` (a YAML jobs list refuses it).

    A column or key that is no job field but looks like one (mistakes.py,
    columns.py: ``Hero Image``, ``Length (s)``, image URLs) is a warning in
    ``manifest.warnings``; a typo of a field, a required field nothing gives
    and a template typo in ``defaults`` are one error each, not one per row.

    Raises ManifestError listing every problem (file, row or line, field, what
    is allowed). With ``strict=False`` row problems are kept in
    ``manifest.problems`` (rows marked ``valid=False``) for the caller to add
    its own checks before raising; an unreadable file still raises.
    """
    path = Path(path)
    overrides = dict(overrides or {})
    if not path.is_file():
        what = "is a folder, not a manifest file" if path.is_dir() else "no such file"
        raise ManifestError([Problem(str(path), "", what)])
    problems: list[Problem] = []
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        manifest = load_yaml_manifest(path, overrides, problems, sheet, allow_outside_paths, dict(columns or {}))
    elif suffix in (*CSV_SUFFIXES, *EXCEL_SUFFIXES):
        manifest = load_sheet_manifest(path, overrides, problems, sheet, dict(columns or {}))
    else:
        raise ManifestError(
            [Problem(path.name, "", "unknown manifest type: use .yaml/.yml, .csv or .xlsx")]
        )
    manifest.allow_outside_paths = allow_outside_paths
    problems += bounds.check_job_count(manifest.rows, path.name)
    manifest.problems = [p for p in problems if p.severity == "error"]
    manifest.warnings = _grouped([p for p in problems if p.severity != "error"])
    if strict and manifest.problems:
        raise ManifestError(problems)
    return manifest
