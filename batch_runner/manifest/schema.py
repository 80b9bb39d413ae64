"""The manifest JSON Schema (data/manifest.schema.json, Draft 2020-12) and its checks.

Validators are built once. A job row is checked field by field with the
schema's own sub-schemas, memoised per (field, value) for the short values
that repeat across a sheet (provider, duration, resolution, ...), so a
100,000-row sheet costs one jsonschema call per distinct value, not per row.
Each problem comes back as (field, "what is wrong. Allowed: ...").
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

from batch_runner.manifest.bounds import short

__all__ = ["JOB_FIELDS", "document_problems", "job_problems", "matrix_problems", "schema"]

@cache
def schema() -> dict[str, Any]:
    """The manifest JSON Schema as a dict (package data ``batch_runner/data/manifest.schema.json``;
    the repository's ``schemas/manifest.schema.json`` links to it)."""
    text = resources.files("batch_runner").joinpath("data/manifest.schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _build(sub: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(
        {**sub, "$defs": schema()["$defs"]}, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


JOB_FIELDS: dict[str, dict[str, Any]] = schema()["$defs"]["job_fields"]["properties"]
REQUIRED: list[str] = schema()["$defs"]["job"]["required"]
_FIELD_VALIDATORS = {name: _build(spec) for name, spec in JOB_FIELDS.items()}
_EXTRA_VALIDATOR = _build(schema()["$defs"]["job_fields"]["additionalProperties"])
_DOCUMENT_VALIDATOR = _build(schema())
_MATRIX_VALIDATOR = _build(schema()["$defs"]["matrix"])
_MEMO_MAX_LEN = 100


def describe(error: Any, field: str = "") -> str:
    """A jsonschema error as 'what is wrong. Allowed: ...'."""
    spec = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "anyOf" and field == "provider":
        names = ", ".join(schema()["$defs"]["provider_name"]["enum"])
        return f"{short(error.instance)} is not a provider or a list of providers. Allowed: {names}, auto."
    if error.validator == "enum":
        allowed = ", ".join(str(v) for v in spec.get("enum", []))
        return f"{short(error.instance)} is not allowed. Allowed: {allowed}."
    if error.validator == "type":
        kind = spec.get("type")
        article = "an" if str(kind)[:1] in "aeiou" else "a"
        return f"{short(error.instance)} is not {article} {kind}. Use {article} {kind}."
    if error.validator in ("maxLength", "minLength"):
        n = len(error.instance) if isinstance(error.instance, str) else 0
        lo, hi = spec.get("minLength", 0), spec.get("maxLength", "any")
        return f"has {n} characters; allowed: {lo} to {hi} characters."
    if error.validator in ("minimum", "maximum"):
        return f"{short(error.instance)} is out of range ({spec.get('minimum', '')}..{spec.get('maximum', '')})."
    return str(error.message)[:300]


def _field_problem(name: str, value: Any) -> str | None:
    validator = _FIELD_VALIDATORS.get(name, _EXTRA_VALIDATOR)
    error = next(iter(sorted(validator.iter_errors(value), key=lambda e: len(e.path))), None)
    return None if error is None else describe(error, name)


#: text fields whose sub-schema only bounds the length: a string's validity (and
#: its message, "has N characters") depends on its length alone
_LENGTH_ONLY = {
    name for name, spec in JOB_FIELDS.items()
    if spec.get("type") == "string" and set(spec) <= {"type", "minLength", "maxLength", "description"}
}
_memo: dict[tuple[str, type, Any], str | None] = {}


def _memo_problem(name: str, value: Any) -> str | None:
    """_field_problem, memoised on the value, or on the length for length-only
    text fields (so unique prompts do not fill the memo)."""
    if isinstance(value, str) and name in _LENGTH_ONLY:
        key: tuple[str, type, Any] = (name, str, len(value))
    elif isinstance(value, (bool, int, float)) or (isinstance(value, str) and len(value) <= _MEMO_MAX_LEN):
        key = (name, type(value), value)
    else:
        return _field_problem(name, value)
    if key not in _memo:
        if len(_memo) > 10_000:
            _memo.clear()
        _memo[key] = _field_problem(name, value)
    return _memo[key]


def job_problems(fields: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for every schema problem of one job (defaults applied)."""
    out = []
    for name, value in fields.items():
        message = _memo_problem(name, value)
        if message:
            out.append((name, message))
    for name in REQUIRED:
        if name not in fields:
            out.append((name, required_message(name)))
    return out


def required_message(name: str) -> str:
    """The problem of a job without the required field ``name``."""
    return f"'{name}' is a required field. Add it to the row or to defaults (or --set)."


def document_problems(data: Any) -> list[tuple[str, str]]:
    """(dotted path, message) for every schema problem of a whole YAML manifest."""
    return [
        (".".join(str(p) for p in error.path), describe(error, str(error.path[-1]) if error.path else ""))
        for error in _DOCUMENT_VALIDATOR.iter_errors(data)
    ]


def matrix_problems(data: Any) -> list[tuple[str, str]]:
    """(dotted path, message) for every schema problem of a job's ``matrix``."""
    return [
        (".".join(["matrix", *(str(p) for p in error.path)]), describe(error))
        for error in _MATRIX_VALIDATOR.iter_errors(data)
    ]
