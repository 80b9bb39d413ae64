"""Load a manifest (YAML, CSV or Excel) and check it against schemas/manifest.schema.json.

A YAML manifest is a mapping with optional ``defaults`` and ``providers`` and a
``jobs`` list. A CSV or Excel manifest is a header row and one job per row,
with the same field names. CSV cells are typed first ("6" -> 6, "true" -> True,
blank -> unset). Every problem is collected before ``ManifestError`` is raised,
each naming the file, the row (spreadsheet row number, header = row 1) or YAML
line, the field, what is wrong and what is allowed.
"""

from __future__ import annotations

import difflib
import io
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from . import limits
from .errors import ManifestError, Problem
from .schema import JOB_FIELDS, document_problems, job_problems
from .yaml_loader import load_yaml

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
    """A loaded, schema-valid manifest: its rows and per-provider settings."""

    path: Path
    rows: list[ManifestRow]
    provider_settings: dict[str, dict[str, Any]]
    warnings: list[Problem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    allow_outside_paths: bool = False  # image paths may leave the manifest's folder

    @property
    def base_dir(self) -> Path:
        """Folder that relative image paths are resolved against."""
        return self.path.parent


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


def _check_row(row: ManifestRow, problems: list[Problem]) -> None:
    found = limits.value_problems(row.where, {**row.fields, **row.extras})
    found += [
        Problem(row.where, key, f"unknown field; did you mean '{_typo(key)}'?")
        for key in (*row.fields, *row.extras)
        if _typo(key)
    ]
    found += [Problem(row.where, name, msg) for name, msg in job_problems(row.fields)]
    row.valid = not found
    problems += found


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


def _load_yaml(path: Path, overrides: dict[str, Any], problems: list[Problem]) -> Manifest:
    text = limits.read_text(path, limits.MAX_YAML_BYTES)
    try:
        data, root = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path.name}: line {mark.line + 1}" if mark else path.name
        what = getattr(exc, "problem", None) or str(exc).split("\n")[0]
        raise ManifestError([Problem(where, "", f"not valid YAML: {what}")]) from None
    if not isinstance(data, dict):
        raise ManifestError([Problem(path.name, "", "a YAML manifest is a mapping with a 'jobs' list")])
    for loc, message in document_problems({k: v for k, v in data.items() if k != "jobs"} | {"jobs": [{}]}):
        problems.append(Problem(path.name, loc, message))
    jobs = data.get("jobs")
    if not isinstance(jobs, list) or not jobs:
        problems.append(Problem(path.name, "jobs", "a non-empty list of jobs is required"))
        raise ManifestError(problems)
    if len(jobs) > limits.MAX_ROWS:
        problems.append(Problem(path.name, "jobs", f"{len(jobs):,} jobs; at most {limits.MAX_ROWS:,}: split the manifest"))
        raise ManifestError(problems)
    lines = _yaml_lines(root)
    defaults = data.get("defaults") if isinstance(data.get("defaults"), dict) else {}
    base = {**{k: _normalise(k, v) for k, v in defaults.items()}, **overrides}
    rows = []
    for i, job in enumerate(jobs):
        line = lines[i] if i < len(lines) else i + 1
        where = f"{path.name}: line {line}"
        if not isinstance(job, dict):
            problems.append(Problem(where, "", "a job is a mapping of fields (prompt, provider, ...)"))
            continue
        fields, extras = _split({**base, **job})
        row = ManifestRow(i, line, where, fields, extras)
        _check_row(row, problems)
        rows.append(row)
    settings = data.get("providers") if isinstance(data.get("providers"), dict) else {}
    problems += limits.value_problems(path.name, {
        f"providers.{n}.{k}": v for n, s in settings.items() if isinstance(s, dict) for k, v in s.items()
    })
    return Manifest(path, rows, settings)


def _read_table(path: Path) -> Any:
    import pandas as pd

    if path.suffix.lower() in (".xlsx", ".xlsm"):
        limits.check_xlsx(path)
        try:
            return pd.read_excel(path, dtype=str, keep_default_na=False, nrows=limits.MAX_ROWS + 1)
        except Exception as exc:  # openpyxl raises many kinds on a damaged workbook
            raise ValueError(f"{type(exc).__name__}: {str(exc)[:200]}") from None
    text = limits.read_text(path, limits.MAX_MANIFEST_BYTES)
    sep = limits.sniff_separator(text)
    limits.check_header(text, sep, path.name)
    return pd.read_csv(
        io.StringIO(text),
        dtype=str,
        keep_default_na=False,
        skip_blank_lines=False,
        sep=sep,
        nrows=limits.MAX_ROWS + 1,
    )


def _load_table(path: Path, overrides: dict[str, Any], problems: list[Problem]) -> Manifest:
    try:
        frame = _read_table(path)
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise ManifestError([Problem(path.name, "", f"cannot read as a table: {str(exc)[:300]}")]) from None
    limits.check_frame(frame, path.name)
    headers = {}
    for col in frame.columns:
        key = str(col).strip()
        low = key.lower().replace(" ", "_")
        headers[col] = low if low in JOB_FIELDS else key
    rows = []
    for i, record in enumerate(frame.to_dict("records")):
        cells = {headers[c]: v for c, v in record.items() if str(v).strip() != ""}
        if not cells:
            continue  # blank row (trailing rows of a spreadsheet export)
        typed = {k: _type_cell(k, str(v)) for k, v in cells.items()}
        fields, extras = _split({**overrides, **typed})
        sheet_row = i + 2
        row = ManifestRow(len(rows), sheet_row, f"{path.name}: row {sheet_row}", fields, extras)
        _check_row(row, problems)
        rows.append(row)
    if not rows:
        problems.append(Problem(path.name, "", "no job rows: add a header row and one row per job"))
    return Manifest(path, rows, {})


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
    path: str | Path, overrides: dict[str, Any] | None = None, *, strict: bool = True
) -> Manifest:
    """Load and schema-check a manifest; ``overrides`` are ``--set`` defaults.

    Raises ManifestError listing every problem (file, row or line, field, what
    is allowed). With ``strict=False`` row problems are kept in
    ``manifest.problems`` (rows marked ``valid=False``) for the caller to add
    its own checks before raising; an unreadable file still raises.
    """
    path = Path(path)
    overrides = dict(overrides or {})
    if not path.is_file():
        raise ManifestError([Problem(str(path), "", "no such file")])
    problems: list[Problem] = []
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        manifest = _load_yaml(path, overrides, problems)
    elif suffix in (".csv", ".tsv", ".txt", ".xlsx", ".xlsm"):
        manifest = _load_table(path, overrides, problems)
    else:
        raise ManifestError(
            [Problem(path.name, "", "unknown manifest type: use .yaml/.yml, .csv or .xlsx")]
        )
    problems += limits.check_job_count(manifest.rows, path.name)
    manifest.problems = [p for p in problems if p.severity == "error"]
    manifest.warnings = [p for p in problems if p.severity != "error"]
    if strict and manifest.problems:
        raise ManifestError(problems)
    return manifest
