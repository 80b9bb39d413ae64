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

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from batch_runner.errors import ManifestError, Problem
from batch_runner.manifest import bounds
from batch_runner.manifest.camera import camera_warnings
from batch_runner.manifest.mistakes import (
    Key,
    Reported,
    at,
    key_problems,
    required_problems,
    template_problems,
    used_variables,
)
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
    TEMPLATE_FIELDS,
    combinations,
    describe_combination,
    fill_templates,
)
from batch_runner.manifest.yaml_reader import load_yaml
from batch_runner.words import count

__all__ = ["Manifest", "ManifestRow", "load_manifest", "parse_map", "parse_overrides"]
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
    qa: dict[str, Any] = field(default_factory=dict)  # the ``qa:`` thresholds (catalog/qa_settings.py)

    @property
    def base_dir(self) -> Path:
        """Folder that relative image paths are resolved against: the file the
        rows are written in (the source sheet's, for a YAML manifest with one)."""
        return (self.sheet or self.path).parent

    @property
    def place_word(self) -> str:
        """What a row's number counts in messages: ``line`` for a YAML jobs list
        (its line number), ``row`` for a sheet (spreadsheet row, header = 1)."""
        return "line" if self.sheet is None and self.path.suffix.lower() in (".yaml", ".yml") else "row"


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
    if name.startswith("reference_") and isinstance(value, str) and "|" in value:
        return [v.strip() for v in value.split("|") if v.strip()]  # CSV form of several references
    if name == "provider" and isinstance(value, list):
        value = [_normalise(name, v) for v in value]
        return value[0] if len(value) == 1 else value
    if name in ("provider", "model") and isinstance(value, str):
        return value.strip().lower()
    if isinstance(value, float) and value.is_integer() and JOB_FIELDS.get(name, {}).get("type") == "integer":
        return int(value)  # 6.0 -> 6: the same job (and job id) as 6
    return value


def _check_row(row: ManifestRow, problems: list[Problem], found: list[Problem]) -> None:
    """Check one filled row: ``found`` (its template problems) and its values;
    ``row.valid`` says whether it had no error."""
    found += bounds.value_problems(row.where, {**row.fields, **row.extras})
    found += [Problem(row.where, name, msg) for name, msg in job_problems(row.fields)]
    row.valid = not found
    prompt = row.fields.get("prompt")
    if isinstance(prompt, str) and "[" in prompt:
        found += [Problem(row.where, "prompt", w, "warning") for w in camera_warnings(prompt)]
    problems += found


def _add_rows(rows: list[ManifestRow], problems: list[Problem], where: str, number: int,
              data: dict[str, Any], matrix: dict[str, list[Any]] | None, reported: Reported) -> None:
    """Append the rows one manifest row gives: one per matrix combination,
    templates filled, checked; the problems ``reported`` already said for the
    whole manifest are left out. Raises ManifestError (with ``problems``)
    before expanding a matrix that would take the rows over bounds.MAX_JOBS."""
    count = math.prod(len(v) for v in matrix.values()) if matrix else 1
    if len(rows) + count > bounds.MAX_JOBS:
        raise ManifestError([*problems, Problem(where, "matrix", (
            f"{count:,} combinations a row; with the {len(rows):,} rows before, more than "
            f"{bounds.MAX_JOBS:,} jobs: a run may have at most {bounds.MAX_JOBS:,}: split the manifest"))])
    for combo in combinations(matrix):
        merged = {**data, **{k: _normalise(k, v) for k, v in combo.items()}}
        filled, found = fill_templates(merged)
        fields, extras = _split(filled)
        row = ManifestRow(len(rows), number, where + describe_combination(combo), fields, extras)
        row_problems: list[Problem] = []
        _check_row(row, row_problems, [Problem(row.where, f, m) for f, m in found])
        problems += reported.filter(merged, row_problems)  # the row stays invalid
        rows.append(row)


@dataclass
class _Source:
    """How a sheet is named in the manifest: the YAML manifest that reads it
    (None for a CSV/Excel manifest), its ``defaults`` and ``matrix`` keys as
    mistakes.Key, each key's YAML line, and where each ``columns`` entry
    comes from (``--map`` entries are located as such)."""

    yaml: str | None = None
    keys: list[Key] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)


