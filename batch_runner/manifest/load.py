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
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from batch_runner.errors import ManifestError, Problem
from batch_runner.manifest import bounds
from batch_runner.manifest.camera import camera_warnings
from batch_runner.manifest.schema import (
    JOB_FIELDS,
    document_problems,
    job_problems,
    matrix_problems,
)
from batch_runner.manifest.sheets import (
    CSV_SUFFIXES,
    EXCEL_SUFFIXES,
    Table,
    header_key,
    map_headers,
    read_table,
)
from batch_runner.manifest.templates import (
    combinations,
    describe_combination,
    fill_templates,
)
from batch_runner.manifest.yaml_reader import load_yaml

__all__ = ["Manifest", "ManifestRow", "load_manifest", "parse_overrides"]
_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


@dataclass
class ManifestRow:
    """One manifest row or YAML job, defaults applied.

    ``row``: spreadsheet row number (CSV/Excel, header = 1) or YAML line;
    ``where``: "file: row N" / "file: line N"; ``fields``: job fields (typed);
    ``extras``: the campaign's own columns, copied into the results.
    """

    index: int
    row: int
    where: str
    fields: dict[str, Any]
    extras: dict[str, Any] = field(default_factory=dict)
    valid: bool = True


@dataclass
class Manifest:
    """A loaded, schema-valid manifest: its rows and per-provider settings.

    ``sheet``: the source sheet a YAML manifest reads its rows from, if any.
    """

    path: Path
    rows: list[ManifestRow]
    provider_settings: dict[str, dict[str, Any]]
    warnings: list[Problem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    sheet: Path | None = None
    allow_outside_paths: bool = False  # image paths may leave the manifest's folder

    @property
    def base_dir(self) -> Path:
        """Folder that relative image paths are resolved against: the file the
        rows are written in (the source sheet's, for a YAML manifest with one)."""
        return (self.sheet or self.path).parent


def _type_cell(name: str, text: str) -> Any:
    """Type a CSV cell by its schema field type; unknown columns stay text."""
    spec = JOB_FIELDS.get(name)
    value = text.strip()
    if spec is None or spec.get("type") in ("string", None):
        return value if spec is None else _normalise(name, value)
    kind = spec.get("type")
    if kind == "integer":
        try:
            num = float(value)
        except ValueError:
            return value
        return int(num) if num.is_integer() else num
    if kind == "boolean":
        low = value.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    return value


def _normalise(name: str, value: Any) -> Any:
    if name == "resolution" and isinstance(value, str):
        return value.strip().upper()
    if name == "provider" and isinstance(value, str) and "|" in value:
        value = [v for v in value.split("|") if v.strip()]  # CSV form of a fallback list
    if name == "provider" and isinstance(value, list):
        value = [_normalise(name, v) for v in value]
        return value[0] if len(value) == 1 else value
    if name in ("provider", "model") and isinstance(value, str):
        return value.strip().lower()
    if isinstance(value, float) and value.is_integer() and JOB_FIELDS.get(name, {}).get("type") == "integer":
        return int(value)  # 6.0 -> 6: the same job (and job id) as 6
    return value


@cache
def _typo(key: str) -> str | None:
    """The job field a column name is likely a typo of, or None."""
    if key in JOB_FIELDS:
        return None
    close = difflib.get_close_matches(key, list(JOB_FIELDS), n=1, cutoff=0.8)
    return close[0] if close else None


def _check_row(row: ManifestRow, problems: list[Problem], found: list[Problem]) -> None:
    found += bounds.value_problems(row.where, {**row.fields, **row.extras})
    found += [
        Problem(row.where, key, f"unknown field; did you mean '{_typo(header_key(key))}'?")
        for key in (*row.fields, *row.extras)
        if _typo(header_key(key))
    ]
    found += [Problem(row.where, name, msg) for name, msg in job_problems(row.fields)]
    row.valid = not found
    prompt = row.fields.get("prompt")
    if isinstance(prompt, str) and "[" in prompt:
        found += [Problem(row.where, "prompt", w, "warning") for w in camera_warnings(prompt)]
    problems += found


def _add_rows(rows: list[ManifestRow], problems: list[Problem], where: str, number: int,
              data: dict[str, Any], matrix: dict[str, list[Any]] | None) -> None:
    """Append the rows one manifest row gives: one per matrix combination,
    templates filled, checked. Raises ManifestError (with ``problems``) before
    expanding a matrix that would take the rows over bounds.MAX_JOBS."""
    count = math.prod(len(v) for v in matrix.values()) if matrix else 1
    if len(rows) + count > bounds.MAX_JOBS:
        raise ManifestError(problems + [Problem(where, "matrix", (
            f"{count:,} combinations a row; with the {len(rows):,} rows before, more than "
            f"{bounds.MAX_JOBS:,} jobs: a run may have at most {bounds.MAX_JOBS:,}: split the manifest"))])
    for combo in combinations(matrix):
        merged = {**data, **{k: _normalise(k, v) for k, v in combo.items()}}
        filled, found = fill_templates(merged)
        fields, extras = _split(filled)
        row = ManifestRow(len(rows), number, where + describe_combination(combo), fields, extras)
        _check_row(row, problems, [Problem(row.where, f, m) for f, m in found])
        rows.append(row)


def _table_rows(table: Table, columns: dict[str, str], base: dict[str, Any],
                matrix: dict[str, list[Any]] | None, problems: list[Problem], mapping: str) -> list[ManifestRow]:
    """Rows of a sheet: headers named through ``columns``, cells typed, over ``base``."""
    names, found = map_headers(table, columns, JOB_FIELDS, mapping)
    if found:
        raise ManifestError(problems + found)
    rows: list[ManifestRow] = []
    for number, record in table.rows:
        typed = {names[h]: _type_cell(names[h], v) for h, v in record.items()}
        _add_rows(rows, problems, f"{table.label}: row {number}", number, {**base, **typed}, matrix)
    if not rows:
        problems.append(Problem(table.label, "", "no job rows: add a header row and one row per job"))
    return rows


def _split(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    fields = {k: _normalise(k, v) for k, v in data.items() if k in JOB_FIELDS}
    extras = {k: v for k, v in data.items() if k not in JOB_FIELDS}
    return fields, extras


def _yaml_lines(root: yaml.Node | None) -> list[int]:
    """1-based line of each item of the top-level ``jobs`` list."""
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if key.value == "jobs" and isinstance(value, yaml.SequenceNode):
                return [item.start_mark.line + 1 for item in value.value]
    return []


def _load_yaml(path: Path, overrides: dict[str, Any], problems: list[Problem], sheet: str | None,
               allow_outside: bool) -> Manifest:
    text = bounds.read_text(path, bounds.MAX_YAML_BYTES)
    try:
        data, root = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path.name}: line {mark.line + 1}" if mark else path.name
        what = getattr(exc, "problem", None) or str(exc).split("\n")[0]
        raise ManifestError([Problem(where, "", f"not valid YAML: {what}")]) from None
    if not isinstance(data, dict):
        raise ManifestError([Problem(path.name, "", "a YAML manifest is a mapping with a 'jobs' list")])
    jobs, source = data.get("jobs"), data.get("source")
    doc = {k: v for k, v in data.items() if k != "jobs"} | ({} if "source" in data else {"jobs": [{}]})
    for loc, message in document_problems(doc):
        problems.append(Problem(path.name, loc, message))
    if "jobs" in data and "source" in data:
        problems.append(Problem(path.name, "source", "use either a jobs list or a source sheet, not both"))
        raise ManifestError(problems)
    if "source" not in data and (not isinstance(jobs, list) or not jobs):
        problems.append(Problem(path.name, "jobs", "a non-empty list of jobs (or a source sheet) is required"))
        raise ManifestError(problems)
    if isinstance(jobs, list) and len(jobs) > bounds.MAX_ROWS:
        problems.append(Problem(path.name, "jobs", f"{len(jobs):,} jobs; at most {bounds.MAX_ROWS:,}: split the manifest"))
        raise ManifestError(problems)
    lines = _yaml_lines(root)
    defaults = data.get("defaults") if isinstance(data.get("defaults"), dict) else {}
    base = {**{k: _normalise(k, v) for k, v in defaults.items()}, **overrides}
    matrix = data.get("matrix") if "matrix" in data and not matrix_problems(data["matrix"]) else None
    settings = data.get("providers") if isinstance(data.get("providers"), dict) else {}
    problems += bounds.value_problems(path.name, {
        f"providers.{n}.{k}": v for n, s in settings.items() if isinstance(s, dict) for k, v in s.items()
    })
    if "source" in data:
        if not isinstance(source, str) or problems:
            raise ManifestError(problems)
        sheet_path = path.parent / source
        try:
            bounds.check_inside(source, path.parent, allow_outside)
        except ValueError as exc:
            raise ManifestError(problems + [Problem(path.name, "source", str(exc))]) from None
        if sheet_path.suffix.lower() not in (*CSV_SUFFIXES, *EXCEL_SUFFIXES) or not sheet_path.is_file():
            raise ManifestError(problems + [Problem(path.name, "source", f"no CSV or Excel sheet at {source} "
                                                    f"(relative to {path.name}; .csv, .tsv, .txt, .xlsx or .xlsm)")])
        table = read_table(sheet_path, sheet or data.get("sheet"))
        columns = {str(k): v for k, v in (data.get("columns") or {}).items() if isinstance(v, str)} \
            if isinstance(data.get("columns"), dict) else {}
        rows = _table_rows(table, columns, base, matrix, problems, f"{path.name}: columns")
        return Manifest(path, rows, settings, sheet=sheet_path)
    rows: list[ManifestRow] = []
    for i, job in enumerate(jobs):
        line = lines[i] if i < len(lines) else i + 1
        where = f"{path.name}: line {line}"
        if not isinstance(job, dict):
            problems.append(Problem(where, "", "a job is a mapping of fields (prompt, provider, ...)"))
            continue
        job = dict(job)
        own = job.pop("matrix", None)
        found = [Problem(where, loc, msg) for loc, msg in matrix_problems(own)] if own is not None else []
        if found:
            problems += found
            continue
        _add_rows(rows, problems, where, line, {**base, **job}, {**(matrix or {}), **(own or {})})
    return Manifest(path, rows, settings)


def _load_table(path: Path, overrides: dict[str, Any], problems: list[Problem], sheet: str | None) -> Manifest:
    rows = _table_rows(read_table(path, sheet), {}, dict(overrides), None, problems, path.name)
    return Manifest(path, rows, {})


def _grouped(warnings: list[Problem]) -> list[Problem]:
    """One warning per (file, field, message), listing its rows: a typo copied
    down a 1,000-row sheet is one line, not 1,000."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for p in warnings:
        file, _, place = p.where.partition(": ")
        groups.setdefault((file, p.field, p.message), []).append(place)
    out = []
    for (file, fld, message), places in groups.items():
        shown = ", ".join(places[:5]) + (f" and {len(places) - 5} more" if len(places) > 5 else "")
        out.append(Problem(f"{file}: {shown}" if shown else file, fld, message, "warning"))
    return out


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``--set key=value`` pairs as typed job defaults; raises ManifestError."""
    out: dict[str, Any] = {}
    problems = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(Problem("--set", pair, "use --set key=value, e.g. --set provider=apiframe"))
            continue
        if key not in JOB_FIELDS:
            problems.append(Problem("--set", key, f"not a job field. Allowed: {', '.join(JOB_FIELDS)}"))
            continue
        out[key] = _type_cell(key, value)
    if problems:
        raise ManifestError(problems)
    return out


def load_manifest(
    path: str | Path, overrides: dict[str, Any] | None = None, *, strict: bool = True,
    sheet: str | None = None, allow_outside_paths: bool = False,
) -> Manifest:
    """Load and schema-check a manifest; ``overrides`` are ``--set`` defaults;
    ``sheet`` names the workbook sheet to read (default: the first);
    ``allow_outside_paths``: the source sheet and image paths may leave the
    manifest's folder.

    Raises ManifestError listing every problem (file, row or line, field, what
    is allowed). With ``strict=False`` row problems are kept in
    ``manifest.problems`` (rows marked ``valid=False``) for the caller to add
    its own checks before raising; an unreadable file still raises.
    """
    path = Path(path)
    overrides = dict(overrides or {})
    if not path.is_file():
        raise ManifestError([Problem(str(path), "", "is a folder, not a manifest file" if path.is_dir() else "no such file")])
    problems: list[Problem] = []
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        manifest = _load_yaml(path, overrides, problems, sheet, allow_outside_paths)
    elif suffix in (*CSV_SUFFIXES, *EXCEL_SUFFIXES):
        manifest = _load_table(path, overrides, problems, sheet)
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
