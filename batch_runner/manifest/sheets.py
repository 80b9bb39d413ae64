"""Read a spreadsheet as people export it: a header row, then rows of text cells.

Quirks handled (each one has a fixture in tests/test_sheets.py):

- Excel ``.xlsx`` / ``.xlsm`` through pandas + openpyxl: the first sheet, or the
  one named by ``sheet`` (any case); an unknown name lists the sheets there are.
- CSV text in UTF-8 with or without a BOM (Excel "CSV UTF-8", Google Sheets,
  LibreOffice), or UTF-16 with a BOM (Excel "Unicode Text"). Other encodings are
  refused with how to export UTF-8 (a guessed encoding would send garbled prompts).
- Delimiter comma, semicolon or tab, read off the header line (outside quotes);
  for a one-column sheet, the one never seen outside quotes; an Excel ``sep=;``
  first line is obeyed.
- CRLF line ends; quoted cells holding newlines (kept as ``\\n``, so a CRLF and an
  LF export give the same job) and doubled quotes.
- Blank rows and rows of bare delimiters are skipped, keeping row numbers; blank
  rows above the header are skipped too.
- Trailing blank columns (no header, no value) are dropped; a column with values
  but no header is an error.
- Header names in any case, with spaces, punctuation or a unit: ``Prompt``,
  ``Image URL``, ``Duration (s)`` -> ``prompt``, ``image``, ``duration``
  (``header_key``); ``map_headers`` applies a manifest's ``columns:`` mapping
  and refuses two headers meaning the same field.
- Cells are stripped of surrounding white space (no-break spaces included).

Row numbers are the spreadsheet's (header = the header's row, usually 1), so a
problem names the row a person sees. Size, rows, columns and zip bombs are
bounded by bounds.py before and while reading.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from batch_runner.errors import ManifestError, Problem
from batch_runner.manifest import bounds

__all__ = ["CSV_SUFFIXES", "EXCEL_SUFFIXES", "Table", "header_key", "map_headers", "read_table"]

EXCEL_SUFFIXES = (".xlsx", ".xlsm")
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
_DELIMITERS = (",", ";", "\t")
#: other names people give the job fields (after header_key normalisation)
ALIASES = {
    "image_url": "image",
    "image_path": "image",
    "image_file": "image",
    "first_frame": "image",
    "first_frame_image": "image",
    "end_image_url": "end_image",
    "last_frame": "end_image",
    "last_frame_image": "end_image",
    "duration_s": "duration",
    "duration_seconds": "duration",
}
_UNIT = re.compile(r"\s*[(\[][^)\]]*[)\]]\s*$")
_NON_WORD = re.compile(r"[^\w]+")


@lru_cache(maxsize=4096)
def header_key(text: str) -> str:
    """The field name a header means: case, spaces, punctuation and a trailing
    unit in brackets do not matter (``Duration (s)`` -> ``duration``,
    ``Image URL`` -> ``image``). Also used for template variables."""
    key = unicodedata.normalize("NFKC", str(text)).strip().lower()
    key = _UNIT.sub("", key) or key
    key = _NON_WORD.sub("_", key).strip("_")
    return ALIASES.get(key, key)


@dataclass
class Table:
    """A sheet's header (as written, stripped) and its non-blank rows.

    ``rows``: (spreadsheet row number, {header: cell text}) with blank cells left
    out; ``label``: file name, plus the sheet name for a workbook;
    ``header_row``: the header's spreadsheet row number.
    """

    path: Path
    label: str
    headers: list[str]
    rows: list[tuple[int, dict[str, str]]]
    header_row: int = 1

    def cells(self, header: str) -> Iterator[str]:
        """The non-blank cells of column ``header``, top to bottom."""
        return (record[header] for _, record in self.rows if header in record)


def _problem(label: str, message: str) -> ManifestError:
    return ManifestError([Problem(label, "", message)])


def _decode(raw: bytes, name: str) -> str:
    encoding = "utf-16" if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:  # UTF-16: cut short (an odd length) or a lone surrogate
        line = raw[: exc.start].decode(encoding, "replace").count("\n") + 1
        what = "UTF-8" if encoding == "utf-8-sig" else "UTF-16"
        mark = "" if encoding == "utf-8-sig" else ", though it starts with a UTF-16 byte-order mark"
        raise _problem(
            f"{name}: line {line}",
            f"not {what} text (byte 0x{raw[exc.start]:02x}){mark}: export the sheet as "
            "'CSV UTF-8' (Excel), 'Comma-separated values' (Google Sheets) or with "
            "character set 'Unicode (UTF-8)' (LibreOffice)",
        ) from None


def _count_outside_quotes(line: str, char: str) -> int:
    return sum(1 for i, part in enumerate(line.split('"')) if i % 2 == 0 for c in part if c == char)


def _delimiter(text: str) -> tuple[str, str]:
    """(delimiter, text without an Excel ``sep=`` line)."""
    first, _, rest = text.partition("\n")
    marker = first.strip().lower()
    if marker.startswith("sep=") and len(marker) == 5:
        return first.strip()[4], rest
    header = next((ln for ln in text.splitlines() if ln.strip(" ,;\t\r")), "")
    counts = {d: _count_outside_quotes(header, d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    if counts[best] and list(counts.values()).count(counts[best]) == 1:
        return best, text
    if not counts[best]:  # one column: an exporter quotes every cell holding its delimiter
        sample = text[:65536]
        return next((d for d in _DELIMITERS if not _count_outside_quotes(sample, d)), ","), text
    try:
        return csv.Sniffer().sniff(text[:65536], delimiters="".join(_DELIMITERS)).delimiter, text
    except csv.Error:
        return ",", text


def _read_csv(path: Path) -> tuple[str, list[list[str]]]:
    text = _decode(bounds.read_capped(path, bounds.MAX_MANIFEST_BYTES), path.name)
    bounds.refuse_nul(text, path.name)
    sep, body = _delimiter(text)  # a spreadsheet hides a sep= line: rows count from the header
    reader = csv.reader(io.StringIO(body, newline=""), delimiter=sep)
    try:
        # ragged rows stay ragged; quoted newlines stay in their cell
        return path.name, bounds.bounded_rows(reader, path.name)
    except csv.Error as exc:
        raise _problem(f"{path.name}: line {reader.line_num}", f"cannot read as CSV: {exc}") from None


def _read_excel(path: Path, sheet: str | None) -> tuple[str, list[list[str]]]:
    import pandas as pd

    bounds.check_xlsx(path)
    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except Exception as exc:
        raise _problem(path.name, f"cannot read as an Excel workbook ({type(exc).__name__}): save it "
                       "again as .xlsx, or export CSV UTF-8") from None
    with book:
        names = book.sheet_names
        if sheet is None:
            name = names[0]
        else:
            match = [n for n in names if n.strip().lower() == sheet.strip().lower()]
            if not match:
                raise _problem(path.name, f"no sheet named {sheet!r}; sheets: {', '.join(names)}")
            name = match[0]
        frame = pd.read_excel(book, sheet_name=name, header=None, dtype=str, keep_default_na=False,
                              nrows=bounds.MAX_ROWS + 3)
    label = f"{path.name} [{name}]" if sheet else path.name
    return label, bounds.bounded_rows(frame.fillna("").values.tolist(), label)


def _clean(cell: object) -> str:
    text = "" if cell is None else str(cell)
    return text.replace("\r\n", "\n").replace("\r", "\n").strip(" \t\n\u00a0\u3000")


def read_table(path: str | Path, sheet: str | None = None) -> Table:
    """Read a CSV or Excel sheet into a Table. ``sheet``: a workbook's sheet name.

    Raises ManifestError (unreadable file, unknown sheet, not UTF-8, a column with
    values but no header).
    """
    path = Path(path)
    if sheet is not None and path.suffix.lower() not in EXCEL_SUFFIXES:
        raise _problem(path.name, f"--sheet {sheet}: a CSV file has no sheets (--sheet names an Excel "
                       "workbook's sheet): leave --sheet out")
    try:
        if path.suffix.lower() in EXCEL_SUFFIXES:
            label, grid = _read_excel(path, sheet)
        else:
            label, grid = _read_csv(path)
    except OSError as exc:
        raise _problem(path.name, f"cannot read: {exc.strerror or exc}") from None
    cells = [[_clean(c) for c in row] for row in grid]
    start = next((i for i, row in enumerate(cells) if any(row)), None)
    if start is None:
        return Table(path, label, [], [])
    header = cells[start]
    width = max(len(r) for r in cells)
    used = [j for j in range(width) if any(j < len(r) and r[j] for r in cells[start:])]
    problems = []
    for j in used:
        if j >= len(header) or not header[j]:
            row = next(i for i, r in enumerate(cells) if i > start and j < len(r) and r[j])
            problems.append(Problem(f"{label}: row {row + 1}", "",
                                    f"column {j + 1} has values but no header: name it in row {start + 1}"))
    cols = [(j, header[j]) for j in used if j < len(header) and header[j]]
    first: dict[str, int] = {}
    for j, name in cols:  # the same header twice: one column's cells would silently replace the other's
        if name in first:
            problems.append(Problem(f"{label}: row {start + 1}", name, f"columns {first[name] + 1} and {j + 1} "
                                    "have the same header: keep one, or rename one"))
        first.setdefault(name, j)
    if problems:
        raise ManifestError(problems)
    rows = []
    for i in range(start + 1, len(cells)):
        r = cells[i]
        record = {name: r[j] for j, name in cols if j < len(r) and r[j]}
        if record:
            rows.append((i + 1, record))
    return Table(path, label, [name for _, name in cols], rows, start + 1)


def map_headers(
    table: Table, columns: Mapping[str, str], fields: Collection[str], where: str,
    origins: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], list[Problem]]:
    """The name each header gives its cells: ``columns`` (sheet header -> job
    field or variable; matched ignoring case, then as ``header_key`` reads it)
    first, else the job field the header means, else the header as written.

    Returns (header -> name, problems): a ``columns`` entry naming no header, or
    two headers giving one field. ``where`` locates the ``columns:`` mapping;
    ``origins`` (a ``columns`` key -> where) overrides it for some entries,
    e.g. ``--map`` ones.
    """
    exact = {k.strip().casefold(): k for k in columns}
    names: dict[str, str] = {}
    used: set[str] = set()
    for h in table.headers:
        key = exact.get(h.strip().casefold())
        if key is not None:
            names[h], used = columns[key], used | {key}
    for h in table.headers:
        if h in names:
            continue
        loose = [k for k in columns if k not in used and header_key(k) == header_key(h)]
        if loose:
            names[h], used = columns[loose[0]], used | {loose[0]}
        else:
            names[h] = header_key(h) if header_key(h) in fields else h
    names = {h: header_key(n) if header_key(n) in fields else n for h, n in names.items()}
    problems = [
        Problem((origins or {}).get(k, where), k,
                f"no header {k!r} in {table.label}; its headers: {', '.join(table.headers)}")
        for k in columns if k not in used
    ]
    by_name: dict[str, list[str]] = {}
    for h, n in names.items():
        by_name.setdefault(n, []).append(h)
    for n, hs in by_name.items():
        if len(hs) > 1:
            shown = " and ".join(repr(h) for h in hs)
            problems.append(Problem(table.label, n, f"headers {shown} both give '{n}': keep one, "
                                    "or map one to another name under columns:"))
    return names, problems