def _table_rows(table: Table, columns: dict[str, str], base: dict[str, Any],
                matrix: dict[str, list[Any]] | None, problems: list[Problem], mapping: str,
                source: _Source) -> list[ManifestRow]:
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
        typed = {names[h]: _type_cell(names[h], v) for h, v in record.items()}
        _add_rows(rows, problems, f"{table.label}: row {number}", number, {**base, **typed}, matrix, reported)
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


def _key_lines(root: yaml.Node | None, name: str) -> dict[str, int]:
    """1-based line of each key of the top-level mapping ``name`` (``defaults``, ``matrix``)."""
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if key.value == name and isinstance(value, yaml.MappingNode):
                return {str(k.value): k.start_mark.line + 1 for k, _ in value.value}
    return {}


def _cells(values: list[Any]) -> list[str]:
    """YAML values as the text a sheet cell would hold (blanks left out)."""
    return [str(v) for v in values if v is not None and v != "" and not isinstance(v, (dict, list))]


def _yaml_keys(file: str, defaults: dict[str, Any], matrix: dict[str, list[Any]] | None,
               root: yaml.Node | None) -> tuple[list[Key], dict[str, int]]:
    """The ``defaults`` and ``matrix`` keys of a YAML manifest as mistakes.Key,
    and the line of each ``defaults`` key."""
    lines, matrix_lines = _key_lines(root, "defaults"), _key_lines(root, "matrix")
    keys = [Key(f"{file}: line {lines[k]}" if k in lines else file, k, _cells([v]),
                "rename the key to '{field}' under defaults:", "key") for k, v in defaults.items()]
    keys += [Key(f"{file}: line {matrix_lines[k]}" if k in matrix_lines else file, k, _cells(list(v)),
                 "rename the key to '{field}' under matrix:", "key") for k, v in (matrix or {}).items()]
    return keys, lines


def _job_keys(file: str, jobs: list[tuple[int, dict[str, Any]]]) -> list[Key]:
    """Each key of the YAML jobs (and their own ``matrix``) as one mistakes.Key
    naming the lines of the jobs that have it."""
    lines: dict[str, list[str]] = {}
    values: dict[str, list[Any]] = {}
    for line, job in jobs:
        own: dict[str, Any] = job["matrix"] if isinstance(job.get("matrix"), dict) else {}
        for k, v in [*((k, [v]) for k, v in job.items() if k != "matrix"), *own.items()]:
            lines.setdefault(k, []).append(f"line {line}")
            values.setdefault(k, []).extend(v if isinstance(v, list) else [v])
    return [Key(at(file, places), k, _cells(values[k]), "rename the key to '{field}'", "key")
            for k, places in lines.items()]


