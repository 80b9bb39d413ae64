"""Limits on manifest input, and the checks that enforce them.

A manifest comes from spreadsheets edited by many people: whatever its bytes,
loading it ends in a valid manifest or a ManifestError naming the file, the
row or line and the field, never a traceback, a hang or unbounded memory.

    file size      MAX_MANIFEST_BYTES (CSV / Excel), MAX_YAML_BYTES (YAML)
    text           UTF-8 (a BOM is allowed; UTF-16 with a BOM is decoded too)
    rows           MAX_ROWS rows (CSV / Excel) or jobs (YAML); MAX_JOBS after variants
    columns        MAX_COLUMNS
    cells          MAX_CELL_CHARS characters (image cells: only the file size bounds them)
    characters     no control characters except tab, line feed and carriage return;
                   no lone surrogates and no bidirectional overrides (U+202A..U+202E,
                   U+2066..U+2069), which make a prompt read differently than it runs
    numbers        finite (no NaN or infinity)
    Excel          MAX_XLSX_UNPACKED_BYTES once unzipped
    YAML           see yaml_loader.py (nesting depth, node count with aliases,
                   duplicate keys)

API keys pasted into a manifest are refused by keyscan.py.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import ManifestError, Problem
from .keyscan import key_column_reason, looks_like_key

__all__ = [
    "IMAGE_FIELDS",
    "MAX_CELL_CHARS",
    "MAX_COLUMNS",
    "MAX_JOBS",
    "MAX_MANIFEST_BYTES",
    "MAX_ROWS",
    "MAX_XLSX_UNPACKED_BYTES",
    "MAX_YAML_BYTES",
    "check_frame",
    "check_job_count",
    "check_xlsx",
    "read_text",
    "short",
    "sniff_separator",
    "value_problems",
]

MAX_MANIFEST_BYTES = 32 * 2**20      # a CSV or Excel manifest (about 150,000 short rows)
MAX_YAML_BYTES = 8 * 2**20           # a YAML manifest (about 50,000 jobs; YAML parses slowly)
MAX_ROWS = 100_000                   # rows of a sheet, or jobs of a YAML manifest
MAX_JOBS = 100_000                   # jobs after variants
MAX_COLUMNS = 200
MAX_CELL_CHARS = 10_000              # prompts are at most 2,000 (schema); names 200
MAX_XLSX_UNPACKED_BYTES = 256 * 2**20
IMAGE_FIELDS = frozenset({"image", "end_image"})  # URLs or data URIs: bounded by the file size
_BAD_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages."""
    text = repr(value) if not isinstance(value, str) or len(value) <= limit * 4 else repr(value[: limit * 4])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _mib(n: int) -> str:
    return f"{n / 2**20:g} MiB"


def read_text(path: Path, limit: int) -> str:
    """The text of ``path``: at most ``limit`` bytes, UTF-8 (UTF-16 with a BOM).

    Raises ManifestError for a larger file, a file that is not text in these
    encodings (naming the line and column of the first bad byte) or NUL bytes.
    """
    size = path.stat().st_size
    if size > limit:
        raise ManifestError([Problem(path.name, "", f"the file is {size / 2**20:.1f} MiB; a manifest may be "
                                     f"at most {_mib(limit)}: split it into several manifests")])
    with path.open("rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:  # a file that grew, or a special file with no size
        raise ManifestError([Problem(path.name, "", f"larger than {_mib(limit)}: split it into several manifests")])
    encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), "utf-8")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise ManifestError([Problem(
            f"{path.name}: line {line}", "",
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at column {column}): save the file as UTF-8 "
            "(in Excel: 'CSV UTF-8'); a binary file is not a manifest")]) from None
    if "\0" in text:
        line = text[: text.index("\0")].count("\n") + 1
        raise ManifestError([Problem(f"{path.name}: line {line}", "",
                                     "contains NUL bytes: this is a binary file, not a text manifest")])
    return text.removeprefix("\ufeff")


def sniff_separator(text: str) -> str:
    """The column separator of a CSV text: comma, semicolon or tab (default
    comma), sniffed from its first 64 KiB."""
    try:
        return csv.Sniffer().sniff(text[:65536], delimiters=",;\t").delimiter
    except csv.Error:
        return ","


def check_header(text: str, sep: str, name: str) -> None:
    """Refuse a CSV text whose header has more than MAX_COLUMNS columns (before
    pandas builds a frame that wide), or names one column twice (``Prompt`` and
    ``prompt``: the second would silently win). Raises ManifestError."""
    csv.field_size_limit(max(csv.field_size_limit(), MAX_MANIFEST_BYTES))
    try:
        header = next(csv.reader(io.StringIO(text), delimiter=sep), [])
    except csv.Error as exc:
        raise ManifestError([Problem(f"{name}: row 1", "", f"cannot read the header row: {exc}")]) from None
    _check_columns(len(header), name)
    first: dict[str, int] = {}
    for i, col in enumerate(header, 1):
        key = col.strip().lower().replace(" ", "_")
        if key and key in first:
            raise ManifestError([Problem(f"{name}: row 1", col.strip()[:60], f"this column appears twice "
                                         f"(columns {first[key]} and {i}): keep one")])
        first.setdefault(key, i)


