"""A contact sheet: every job's poster in one image, so a campaign is seen at a glance.

``write_contact_sheet(results, out)`` (``batch-runner contact-sheet`` and ``run
--contact-sheet``) reads a results file (CSV or workbook, output/readback.py)
and lays one tile per row out in a grid, in the results' order: the poster
(output/thumbnails.py; made beside the video when missing) fitted into the
tile, and under it the job's name and variant, provider, duration and status, and QA
verdict (the ``qa_status`` / ``qa_problems`` columns; "QA not checked"
without them). A job without a poster gets a grey tile saying why (failed,
not saved, file missing, undecodable).

``by``: a column (a ``matrix:`` axis such as ``background``, or ``provider``)
groups the tiles, one labelled band per value (first seen first), each
group's tiles in rows of their own, so A/B choices are compared at once.

Layout, px (``Layout``): tiles of ``tile`` (poster area) over ``label_h``,
``gap`` between tiles and between groups, ``margin`` around, ``band_h`` per
group label (only with ``by``); ``min(columns, largest group)`` tiles a row.
So the image is ``2*margin + c*tile_w + (c-1)*gap`` wide and, per group of
``n`` tiles, ``ceil(n/c)`` tile rows of ``tile_h + label_h`` with ``gap``
between them (plus a band), groups ``gap`` apart, ``2*margin`` in all.
Drawn with Pillow (https://pillow.readthedocs.io); PNG or JPEG by extension,
written atomically.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

from batch_runner.errors import ConfigError
from batch_runner.output.atomic import write_atomically
from batch_runner.output.readback import read_results
from batch_runner.output.readback import shown as _shown
from batch_runner.output.results import RESULT_COLUMNS
from batch_runner.output.thumbnails import Poster, poster_of, thumbnail

__all__ = ["SHEET_SUFFIXES", "SOFTWARE", "Layout", "check_sheet_request", "is_contact_sheet", "write_contact_sheet"]

#: image formats a contact sheet is written in, by extension
SHEET_SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
_NEEDED = ("job_id", "name", "variant", "provider", "status", "local_path")
#: the mark a contact sheet carries (a PNG tEXt chunk "Software", a JPEG comment):
#: an earlier contact sheet may be replaced, no other image
SOFTWARE = "batch-runner contact sheet"
_MAX_SIDE_PX = 65_000  # JPEG's limit is 65,535 px a side
_BACKGROUND, _INK, _MUTED, _TILE, _MISSING = "#f4f5f7", "#1d2330", "#555d6b", "#111111", "#8a8f98"
_QA_INK = {"passed": "#1b7a35", "failed": "#b3261e", "warning": "#9a6700"}


@dataclass(frozen=True)
class Layout:
    """The grid, px: ``columns`` tiles a row at most; each tile a ``tile``
    (width, height) poster area over a ``label_h`` label; ``gap`` between
    tiles and groups; ``margin`` around; ``band_h`` per group label."""

    columns: int = 6
    tile: tuple[int, int] = (256, 144)
    label_h: int = 58
    gap: int = 8
    margin: int = 16
    band_h: int = 30


#: results columns a run may add after its jobs are known (output/qa.py)
QA_COLUMNS = ("qa_status", "qa_problems")


def check_sheet_request(download: Path | None, by: str | None, jobs: Sequence[Any]) -> None:
    """Before a run: ``run --contact-sheet`` needs ``--download`` (posters come
    from saved videos) and a ``--contact-sheet-by`` column the results will
    have (a results column, a manifest column of ``jobs``' extras, a QA
    column). Raises ConfigError naming the fix."""
    if download is None:
        raise ConfigError("--contact-sheet needs --download DIR: its tiles are the posters of the saved videos")
    if by is None:
        return
    known = dict.fromkeys([*RESULT_COLUMNS, *(k for j in jobs for k in j.extras), *QA_COLUMNS])
    if by not in known:
        raise ConfigError(f"--contact-sheet-by {by}: no such results column; columns: {', '.join(known)}")


def write_contact_sheet(results: str | Path, out: str | Path, *, by: str | None = None,
                        layout: Layout | None = None) -> int:
    """Write the contact sheet of the results file ``results`` at ``out``
    (``.png`` or ``.jpg``) and return the number of tiles (rows).

    Raises ConfigError: not a results file; no saved video in it (nothing to
    show: run with --download); ``by`` not one of its columns (the message
    lists them); a sheet too tall for the image format (more ``columns``).
    OSError when ``out`` cannot be written.
    """
    results, out = Path(results), Path(out)
    layout = layout or Layout()
    rows = read_results(results, _NEEDED)
    if by is not None and rows and by not in rows[0]:
        raise ConfigError(f"--by {by}: {results} has no such column; its columns: {', '.join(rows[0])}")
    if not any(r["local_path"] for r in rows):
        raise ConfigError(f"{results}: no saved videos (local_path is empty in every row), so no posters to "
                          "show: run with --download DIR to save the videos, then make the contact sheet")
    groups: dict[str, list[Mapping[str, str]]] = {}
    for r in rows:
        groups.setdefault(r[by] if by else "", []).append(r)
    image = _draw(groups, by, layout)
    buffer = io.BytesIO()
    image.save(buffer, format=SHEET_SUFFIXES.get(out.suffix.lower(), "PNG"), **_options(out))
    write_atomically(out, buffer.getvalue())
    return len(rows)


def _options(out: Path) -> dict[str, object]:
    if SHEET_SUFFIXES.get(out.suffix.lower()) == "JPEG":
        return {"quality": 88, "comment": SOFTWARE.encode()}
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", SOFTWARE)
    return {"optimize": False, "pnginfo": info}


def is_contact_sheet(path: str | Path) -> bool:
    """Whether the image at ``path`` is a contact sheet this module wrote (its
    SOFTWARE mark); False for any other file, or one that cannot be read."""
    try:
        with Image.open(path) as image:
            marks = (image.info.get("Software"), image.info.get("comment"))
    except Exception:  # not an image, damaged, unreadable: not ours
        return False
    return any(m in (SOFTWARE, SOFTWARE.encode()) for m in marks)


def _size(groups: Mapping[str, Sequence[object]], banded: bool, layout: Layout) -> tuple[int, int, int]:
    """(width, height, columns) of the sheet."""
    cols = max(1, min(layout.columns, max(len(g) for g in groups.values())))
    tw, th = layout.tile
    width = 2 * layout.margin + cols * tw + (cols - 1) * layout.gap
    height = 2 * layout.margin + (len(groups) - 1) * layout.gap
    for group in groups.values():
        lines = math.ceil(len(group) / cols)
        height += (layout.band_h if banded else 0) + lines * (th + layout.label_h) + (lines - 1) * layout.gap
    return width, height, cols


def _draw(groups: Mapping[str, list[Mapping[str, str]]], by: str | None, layout: Layout) -> Image.Image:
    width, height, cols = _size(groups, by is not None, layout)
    if height > _MAX_SIDE_PX:
        raise ConfigError(f"the contact sheet would be {height} px tall (at most {_MAX_SIDE_PX}): "
                          f"use more --columns (now {layout.columns}), or --by to split it")
    sheet = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font, bold = ImageFont.load_default(size=13), ImageFont.load_default(size=15)
    tw, th = layout.tile
    y = layout.margin
    for value, group in groups.items():
        if by is not None:
            band = f"{by}: {value or '(blank)'}  ({len(group)} job{'s' if len(group) != 1 else ''})"
            draw.text((layout.margin, y + 6), _fit(draw, band, width - 2 * layout.margin, bold), fill=_INK, font=bold)
            y += layout.band_h
        for i, row in enumerate(group):
            line, col = divmod(i, cols)
            x = layout.margin + col * (tw + layout.gap)
            top = y + line * (th + layout.label_h + layout.gap)
            _tile(sheet, draw, (x, top), row, poster_of(row), layout, font)
        lines = math.ceil(len(group) / cols)
        y += lines * (th + layout.label_h) + (lines - 1) * layout.gap + layout.gap
    return sheet


def _tile(sheet: Image.Image, draw: ImageDraw.ImageDraw, at: tuple[int, int], row: Mapping[str, str],
          poster: Poster, layout: Layout, font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> None:
    """One tile: the poster fitted in the tile area (or a grey box saying why), its labels under it."""
    x, y = at
    tw, th = layout.tile
    picture = thumbnail(poster.path, layout.tile) if poster.path else None
    if picture is not None:
        draw.rectangle((x, y, x + tw - 1, y + th - 1), fill=_TILE)
        sheet.paste(picture, (x + (tw - picture.width) // 2, y + (th - picture.height) // 2))
    else:
        draw.rectangle((x, y, x + tw - 1, y + th - 1), fill=_MISSING)
        why = _fit(draw, poster.why or "poster unreadable", tw - 12, font)
        draw.text((x + tw // 2, y + th // 2), why, fill="#ffffff", font=font, anchor="mm")
    variant = row.get("variant") or ""
    qa, problems = row.get("qa_status") or "", (row.get("qa_problems") or "").replace(";", ", ")
    verdict = f"QA {qa}" + (f": {problems}" if problems else "") if qa else "QA not checked"
    lines = [(f"{_shown(row.get('name'))} · variant {_shown(variant)}", _INK),
             (" · ".join(filter(None, (_shown(row.get("provider")), _seconds(row.get("duration")),
                                       _shown(row.get("status"))))), _MUTED),
             (verdict, _QA_INK.get(qa, _MUTED))]
    for k, (text, ink) in enumerate(lines):
        draw.text((x + 2, y + th + 4 + 17 * k), _fit(draw, text, tw - 4, font), fill=ink, font=font)


def _seconds(value: str | None) -> str:
    """A duration cell as ``6 s`` (``6.0`` from a workbook too); blank when there is none."""
    try:
        return f"{float(value or ''):g} s"
    except ValueError:
        return ""


def _fit(draw: ImageDraw.ImageDraw, text: str, width: int,
         font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> str:
    """``text`` on one line, cut with an ellipsis to ``width`` px."""
    text = " ".join(text.split())
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"