def _load_yaml(path: Path, overrides: dict[str, Any], problems: list[Problem], sheet: str | None,
               allow_outside: bool, mapped: dict[str, str]) -> Manifest:
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
        problems.append(Problem(path.name, "jobs",
                                f"{len(jobs):,} jobs; at most {bounds.MAX_ROWS:,}: split the manifest"))
        raise ManifestError(problems)
    lines = _yaml_lines(root)
    defaults: dict[str, Any] = data["defaults"] if isinstance(data.get("defaults"), dict) else {}
    base = {**{k: _normalise(k, v) for k, v in defaults.items()}, **overrides}
    matrix = data.get("matrix") if "matrix" in data and not matrix_problems(data["matrix"]) else None
    settings: dict[str, dict[str, Any]] = data["providers"] if isinstance(data.get("providers"), dict) else {}
    qa: dict[str, Any] = data["qa"] if isinstance(data.get("qa"), dict) else {}
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
            raise ManifestError([*problems, Problem(path.name, "source", str(exc))]) from None
        if sheet_path.suffix.lower() not in (*CSV_SUFFIXES, *EXCEL_SUFFIXES) or not sheet_path.is_file():
            raise ManifestError([*problems, Problem(path.name, "source", f"no CSV or Excel sheet at {source} "
                                                    f"(relative to {path.name}; .csv, .tsv, .txt, .xlsx or .xlsm)")])
        table = read_table(sheet_path, sheet or data.get("sheet"))
        columns = {str(k): v for k, v in (data.get("columns") or {}).items() if isinstance(v, str)} \
            if isinstance(data.get("columns"), dict) else {}
        overridden = {header_key(k) for k in mapped}
        columns = {k: v for k, v in columns.items() if header_key(k) not in overridden} | mapped
        keys, key_lines = _yaml_keys(path.name, defaults, matrix, root)
        origin = _Source(path.name, keys, key_lines, dict.fromkeys(mapped, "--map"))
        return Manifest(path, _table_rows(table, columns, base, matrix, problems, f"{path.name}: columns", origin),
                        settings, sheet=sheet_path, qa=qa)
    if mapped:
        raise ManifestError([*problems, Problem("--map", next(iter(mapped)), (
            f"--map names sheet headers, and {path.name} lists its jobs in YAML: rename the key there"))])
    jobs = jobs if isinstance(jobs, list) else []
    listed = [(lines[i] if i < len(lines) else i + 1, job) for i, job in enumerate(jobs) if isinstance(job, dict)]
    keys, key_lines = _yaml_keys(path.name, defaults, matrix, root)
    keys += _job_keys(path.name, listed)
    own_keys = [k for _, job in listed if isinstance(job.get("matrix"), dict) for k in job["matrix"]]
    taken = {k for _, job in listed for k in job if k in JOB_FIELDS} | {
        k for k in (*(matrix or {}), *own_keys) if k in JOB_FIELDS}
    given = taken | {k for k in base if k in JOB_FIELDS}
    reported = Reported()
    problems += key_problems(keys, given, taken, used_variables([base, *(job for _, job in listed)]), reported)
    problems += required_problems(path.name, given, reported,
                                  "add {field}: to each job or under defaults: (or --set {field}=...)")
    available = {header_key(k) for k in (*base, *(matrix or {}), *own_keys, *(k for _, job in listed for k in job))}
    problems += template_problems(base, key_lines, path.name, available, reported)
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
        _add_rows(rows, problems, where, line, {**base, **job}, {**(matrix or {}), **(own or {})}, reported)
    return Manifest(path, rows, settings, qa=qa)


def _load_table(path: Path, overrides: dict[str, Any], problems: list[Problem], sheet: str | None,
                mapped: dict[str, str]) -> Manifest:
    table = read_table(path, sheet)
    problems += _set_under_columns(table, overrides, mapped)
    rows = _table_rows(table, mapped, dict(overrides), None, problems, "--map",
                       _Source(origins=dict.fromkeys(mapped, "--map")))
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


def _grouped(warnings: list[Problem]) -> list[Problem]:
    """One warning per (file, field, message), listing its rows: a typo copied
    down a 1,000-row sheet is one line, not 1,000."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for p in warnings:
        file, _, place = p.where.partition(": ")
        groups.setdefault((file, p.field, p.message), []).append(place)
    return [Problem(at(file, [p for p in places if p]), fld, message, "warning")
            for (file, fld, message), places in groups.items()]


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


def parse_map(pairs: list[str]) -> dict[str, str]:
    """``--map "HEADER=field"`` pairs as sheet header -> job field (or template
    variable), like a YAML manifest's ``columns:``; raises ManifestError."""
    out: dict[str, str] = {}
    problems = []
    for pair in pairs:
        header, sep, name = pair.rpartition("=")
        header, name = header.strip(), name.strip()
        if not sep or not header or not name:
            problems.append(Problem("--map", pair, 'use --map "HEADER=field", e.g. --map "Hero Image=image"'))
            continue
        out[header] = name
    if problems:
        raise ManifestError(problems)
    return out


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
        manifest = _load_yaml(path, overrides, problems, sheet, allow_outside_paths, dict(columns or {}))
    elif suffix in (*CSV_SUFFIXES, *EXCEL_SUFFIXES):
        manifest = _load_table(path, overrides, problems, sheet, dict(columns or {}))
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
