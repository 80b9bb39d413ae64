"""The poster of a results row, for the workbook, the contact sheet and the report.

A row's poster is the JPEG beside its saved video (output/posters.py,
``poster_path``). When the video was saved but its poster is not there yet (a
run before posters existed, a poster deleted), it is made now with
``make_poster``. A row without a poster gets the reason, in words a person
reads on a grey tile or in an empty cell.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from batch_runner.output.posters import make_poster, poster_path

__all__ = ["Poster", "poster_of", "thumbnail"]


@dataclass(frozen=True)
class Poster:
    """A row's poster: ``path`` (a JPEG file) when there is one, else None and
    ``why`` (e.g. ``"no video saved"``)."""

    path: Path | None
    why: str = ""


def poster_of(row: Mapping[str, object], *, make: bool = True) -> Poster:
    """The poster of a results row (its ``local_path`` and ``status``), made
    beside the video when missing (``make``; about 0.1 s for a 768P video;
    False: a missing one is a Poster with why). Never raises for a bad or
    missing video; an OSError writing a new poster (folder not writable) is a
    Poster with why."""
    local = str(row.get("local_path") or "").strip()
    if not local:
        status = str(row.get("status") or "")
        code = str(row.get("error_code") or "")
        if status and status != "succeeded":
            return Poster(None, f"{status}: {code}" if code else status)
        return Poster(None, "no video saved")
    video = Path(local)
    poster = poster_path(video)
    if poster.is_file():
        return Poster(poster)
    if not video.is_file():
        return Poster(None, f"saved video missing: {video.name}")
    if not make:
        return Poster(None, "no poster yet")
    try:
        made = make_poster(video)
    except OSError as exc:
        return Poster(None, f"poster not written: {exc.strerror or exc}")
    return Poster(made) if made else Poster(None, "video has no decodable frame")


def thumbnail(poster: Path, box: tuple[int, int]) -> Image.Image | None:
    """The JPEG ``poster`` shrunk to fit ``box`` (width, height px), in RGB;
    None when it cannot be read. Decoded at a reduced scale where JPEG allows
    (``Image.draft``), so a 640 px poster costs a fraction of a full decode."""
    try:
        with Image.open(poster) as img:
            img.draft("RGB", box)
            img.thumbnail(box)
            return img.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