def _check_columns(count: int, name: str) -> None:
    if count > MAX_COLUMNS:
        raise ManifestError([Problem(f"{name}: row 1", "", f"{count} columns; at most {MAX_COLUMNS} are allowed")])


def check_xlsx(path: Path) -> None:
    """Refuse an Excel file larger than MAX_MANIFEST_BYTES, or whose parts unzip
    to more than MAX_XLSX_UNPACKED_BYTES (a zip bomb). Raises ManifestError."""
    size = path.stat().st_size
    if size > MAX_MANIFEST_BYTES:
        raise ManifestError([Problem(path.name, "", f"the file is {size / 2**20:.1f} MiB; a manifest may be "
                                     f"at most {_mib(MAX_MANIFEST_BYTES)}: split it")])
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ManifestError([Problem(path.name, "", f"not an Excel .xlsx file ({exc}): "
                                     "save it again from Excel, or as CSV UTF-8")]) from None
    if unpacked > MAX_XLSX_UNPACKED_BYTES:
        raise ManifestError([Problem(path.name, "", f"unpacks to {unpacked / 2**20:.0f} MiB; at most "
                                     f"{_mib(MAX_XLSX_UNPACKED_BYTES)} are allowed")])


def check_frame(frame: Any, name: str) -> None:
    """Rows and columns of a sheet: raises ManifestError for more than MAX_ROWS
    rows (read it with ``nrows=MAX_ROWS + 1``) or MAX_COLUMNS columns. Cells are
    checked row by row (value_problems)."""
    if len(frame) > MAX_ROWS:
        raise ManifestError([Problem(name, "", f"more than {MAX_ROWS:,} rows: split the manifest into "
                                     "several files (each run keeps its own journal)")])
    _check_columns(len(frame.columns), name)


def check_job_count(rows: list[Any], name: str) -> list[Problem]:
    """A Problem when the rows' ``variants`` add up to more than MAX_JOBS jobs."""
    total = 0
    for row in rows:
        n = row.fields.get("variants", 1)
        total += n if isinstance(n, int) and not isinstance(n, bool) and 0 < n <= 100 else 1
    if total > MAX_JOBS:
        return [Problem(name, "variants", f"{total:,} jobs; a run may have at most {MAX_JOBS:,}: split the manifest")]
    return []


def _bad_character(text: str) -> str | None:
    found = _BAD_CHARACTER.search(text)
    if found is None:
        return None
    code, where = ord(found.group()), f"at position {found.start() + 1}"
    if 0xD800 <= code <= 0xDFFF:
        return f"a lone surrogate (U+{code:04X}) {where}"
    if code >= 0x2000:
        return f"a bidirectional override (U+{code:04X}) {where}"
    return f"a control character (U+{code:04X}) {where}"


def _text_problem(name: str, text: str, limit: int | None) -> str | None:
    if limit is not None and len(text) > limit:
        return f"has {len(text):,} characters; a cell may have at most {limit:,}"
    bad = _bad_character(text)
    if bad:
        return f"contains {bad}: remove it (tabs and line breaks are allowed)"
    if name not in IMAGE_FIELDS or not text.startswith("data:"):
        reason = looks_like_key(text, strict=name not in IMAGE_FIELDS)
        if reason:
            return (f"looks like an API key or token ({reason}): keys belong in the environment "
                    "(<PROVIDER>_API_KEY) or a .env file, never in a manifest; remove it")
    return None


def _clean(data: Mapping[Any, Any]) -> bool:
    """True when no value_problems can be found: one pass of each check over
    the row's texts joined (a 100,000-row sheet is checked in about a second)."""
    strict, images = list(data), []
    for key, value in data.items():
        if not isinstance(key, str) or len(key) > 200:
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if isinstance(value, str):
            if key in IMAGE_FIELDS:
                images.append(value)
            elif len(value) > MAX_CELL_CHARS:
                return False
            else:
                strict.append(value)
    names, blob = "\n".join(data), "\n".join(strict)
    urls = "\n".join(v for v in images if not v.startswith("data:"))
    return not (key_column_reason(names) or _BAD_CHARACTER.search(blob) or any(map(_BAD_CHARACTER.search, images))
                or looks_like_key(blob) or looks_like_key(urls, strict=False))


def value_problems(where: str, data: Mapping[Any, Any]) -> list[Problem]:
    """Problems of one row's names and values: control characters, over-long
    text, non-finite numbers, API keys, and columns named like secrets."""
    if _clean(data):
        return []
    out = []
    for key, value in data.items():
        name = str(key)
        reason = key_column_reason(name) or _text_problem("", name, 200)
        if reason:
            out.append(Problem(where, name[:60], f"column name {reason}"))
            continue
        if isinstance(value, float) and not math.isfinite(value):
            out.append(Problem(where, name, f"{value} is not a number: use a finite number"))
        elif isinstance(value, str):
            limit = None if name in IMAGE_FIELDS else MAX_CELL_CHARS
            reason = _text_problem(name, value, limit)
            if reason:
                out.append(Problem(where, name, reason))
    return out
