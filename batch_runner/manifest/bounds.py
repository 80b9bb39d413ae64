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
import math
import re
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from batch_runner.errors import ManifestError, Problem
from batch_runner.keyscan import key_column_reason, looks_like_key

__all__ = [
    "IMAGE_FIELDS",
    "MAX_CELL_CHARS",
    "MAX_COLUMNS",
    "MAX_JOBS",
    "MAX_MANIFEST_BYTES",
    "MAX_ROWS",
    "MAX_XLSX_UNPACKED_BYTES",
    "MAX_YAML_BYTES",
    "bounded_rows",
    "check_inside",
    "check_job_count",
    "check_xlsx",
    "read_capped",
    "read_text",
    "refuse_nul",
    "short",
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


def read_capped(path: Path, limit: int) -> bytes:
    """The bytes of ``path``; ManifestError when it has more than ``limit``
    (checked before reading, and while reading a file with no size)."""
    size = path.stat().st_size
    if size > limit:
        raise ManifestError([Problem(path.name, "", f"the file is {size / 2**20:.1f} MiB; a manifest may be "
                                     f"at most {_mib(limit)}: split it into several manifests")])
    with path.open("rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:  # a file that grew, or a special file with no size
        raise ManifestError([Problem(path.name, "", f"larger than {_mib(limit)}: split it into several manifests")])
    return data


def read_text(path: Path, limit: int) -> str:
    """The text of ``path``: at most ``limit`` bytes, UTF-8 (UTF-16 with a BOM).

    Raises ManifestError for a larger file, a file that is not text in these
    encodings (naming the line and column of the first bad byte) or NUL bytes.
    """
    data = read_capped(path, limit)
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
    refuse_nul(text, path.name)
    return text.removeprefix("\ufeff")


def refuse_nul(text: str, name: str) -> None:
    """ManifestError when ``text`` holds a NUL character: a binary file."""
    if "\0" in text:
        line = text[: text.index("\0")].count("\n") + 1
        head = text[:400]
        if head.count("\0") * 5 >= len(head) * 2:  # every other character NUL: UTF-16 text
            why = ("looks like UTF-16 without a byte-order mark: save the file as UTF-8 "
                   "(in Excel: 'CSV UTF-8')")
        else:
            why = "contains NUL bytes: this is a binary file, not a text manifest"
        raise ManifestError([Problem(f"{name}: line {line}", "", why)])


def bounded_rows(rows: Iterable[list[Any]], name: str) -> list[list[Any]]:
    """The rows of a sheet, refusing more than MAX_ROWS (+ a header and a
    spare) or a row of more than MAX_COLUMNS cells; reads no further than that.
    Raises ManifestError."""
    csv.field_size_limit(max(csv.field_size_limit(), MAX_MANIFEST_BYTES))  # a data-URI image cell
    out = []
    for i, row in enumerate(rows, 1):
        if i > MAX_ROWS + 2:
            raise ManifestError([Problem(name, "", f"more than {MAX_ROWS:,} rows: split the manifest into "
                                         "several files (each run keeps its own journal)")])
        if len(row) > MAX_COLUMNS and any(str(c).strip() for c in row[MAX_COLUMNS:]):
            raise ManifestError([Problem(f"{name}: row {i}", "", f"{len(row)} columns; at most {MAX_COLUMNS} "
                                         "are allowed")])
        out.append(row)
    return out


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


def check_inside(ref: str, base_dir: Path, allow_outside: bool = False) -> Path:
    """The real path of ``ref`` (relative to ``base_dir``). Raises ValueError
    when it leads outside ``base_dir`` (through ``..``, an absolute path or a
    symlink) and ``allow_outside`` is not set."""
    base = base_dir.resolve()
    try:
        real = (base / ref).resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, NUL in the path
        raise ValueError(f"cannot resolve the path {ref!r}: {exc}") from None
    if not allow_outside and not real.is_relative_to(base):
        raise ValueError(
            f"{ref} leads outside the manifest's folder ({base}) through '..', an absolute path "
            "or a symlink: copy it next to the manifest, or pass --allow-outside-paths"
        )
    return real


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
