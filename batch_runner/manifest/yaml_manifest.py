"""A YAML manifest as checked rows: its ``jobs`` list, or the ``source`` sheet it reads.

The mapping has optional ``defaults``, ``providers``, ``matrix`` and ``qa``,
and either a ``jobs`` list or a ``source`` sheet (sheet_manifest.py) whose
headers ``columns`` maps to job fields. Problems name the YAML line of the job
or key (yaml_reader.py keeps the nodes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from batch_runner.errors import ManifestError, Problem
from batch_runner.manifest import bounds
from batch_runner.manifest.cells import normalise
from batch_runner.manifest.mistakes import (
    Key,
    Reported,
    at,
    key_problems,
    required_problems,
    template_problems,
    used_variables,
)
from batch_runner.manifest.model import Manifest, ManifestRow
from batch_runner.manifest.rows import add_rows
from batch_runner.manifest.schema import JOB_FIELDS, document_problems, matrix_problems
from batch_runner.manifest.sheet_manifest import Source, table_rows
from batch_runner.manifest.sheets import CSV_SUFFIXES, EXCEL_SUFFIXES, header_key, read_table
from batch_runner.manifest.yaml_reader import load_yaml

__all__ = ["load_yaml_manifest"]


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


def load_yaml_manifest(path: Path, overrides: dict[str, Any], problems: list[Problem], sheet: str | None,
                       allow_outside: bool, mapped: dict[str, str]) -> Manifest:
    """Read a YAML manifest; ``overrides``: ``--set``; ``sheet``: the workbook sheet;
    ``mapped``: ``--map`` (refused for a jobs list). Row problems go to ``problems``;
    raises ManifestError when the document itself cannot be read on."""
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
    base = {**{k: normalise(k, v) for k, v in defaults.items()}, **overrides}
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
        origin = Source(path.name, keys, key_lines, dict.fromkeys(mapped, "--map"))
        return Manifest(path, table_rows(table, columns, base, matrix, problems, f"{path.name}: columns", origin),
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
        add_rows(rows, problems, where, line, {**base, **job}, {**(matrix or {}), **(own or {})}, reported)
    return Manifest(path, rows, settings, qa=qa)
