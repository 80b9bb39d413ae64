"""Poster frames: one JPEG still from about 1 s into each saved video, next to it.

The poster of ``out/videos/hero-1.mp4`` is ``out/videos/hero-1.jpg``
(``poster_path``). The HTML report shows it as ``<video poster=...>``, the
workbook embeds it as a thumbnail and the contact sheet lays posters out in a
grid. Frames are decoded with PyAV (FFmpeg's libraries in a wheel,
https://pyav.basswood-io.com), so no ffmpeg program is needed; the JPEG is
written by Pillow.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import av

from batch_runner.output.atomic import write_atomically

__all__ = ["POSTER_AT_S", "make_poster", "poster_path"]

#: seconds into the video the poster is taken from (the first frame at or after it;
#: the last frame of a shorter video)
POSTER_AT_S = 1.0

#: JPEG quality of a poster, Pillow's scale 1..95
_QUALITY = 85


def poster_path(video: str | Path) -> Path:
    """Where the poster of ``video`` lives: the same folder and name, ``.jpg``."""
    return Path(video).with_suffix(".jpg")


def make_poster(video: str | Path, *, at_s: float = POSTER_AT_S, max_side_px: int = 640) -> Path | None:
    """Write the poster of ``video`` (a JPEG, its long side at most
    ``max_side_px`` pixels) at ``poster_path(video)``, atomically, and return
    its path; None when the file has no decodable video frame (a broken or
    truncated file, a web page saved as .mp4). Never raises for a bad video;
    an OSError writing the JPEG (disk full, folder not writable) propagates.
    """
    frame = _frame_at(Path(video), at_s)
    if frame is None:
        return None
    image = frame.to_image()  # type: ignore[no-untyped-call]  # a PIL.Image in RGB (PyAV: untyped)
    image.thumbnail((max_side_px, max_side_px))
    buffer = BytesIO()
    image.save(buffer, format="JPEG", quality=_QUALITY)
    return write_atomically(poster_path(video), buffer.getvalue())


def _frame_at(video: Path, at_s: float) -> av.VideoFrame | None:
    """The first frame at or after ``at_s`` seconds, else the last frame
    decoded; None when none decodes."""
    last = None
    try:
        with av.open(str(video)) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                last = frame
                if frame.time is not None and frame.time >= at_s:
                    return frame
    except (av.FFmpegError, OSError, ValueError):
        pass  # keep whatever decoded before the damage
    return last
