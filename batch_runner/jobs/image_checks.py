"""Image checks before anything is sent: format from the content, pixels, bytes.

Each provider's limits come from data/providers.yaml (``image:``; sources in
docs/providers.md, e.g. MiniMax's i2v page and gptproto's Hailuo page): JPEG or PNG (MiniMax and gpt.ge also WebP), at most
20 MB, short side over 300 px, aspect ratio between 2:5 and 5:2 (compared in
integers: ``5*w >= 2*h and 5*h >= 2*w``). Pillow reads only the header, so a
20 MB file costs a stat and a few KB of reading. Local files and
``data:image/...;base64,`` URIs are checked here; remote URLs by urlcheck.py.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO

from PIL import Image, UnidentifiedImageError

from batch_runner.catalog.facts import ProviderInfo

__all__ = ["ImageFacts", "ImageLimits", "ImageError", "inspect_ref", "inspect_stream"]


class ImageError(ValueError):
    """An image that cannot be read: missing, unreadable, not an image."""


@dataclass(frozen=True)
class ImageFacts:
    """What the checks need: Pillow ``format`` (JPEG, PNG, WEBP, GIF, ...),
    ``width`` and ``height`` in pixels, size in ``bytes`` (None when unknown)."""

    format: str
    width: int
    height: int
    bytes: int | None


@dataclass(frozen=True)
class ImageLimits:
    """One provider's input-image limits (data/providers.yaml ``image:``).

    ``formats``: Pillow format names; ``max_bytes``; ``short_side_over_px``: the
    short side must be larger; ``ratio``: (w, h) of the narrowest and widest
    allowed aspect ratios, e.g. ((2, 5), (5, 2)); ``exclusive``: the bounds
    themselves are refused.
    """

    provider: str
    formats: tuple[str, ...]
    max_bytes: int
    short_side_over_px: int
    ratio: tuple[tuple[int, int], tuple[int, int]]
    exclusive: bool = False

    @classmethod
    def of(cls, info: ProviderInfo) -> ImageLimits:
        """The limits of ``info``'s provider."""
        raw = info.image_limits
        low, high = (tuple(int(n) for n in part.split(":")) for part in raw["ratio"].split(".."))
        return cls(info.name, tuple(raw["formats"]), int(raw["max_bytes"]),
                   int(raw["short_side_over_px"]), (low, high), bool(raw.get("ratio_exclusive", False)))

    def problems(self, facts: ImageFacts) -> list[str]:
        """What is wrong with an image for this provider (empty when it fits)."""
        out = []
        if facts.format not in self.formats:
            out.append(f"is a {facts.format} image; {self.provider} takes {' or '.join(self.formats)}")
        if facts.bytes is not None and facts.bytes > self.max_bytes:
            out.append(f"is {facts.bytes / 2**20:.1f} MB; at most {self.max_bytes / 2**20:g} MB is taken")
        w, h = facts.width, facts.height
        if min(w, h) <= self.short_side_over_px:
            out.append(f"is {w}x{h} px; its short side must be over {self.short_side_over_px} px")
        (lw, lh), (hw, hh) = self.ratio
        narrow, wide = w * lh - lw * h, hh * w - hw * h  # >= 0 inside the low bound; <= 0 inside the high
        if narrow < 0 or wide > 0 or (self.exclusive and (narrow == 0 or wide == 0)):
            bounds = "strictly between" if self.exclusive else "between"
            out.append(f"has aspect ratio {w}:{h}; {self.provider} takes {bounds} {lw}:{lh} and {hw}:{hh}")
        return out


def inspect_stream(fp: IO[bytes], size: int | None) -> ImageFacts:
    """Facts of an image read from ``fp`` (only its header is read).

    Raises ImageError when it is not an image Pillow can read.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(fp) as img:
                return ImageFacts(str(img.format), img.width, img.height, size)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"has too many pixels to be a photo ({exc})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"is not a readable image ({type(exc).__name__})") from None


@lru_cache(maxsize=1024)
def _file_facts(path: Path, mtime_ns: int, size: int) -> ImageFacts:
    with path.open("rb") as fp:
        return inspect_stream(fp, size)


@lru_cache(maxsize=256)
def _data_uri_facts(ref: str) -> ImageFacts:
    _, _, payload = ref.partition(",")
    try:
        data = base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError):
        raise ImageError("is not valid base64") from None
    return inspect_stream(io.BytesIO(data), len(data))


def inspect_ref(ref: str, base_dir: Path) -> ImageFacts:
    """Facts of a local image path (relative to ``base_dir``) or a
    ``data:image/...;base64,`` URI; cached per file version.

    Raises ImageError (no such file, unreadable, not an image).
    """
    if ref[:11].lower().startswith("data:image/"):
        return _data_uri_facts(ref)
    path = (base_dir / ref).resolve()
    try:
        st = path.stat()
    except OSError:
        raise ImageError("no such image file (a path is relative to the manifest, or to its source sheet)") from None
    if not path.is_file():
        raise ImageError("is not a file")
    try:
        return _file_facts(path, st.st_mtime_ns, st.st_size)
    except PermissionError:
        raise ImageError("cannot be read (permission denied)") from None

