"""The ``--set`` and ``--map`` options: typed job defaults, and sheet header -> job field."""

from __future__ import annotations

from typing import Any

from batch_runner.errors import ManifestError, Problem
from batch_runner.manifest.cells import type_cell
from batch_runner.manifest.schema import JOB_FIELDS

__all__ = ["parse_map", "parse_overrides"]


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
        out[key] = type_cell(key, value)
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
