"""One manifest row as its checked rows: one per matrix combination, templates filled.

Each row is checked against bounds.py and the schema; unknown camera commands
are warnings (camera.py); problems already said for the whole manifest
(mistakes.Reported) are not repeated per row.
"""

from __future__ import annotations

import math
from typing import Any

from batch_runner.errors import ManifestError, Problem
from batch_runner.manifest import bounds
from batch_runner.manifest.camera import camera_warnings
from batch_runner.manifest.cells import normalise, split_fields
from batch_runner.manifest.mistakes import Reported
from batch_runner.manifest.model import ManifestRow
from batch_runner.manifest.schema import job_problems
from batch_runner.manifest.templates import combinations, describe_combination, fill_templates

__all__ = ["add_rows"]


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


def add_rows(rows: list[ManifestRow], problems: list[Problem], where: str, number: int,
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
        merged = {**data, **{k: normalise(k, v) for k, v in combo.items()}}
        filled, found = fill_templates(merged)
        fields, extras = split_fields(filled)
        row = ManifestRow(len(rows), number, where + describe_combination(combo), fields, extras)
        row_problems: list[Problem] = []
        _check_row(row, row_problems, [Problem(row.where, f, m) for f, m in found])
        problems += reported.filter(merged, row_problems)  # the row stays invalid
        rows.append(row)
