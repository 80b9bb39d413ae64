"""Prompt templates and matrices: a sheet row becomes one or more filled job rows.

Template: ``prompt: "{product} on a {background}, {mood} [推进]"``. The text
fields ``name``, ``prompt``, ``image`` and ``end_image`` may name variables in
braces; each is filled from the row: its columns (header in any case, as
``sheets.header_key`` reads it), its job fields, and the matrix values of the
combination. ``{{`` and ``}}`` are literal braces. A variable with no value is a
problem naming the row and the variable.

Matrix: ``matrix: {background: [studio, beach, forest], duration: [6, 10]}``
expands every row into each combination of the listed values (3 x 2 = 6 rows);
a value sets the job field or template variable of that name, over the row's own.
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Mapping
from typing import Any

from batch_runner.manifest.sheets import header_key

__all__ = ["TEMPLATE_FIELDS", "combinations", "describe_combination", "fill_templates", "missing_message",
           "variables"]

TEMPLATE_FIELDS = ("name", "prompt", "image", "end_image")
_FORMATTER = string.Formatter()


def combinations(matrix: Mapping[str, list[Any]] | None) -> list[dict[str, Any]]:
    """Every combination of a matrix's values, in order (``[{}]`` for none).

    ``{"a": [1, 2], "b": ["x"]}`` -> ``[{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]``.
    """
    if not matrix:
        return [{}]
    keys = list(matrix)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*matrix.values())]


def describe_combination(combo: Mapping[str, Any]) -> str:
    """`` (background=beach, duration=10)`` for a problem's location; "" for none."""
    return f" ({', '.join(f'{k}={v}' for k, v in combo.items())})" if combo else ""


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def missing_message(name: str) -> str:
    """The problem of a row where template variable ``name`` (as written) has no value."""
    return (f"template variable {{{name}}} has no value in this row: add a '{name}' column, a default "
            "or a matrix entry (or write {{ and }} for literal braces)")


def variables(text: str) -> list[str]:
    """The variable names of a template, as written (``"{Product} on {bg}"`` ->
    ``["Product", "bg"]``); malformed ones (unmatched brace, ``{a.b}``) are left out."""
    try:
        parts = list(_FORMATTER.parse(text))
    except ValueError:
        return []
    return [name for _, name, spec, conv in parts
            if name is not None and name.strip() and not spec and not conv and not any(c in name for c in ".[]")]


def _fill(text: str, variables: Mapping[str, Any]) -> tuple[str, list[str]]:
    """(filled text, problems) for one template."""
    try:
        parts = list(_FORMATTER.parse(text))
    except ValueError:
        return text, ["unmatched brace: write {{ or }} for a literal brace"]
    out, problems = [], []
    for literal, name, spec, conversion in parts:
        out.append(literal)
        if name is None:
            continue
        if not name.strip() or spec or conversion or any(c in name for c in ".[]"):
            problems.append(f"{{{name}}} is not a template variable: write {{column name}}, "
                            "or {{ and }} for literal braces")
            continue
        value = variables.get(header_key(name))
        if value is None or value == "":
            problems.append(missing_message(name))
            continue
        out.append(_text(value))
    return "".join(out), problems


def fill_templates(data: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Fill the template fields of one row (job fields and columns merged).

    Returns (the row with filled fields, [(field, problem)]). Text without
    braces is returned unchanged.
    """
    fields = [f for f in TEMPLATE_FIELDS if isinstance(data.get(f), str) and ("{" in data[f] or "}" in data[f])]
    if not fields:
        return data, []
    variables = {header_key(k): v for k, v in data.items()}
    filled, problems = dict(data), []
    for name in fields:
        filled[name], found = _fill(data[name], variables)
        problems += [(name, msg) for msg in found]
    return filled, problems
