"""The results as an Excel workbook (``-o results.xlsx``): the deliverable people open.

Sheet "Results" holds the columns of the results CSV (output/results.py,
``result_table``), one row per job in the same order, plus a ``poster`` column
(second, after ``job_id``) when videos were saved: each saved video's poster
(output/thumbnails.py) embedded as a thumbnail, anchored in its row, the row
tall enough to show it. The header row is frozen and has an autofilter;
columns are as wide as their text (within bounds); ``video_url`` (http(s)
only) and ``local_path`` (relative to the workbook, so a folder moved or
zipped whole keeps its links) are clickable hyperlinks.

Cells keep their types: numbers are numbers; text is written as text
(``data_type`` ``s``), never as a formula, with the CSV's formula guard
(``safe_cell``: a leading ``'`` before ``= + - @``...) kept, so the text stays
inert if the sheet is saved again as CSV. Characters XML cannot hold (control
characters) become U+FFFD.

Sheet "Summary": per provider, jobs, succeeded, failed, cancelled, QA failed (the
``qa_status`` column, when there is one), cost in USD (known prices) and the
number of paid jobs whose USD price is unknown; then a total row.

Written with openpyxl (https://openpyxl.readthedocs.io) into memory, then
atomically (output/atomic.py). The journal stays the source of truth: the
workbook is rebuilt from it each time, like the CSV.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.drawing.image import Image as SheetImage
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from batch_runner.output.atomic import write_atomically
from batch_runner.output.thumbnails import poster_of, thumbnail

__all__ = ["THUMB_PX", "VERDICTS", "is_results_workbook", "write_workbook"]

#: the box a poster thumbnail fits in, (width, height) px
THUMB_PX = (160, 90)
_MAX_TEXT = 32_767  # Excel's limit on the characters of a cell
_WIDTH = (6, 60)  # column widths, characters: narrowest, widest
_HEADER_FILL = PatternFill("solid", fgColor="E7EAF0")
_LINKED = ("video_url", "local_path", "delivered_url")


def is_results_workbook(path: str | Path) -> bool:
    """Whether the workbook at ``path`` is one this module wrote (its first
    sheet's A1 is ``job_id``); False for anything unreadable as a workbook."""
    try:
        book = load_workbook(path, read_only=True)
    except Exception:  # not a zip, not a workbook, damaged: not ours
        return False
    try:
        return bool(book.worksheets) and book.worksheets[0]["A1"].value == "job_id"
    finally:
        book.close()


def write_workbook(path: str | Path, columns: Sequence[str], cells: Sequence[Sequence[Any]], *,
                   usd: Mapping[str, float | None], unknown_usd: Mapping[str, int], make_posters: bool = True) -> int:
    """Write the results workbook at ``path`` (atomically) and return the
    number of rows (jobs): ``columns`` and ``cells`` are the results table
    (output/results.py ``result_table``), ``usd`` the cost per provider (USD of
    every paid attempt; None: unknown) and ``unknown_usd`` the paid attempts
    per provider whose USD price is unknown,
    for the Summary sheet. Posters missing beside saved videos are made
    (output/posters.py; about 0.1 s each) unless ``make_posters`` is False (a
    checkpoint during a run: the cell says "no poster yet"). Raises OSError
    when ``path`` cannot be written."""
    path = Path(path)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Results"
    rows = [dict(zip(columns, row, strict=True)) for row in cells]
    posters = [poster_of(r, make=make_posters) for r in rows] if any(r.get("local_path") for r in rows) else None
    shown = [columns[0], "poster", *columns[1:]] if posters is not None else list(columns)
    sheet.append([_text(c) for c in shown])
    for row in rows:
        sheet.append([_cell(row.get(c)) for c in shown])
    _style(sheet, shown, path.parent)
    _review_choices(sheet, shown, len(rows))
    if posters is not None:
        _embed(sheet, shown.index("poster") + 1, posters)
    _summary(book.create_sheet("Summary"), rows, usd, unknown_usd)
    buffer = io.BytesIO()
    book.save(buffer)
    write_atomically(path, buffer.getvalue())
    return len(rows)


def _text(value: str) -> str:
    return str(ILLEGAL_CHARACTERS_RE.sub("\ufffd", value))[:_MAX_TEXT]


def _cell(value: Any) -> Any:
    """A value as a cell holds it: text cleaned and capped, non-finite numbers blank."""
    if isinstance(value, str):
        return _text(value) if value else None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _style(sheet: Worksheet, columns: Sequence[str], folder: Path) -> None:
    """Header, types, links, widths, frozen header and autofilter."""
    bold = Font(bold=True)
    for cell in sheet[1]:
        cell.font, cell.fill, cell.data_type = bold, _HEADER_FILL, "s"
    widths = [len(c) for c in columns]
    for row in sheet.iter_rows(min_row=2):
        for j, cell in enumerate(row):
            value = cell.value
            if isinstance(value, str):
                cell.data_type = "s"  # text, never a formula
                widths[j] = max(widths[j], min(len(value), _WIDTH[1]))
            elif value is not None:
                widths[j] = max(widths[j], len(str(value)))
            if value and columns[j] in _LINKED:
                target = _link(columns[j], str(value), folder)
                if target:
                    cell.hyperlink = target
                    cell.style = "Hyperlink"
    middle, wrapped = Alignment(vertical="center"), Alignment(wrap_text=True, vertical="center")
    for j, name in enumerate(columns):
        letter = get_column_letter(j + 1)
        sheet.column_dimensions[letter].width = max(_WIDTH[0], min(widths[j] + 2, _WIDTH[1]))
        for cell in sheet[letter][1:]:  # beside a thumbnail, text sits mid-row
            cell.alignment = wrapped if name == "prompt" else middle
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions


#: the values the ``review`` column's drop-down offers (a blank cell: not reviewed yet)
VERDICTS = ("approved", "rejected")


def _review_choices(sheet: Worksheet, columns: Sequence[str], n: int) -> None:
    """A drop-down of VERDICTS (or blank) on the ``review`` column's cells
    (an Excel data validation, which LibreOffice and Google Sheets keep)."""
    if "review" not in columns or not n:
        return
    letter = get_column_letter(list(columns).index("review") + 1)
    choice = DataValidation(type="list", formula1=f'"{",".join(VERDICTS)}"', allow_blank=True,
                            showErrorMessage=True, errorTitle="review",
                            error="approved, rejected, or leave it blank")
    choice.add(f"{letter}2:{letter}{n + 1}")
    sheet.add_data_validation(choice)


def _link(column: str, value: str, folder: Path) -> str | None:
    """A cell's hyperlink: an http(s) ``video_url``; a ``local_path`` relative
    to the workbook's folder (a file URI when on another drive); a ``delivered_url``
    that a browser opens (http(s), file)."""
    if column == "video_url":
        return value if value.lower().startswith(("http://", "https://")) else None
    if column == "delivered_url":
        return value if value.lower().startswith(("http://", "https://", "file://")) else None
    try:
        return quote(os.path.relpath(value, folder.resolve()).replace(os.sep, "/"))
    except ValueError:  # another drive
        return Path(value).resolve().as_uri()


def _embed(sheet: Worksheet, column: int, posters: list[Any]) -> None:
    """Each poster as a thumbnail in ``column`` of its row; the row and the
    column sized to it; a missing poster: its reason as the cell's text."""
    letter = get_column_letter(column)
    sheet.column_dimensions[letter].width = THUMB_PX[0] / 7 + 2  # ~7 px per character of width
    for i, poster in enumerate(posters, start=2):
        if poster.path is None:
            sheet.cell(i, column, poster.why).data_type = "s"
            continue
        image = _thumbnail(poster.path)
        if image is None:
            sheet.cell(i, column, "poster unreadable").data_type = "s"
            continue
        sheet.add_image(image, f"{letter}{i}")
        sheet.row_dimensions[i].height = (THUMB_PX[1] + 6) * 0.75  # points: 0.75 pt per px


def _thumbnail(poster: Path) -> SheetImage | None:
    """The poster shrunk to THUMB_PX, as an image openpyxl embeds (JPEG bytes)."""
    small = thumbnail(poster, THUMB_PX)
    if small is None:
        return None
    data = io.BytesIO()
    small.save(data, format="JPEG", quality=80)
    data.seek(0)
    image = SheetImage(data)
    image.width, image.height = small.size
    return image


def _summary(sheet: Worksheet, rows: list[dict[str, Any]], usd: Mapping[str, float | None],
             unknown_usd: Mapping[str, int]) -> None:
    """Per provider: jobs, succeeded, failed, cancelled, QA failed, cost USD of
    every paid attempt ("unknown" where no paid attempt's USD price is known:
    never 0), paid attempts of unknown USD price, then a person's verdicts
    (approved, rejected, awaiting review: succeeded without one) and USD per
    approved video (the cost of every paid attempt over the approved videos;
    blank: none approved, "unknown": a price unknown); a total row."""
    header = ["provider", "jobs", "succeeded", "failed", "cancelled", "QA failed", "cost USD",
              "USD unknown (paid attempts)", "approved", "rejected", "awaiting review", "USD per approved video"]
    sheet.append(header)
    counts: dict[str, list[int]] = {}
    for r in rows:
        c = counts.setdefault(str(r.get("provider") or ""), [0, 0, 0, 0, 0, 0, 0, 0])
        c[0] += 1
        c[1] += r.get("status") == "succeeded"
        c[2] += r.get("status") == "failed"
        c[3] += r.get("status") == "cancelled"
        c[4] += r.get("qa_status") == "failed"
        c[5] += r.get("review") == "approved"
        c[6] += r.get("review") == "rejected"
        c[7] += r.get("status") == "succeeded" and not r.get("review")
    total: list[Any] = [0, 0, 0, 0, 0, 0.0, 0, 0, 0, 0]
    for provider, (jobs, ok, failed, cancelled, qa, yes, no, waiting) in sorted(counts.items()):
        cost = usd.get(provider, 0.0)
        line = [jobs, ok, failed, cancelled, qa, "unknown" if cost is None else round(cost, 6),
                unknown_usd.get(provider, 0), yes, no, waiting]
        total = [a + (b if isinstance(b, int | float) else 0) for a, b in zip(total, line, strict=True)]
        sheet.append([_text(provider), *line, _per_approved(None if unknown_usd.get(provider) else cost, yes)])
        sheet.cell(sheet.max_row, 1).data_type = "s"
    n = len(counts) + 1
    all_unknown = usd and all(v is None for v in usd.values())  # no paid attempt's USD price known: never 0
    every = None if all_unknown else round(total[5], 6)
    sheet.append(["all", *total[:5], "unknown" if all_unknown else every, total[6], *total[7:],
                  _per_approved(None if total[6] else every, total[7])])  # values, not formulas: any reader sees them
    for cell in sheet[1]:
        cell.font, cell.fill = Font(bold=True), _HEADER_FILL
    for cell in sheet[n + 1]:
        cell.font = Font(bold=True)
    for column in ("G", "L"):
        for cell in sheet[column][1:]:
            cell.number_format = "#,##0.00##"
    for j, name in enumerate(header, start=1):
        sheet.column_dimensions[get_column_letter(j)].width = max(10, len(name) + 2)
    sheet.freeze_panes = "A2"


def _per_approved(usd: float | None, approved: int) -> float | str | None:
    """USD per approved video: ``usd`` over ``approved``; None (blank) when
    nothing is approved, "unknown" when the cost is (``usd`` None: a paid
    attempt's USD price unknown)."""
    if not approved:
        return None
    return "unknown" if usd is None else round(usd / approved, 6)
