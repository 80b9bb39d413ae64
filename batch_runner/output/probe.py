"""Probe a saved video: what is really in the file, read with PyAV.

PyAV (FFmpeg's libraries in a wheel, https://pyav.basswood-io.com) opens the
file, reads the container and the first video stream, and decodes every frame
to the end, so a file that is cut short or damaged is found (``decodes`` False,
``error`` says why). A few frames spread over the video are kept as small grey
thumbnails (``samples``) for the QA checks (black, frozen, first frame).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

__all__ = ["SAMPLE_PX", "Probe", "probe"]

#: side in px of the grey thumbnails kept for the QA checks
SAMPLE_PX = 32
#: frames kept as thumbnails, spread evenly over the video
_SAMPLES = 8


@dataclass
class Probe:
    """What a video file holds.

    ``container``: FFmpeg's format name (``mov,mp4,m4a,3gp,3g2,mj2`` for MP4);
    ``codec``: the video codec (``h264``, ``hevc``, ``av1``...); ``width`` /
    ``height`` in px; ``duration_s``: the container's duration in seconds (else
    the last decoded frame's end); ``fps``: average frames per second;
    ``frames``: frames decoded; ``audio``: an audio stream is present;
    ``size_bytes``: the file's size; ``decodes``: every frame decoded to the end
    (no error, and at least as many frames as the stream announces);
    ``error``: why it does not (one line), else ""; ``samples``: grey
    thumbnails (``SAMPLE_PX`` square, float 0..255 luma) of frames spread over
    the video, the first frame first; ``first_frame``: the first frame as a
    ``SAMPLE_PX`` square grey thumbnail (None when none decoded).
    """

    path: Path
    container: str = ""
    codec: str = ""
    width: int = 0
    height: int = 0
    duration_s: float = 0.0
    fps: float = 0.0
    frames: int = 0
    audio: bool = False
    size_bytes: int = 0
    decodes: bool = False
    error: str = ""
    samples: list[np.ndarray] = field(default_factory=list, repr=False)

    @property
    def first_frame(self) -> np.ndarray | None:
        """The first frame's grey thumbnail, or None."""
        return self.samples[0] if self.samples else None


def probe(path: str | Path) -> Probe:
    """Probe the video at ``path``; never raises for a bad file (``decodes``
    is False and ``error`` says why: not found, not a video, no video stream,
    a decoding error, or fewer frames than announced)."""
    out = Probe(Path(path))
    try:
        out.size_bytes = os.path.getsize(path)
        with av.open(str(path)) as container:
            out.container = container.format.name
            out.audio = bool(container.streams.audio)
            if not container.streams.video:
                out.error = "no video stream"
                return out
            stream = container.streams.video[0]
            out.codec = stream.codec_context.name
            out.width, out.height = stream.codec_context.width, stream.codec_context.height
            out.fps = float(stream.average_rate or 0)
            announced = stream.frames
            if container.duration is not None:
                out.duration_s = container.duration / 1e6  # microseconds
            every = max(announced // _SAMPLES, 1) if announced else 1
            end = 0.0
            for frame in container.decode(stream):
                if out.frames % every == 0 and len(out.samples) < _SAMPLES:
                    out.samples.append(_thumbnail(frame))
                out.frames += 1
                if frame.time is not None:
                    end = frame.time + (1 / out.fps if out.fps else 0)
            if not out.duration_s:
                out.duration_s = end
            if announced and out.frames < announced:
                out.error = f"only {out.frames} of {announced} frames decode"
                return out
            if not out.frames:
                out.error = "no frame decodes"
                return out
            out.decodes = True
    except FileNotFoundError:
        out.error = "file not found"
    except (av.FFmpegError, OSError, ValueError) as exc:
        said = getattr(exc, "strerror", None) or str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        out.error = (f"decoding stops after {out.frames} frames: {str(said)[:160]}" if out.frames
                     else f"does not decode: {str(said)[:160]}")
    return out


def _thumbnail(frame: av.VideoFrame) -> np.ndarray:
    """A ``SAMPLE_PX`` square grey thumbnail of ``frame`` (float luma 0..255)."""
    small = frame.reformat(width=SAMPLE_PX, height=SAMPLE_PX, format="gray")
    return np.asarray(small.to_ndarray(), dtype=np.float32)
