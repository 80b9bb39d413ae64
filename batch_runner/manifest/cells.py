"""A cell or value as its job field's type: "6" -> 6, "true" -> True, "1080p" -> "1080P".

Sheet cells and ``--set`` values are text, typed by the field's schema type
(schemas/manifest.schema.json); provider, model and resolution are written one
way, and the CSV form of a list ("a|b") becomes a list.
"""

from __future__ import annotations

from typing import Any

from batch_runner.manifest.schema import JOB_FIELDS

__all__ = ["normalise", "split_fields", "type_cell"]
_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


def type_cell(name: str, text: str) -> Any:
    """Type a CSV cell by its schema field type; unknown columns stay text."""
    spec = JOB_FIELDS.get(name)
    value = text.strip()
    if spec is None or spec.get("type") in ("string", None):
        return value if spec is None else normalise(name, value)
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


def normalise(name: str, value: Any) -> Any:
    """``value`` as field ``name`` is written: provider and model in lower case, resolution in
    upper case, "a|b" a list (provider, reference_*), 6.0 -> 6 for an integer field."""
    if name == "resolution" and isinstance(value, str):
        return value.strip().upper()
    if name == "provider" and isinstance(value, str) and "|" in value:
        value = [v for v in value.split("|") if v.strip()]  # CSV form of a fallback list
    if name.startswith("reference_") and isinstance(value, str) and "|" in value:
        return [v.strip() for v in value.split("|") if v.strip()]  # CSV form of several references
    if name == "provider" and isinstance(value, list):
        value = [normalise(name, v) for v in value]
        return value[0] if len(value) == 1 else value
    if name in ("provider", "model") and isinstance(value, str):
        return value.strip().lower()
    if isinstance(value, float) and value.is_integer() and JOB_FIELDS.get(name, {}).get("type") == "integer":
        return int(value)  # 6.0 -> 6: the same job (and job id) as 6
    return value


def split_fields(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``data`` as (its job fields, normalised; the campaign's own columns)."""
    fields = {k: normalise(k, v) for k, v in data.items() if k in JOB_FIELDS}
    extras = {k: v for k, v in data.items() if k not in JOB_FIELDS}
    return fields, extras
