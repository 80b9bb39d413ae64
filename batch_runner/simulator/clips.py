"""The simulator's video clips: real H.264 MP4s at the ordered size and length.

A finished task's video is a clip encoded with PyAV (FFmpeg's libraries in a
wheel, https://pyav.basswood-io.com; encoder ``libx264``, preset ultrafast,
2 frames per second, no audio): a light bar moving across a grey picture whose
colour drifts, so a clean clip is neither black nor frozen. It has the size the
task ordered (``SIZES``: MiniMax's ``video_width`` x ``video_height`` for each
resolution, https://platform.minimax.io/docs/api-reference/video-generation-download)
and its duration (6 or 10 s), unless a video fault (``VIDEO_FAULTS``, chosen
per task by the store) changes it. An image-to-video task whose first-frame
image came as a ``data:`` URI starts with that image (in grey), as a real
video does; one sent as a URL is not fetched. Each variant is encoded once per process
(``clip``, cached: about 0.2 s for 768P, 0.3 s for 1080P on one core); videos.py
appends the task id, so every served file is still unique.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
from typing import Any

import av
import numpy as np
from PIL import Image

__all__ = ["FPS", "OPENING_PX", "SIZES", "VIDEO_FAULTS", "clip", "delivered", "first_frame", "opening_picture",
           "ordered"]

#: (width, height) px of the grey first-frame picture kept per clip (a small cache key)
OPENING_PX = (320, 180)

#: resolution -> (width, height) px of a delivered video
SIZES = {"1080P": (1920, 1080), "768P": (1366, 768), "720P": (1280, 720), "512P": (912, 512),
         # MiniMax V2 (H3): 2K is 2560x1440 (SEEN: https://developer.civitai.com/orchestration/recipes/minimax-h3);
         # 480P at 16:9 INFERRED
         "2K": (2560, 1440), "480P": (854, 480)}

#: frames per second of every clip
FPS = 2

#: video fault kind -> the ProviderSimConfig field with its probability per
#: finished task (drawn in this order by SimStore.create): ``short`` half the
#: ordered duration, ``wrong_resolution`` a smaller size (1080P delivered as
#: 768P, 768P as 512P), ``black`` every frame black, ``frozen`` one picture
#: repeated, ``corrupt`` the file cut short after 60 % (it does not play),
#: ``wrong_first_frame`` an image-to-video clip that does not open on its image.
VIDEO_FAULTS: dict[str, str] = {
    "short": "short_video_rate",
    "wrong_resolution": "wrong_resolution_rate",
    "black": "black_video_rate",
    "frozen": "frozen_video_rate",
    "corrupt": "corrupt_video_rate",
    "wrong_first_frame": "wrong_first_frame_rate",
}

#: what a ``wrong_resolution`` fault delivers instead of the ordered resolution
_SMALLER = {"1080P": "768P", "768P": "512P", "720P": "512P", "512P": "720P", "2K": "768P", "480P": "720P"}


def ordered(body: Any) -> tuple[str, int]:
    """The (resolution, duration s) a submit body asked for, whatever the
    provider's shape: top-level ``resolution``/``duration`` (MiniMax, gpt.ge,
    gccai, gptproto, apiin.one's string "6") or under ``hailuoParams``
    (apiframe's lower-case "768p"). Missing or odd values: 768P, 6 s."""
    body = body if isinstance(body, dict) else {}
    params = body.get("hailuoParams")
    source = params if isinstance(params, dict) else body
    resolution = str(source.get("resolution") or "768P").upper()
    try:
        duration = int(float(str(source.get("duration", 6))))
    except ValueError:
        duration = 6
    return (resolution if resolution in SIZES else "768P"), (duration if duration > 0 else 6)


def delivered(body: Any, fault: str | None) -> tuple[int, int, int]:
    """(width px, height px, duration s) of the video a task delivers."""
    resolution, duration = ordered(body)
    if fault == "wrong_resolution":
        resolution = _SMALLER[resolution]
    if fault == "short":
        duration = max(duration // 2, 1)
    width, height = SIZES[resolution]
    return width, height, duration


def first_frame(body: Any) -> bytes | None:
    """The first-frame image a submit body carries as a ``data:`` URI
    (``first_frame_image``: MiniMax, gpt.ge, gccai; ``image``: gptproto, and
    apiframe under ``hailuoParams``), decoded; None for text-to-video, a URL,
    or a URI that does not decode."""
    body = body if isinstance(body, dict) else {}
    params = body.get("hailuoParams")
    content = body.get("content")  # MiniMax V2: a content part with role first_frame
    frames = [dig_url(c) for c in content if isinstance(c, dict) and c.get("role") == "first_frame"] \
        if isinstance(content, list) else []
    for source in (body, params if isinstance(params, dict) else {}, {"image": frames[0] if frames else None}):
        for key in ("first_frame_image", "image"):
            value = source.get(key)
            if isinstance(value, str) and value.startswith("data:image/") and "," in value:
                try:
                    return base64.b64decode(value.split(",", 1)[1])
                except (binascii.Error, ValueError):
                    return None
    return None


def dig_url(part: dict[str, Any]) -> Any:
    """The ``url`` of a MiniMax V2 content part (``{"type": "image_url", "image_url": {"url": ...}}``)."""
    inner = part.get(str(part.get("type")))
    return inner.get("url") if isinstance(inner, dict) else None


def opening_picture(body: Any) -> bytes | None:
    """The picture a clip opens on: the body's first-frame image (first_frame)
    as raw 8-bit grey pixels of OPENING_PX, or None (none, or not an image)."""
    data = first_frame(body)
    if data is None:
        return None
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.convert("L").resize(OPENING_PX).tobytes()
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


@functools.lru_cache(maxsize=64)
def clip(width: int, height: int, duration_s: int, fault: str | None = None, first: bytes | None = None) -> bytes:
    """An MP4 (H.264, yuv420p, ``FPS`` frames per second) of ``width`` x
    ``height`` px lasting ``duration_s`` seconds; ``fault`` ``black``,
    ``frozen`` or ``corrupt`` spoils it that way (see VIDEO_FAULTS; the others
    are in the size and duration already); ``first``: the grey picture shown
    as the first frame (the whole clip when frozen), as opening_picture gives
    it. Cached per argument tuple."""
    buffer = io.BytesIO()
    frames = duration_s * FPS
    opening = _image_planes(first, width, height) if first and fault not in ("black", "wrong_first_frame") else None
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS,
                                      options={"preset": "ultrafast", "crf": "45", "tune": "zerolatency"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            n = 0 if fault == "frozen" else i
            planes = opening if opening is not None and n == 0 else _picture(width, height, n, frames,
                                                                              fault == "black")
            container.mux(stream.encode(av.VideoFrame.from_ndarray(planes, format="yuv420p")))
        container.mux(stream.encode(None))
    data = buffer.getvalue()
    return data[: len(data) * 6 // 10] if fault == "corrupt" else data


def _image_planes(first: bytes, width: int, height: int) -> np.ndarray:
    """An opening_picture scaled to ``width`` x ``height`` as grey yuv420p planes."""
    grey = Image.frombytes("L", OPENING_PX, first).resize((width, height))
    planes = np.full((height * 3 // 2, width), 128, np.uint8)
    planes[:height] = np.asarray(grey, dtype=np.uint8)
    return planes


def _picture(width: int, height: int, i: int, frames: int, black: bool) -> np.ndarray:
    """Frame ``i`` of ``frames`` as yuv420p planes (``height * 3 // 2`` rows of
    ``width`` bytes): black, or a light bar at a place and a tint that move."""
    if black:
        planes = np.full((height * 3 // 2, width), 128, np.uint8)
        planes[:height] = 16  # video black
        return planes
    planes = np.full((height * 3 // 2, width), min(128 + 3 * i, 250), np.uint8)
    planes[:height] = 90
    bar = width // 8
    x = i * (width - bar) // max(frames - 1, 1)
    planes[:height, x:x + bar] = 220
    return planes
