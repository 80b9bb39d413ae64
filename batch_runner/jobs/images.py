"""A job's input images before anything is sent: what each is, where it is, whether it fits.

An image reference is a URL, a ``data:image/...;base64,`` URI or a local file
path (``ref_kind``). A local path is resolved once, at expansion, against the
manifest's folder (``resolve_image``): it must stay inside that folder once
``..`` and symlinks are followed (unless ``--allow-outside-paths``) and be a
regular file. The format is read from the content by Pillow (``inspect_stream``,
header only: a 20 MB file costs a stat and a few KB of reading), never from the
extension or a data URI's declared type. Each provider's limits (format, bytes,
pixels, aspect ratio) come from data/providers.yaml ``image:`` (``ImageLimits``).
Remote URLs are checked on request by run/image_urls.py (it needs the network).
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, Literal

from batch_runner.catalog.facts import ProviderInfo
from batch_runner.errors import Problem
from batch_runner.manifest.bounds import check_inside

__all__ = [
    "IMAGE_FIELDS",
    "ImageCheck",
    "ImageError",
    "ImageFacts",
    "ImageLimits",
    "ImagePathError",
    "LocalImage",
    "check_images",
    "data_uri_facts",
    "inspect_stream",
    "ref_kind",
    "resolve_image",
]

#: the job fields that hold an image reference
IMAGE_FIELDS = ("image", "end_image")

RefKind = Literal["url", "base64", "file"]


class ImageError(ValueError):
    """An image that cannot be used: missing, unreadable, not an image. The
    message says what it is ("is not a file"), after the reference."""


class ImagePathError(ImageError):
    """An image path refused before it is read: it leads outside the
    manifest's folder, or cannot be resolved. The message is a whole sentence
    with the fix."""


def ref_kind(ref: str) -> RefKind:
    """How an image reference is written: ``url`` (http/https), ``base64``
    (``data:image/...;base64,``) or ``file`` (a local path)."""
    low = ref[:11].lower()
    if low.startswith(("http://", "https://")):
        return "url"
    if low.startswith("data:image/"):
        return "base64"
    return "file"


@dataclass(frozen=True)
class ImageFacts:
    """What the checks need, read from the content: Pillow ``format`` (JPEG,
    PNG, WEBP, GIF, ...), its ``mime`` type (``image/png``; empty when Pillow
    knows none), ``width`` and ``height`` in pixels, size in ``bytes`` (None
    when unknown)."""

    format: str
    width: int
    height: int
    bytes: int | None
    mime: str = ""


@dataclass(frozen=True)
class LocalImage:
    """A local image file resolved and checked at expansion: ``path`` is its
    real path (symlinks followed), ``facts`` what its content is. The request
    builder reads this path; it does not resolve the reference again."""

    path: Path
    facts: ImageFacts

    def __str__(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class ImageLimits:
    """One provider's input-image limits (data/providers.yaml ``image:``).

    ``formats``: Pillow format names; ``max_bytes``: largest file, bytes;
    ``short_side_over_px``: the short side must be larger, pixels; ``ratio``:
    (w, h) of the narrowest and widest allowed aspect ratios, e.g. ((2, 5),
    (5, 2)); ``exclusive``: the bounds themselves are refused.

    Public sources of the figures in the data file (seen by 2026-11-22):
    MiniMax https://platform.minimax.io/docs/api-reference/video-generation-i2v
    (``first_frame_image``: JPG, JPEG, PNG or WebP, under 20 MB, short side over
    300 px, aspect ratio between 2:5 and 5:2); gpt.ge
    https://gpt.morphogen.top/en/video/hailuo/generate-image-to-video.html ("the
    same as MiniMax"); gptproto
    https://docs.gptproto.com/docs/allapi/MiniMax/hailuo-2.3-standard/gptproto-format/text-to-video
    (``image``: JPG, JPEG or PNG, 2:5 < ratio < 5:2, over 300 px, at most 20 MB).
    gccai, apiinone and apiframe publish none: the data file marks theirs
    INFERRED. "20 MB" is read as 20 MiB (20,971,520 bytes), also INFERRED.
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
        (lw, lh), (hw, hh) = (part.split(":") for part in raw["ratio"].split(".."))
        return cls(info.name, tuple(raw["formats"]), int(raw["max_bytes"]), int(raw["short_side_over_px"]),
                   ((int(lw), int(lh)), (int(hw), int(hh))), bool(raw.get("ratio_exclusive", False)))

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
    """Facts of an image read from ``fp`` (only its header is read); ``size``
    in bytes, if known. The one place an image's format is decided.

    Raises ImageError when it is not an image Pillow can read, or has so many
    pixels that it would be a decompression bomb.
    """
    from PIL import Image, UnidentifiedImageError  # here: a manifest without a local image never loads Pillow

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(fp) as img:
                return ImageFacts(str(img.format), img.width, img.height, size, img.get_format_mimetype() or "")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"has too many pixels to be a photo ({exc})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"is not a readable image ({type(exc).__name__})") from None


@lru_cache(maxsize=1024)
def _file_facts(path: Path, mtime_ns: int, size: int) -> ImageFacts:
    with path.open("rb") as fp:
        return inspect_stream(fp, size)


@lru_cache(maxsize=256)
def data_uri_facts(ref: str) -> ImageFacts:
    """Facts of a ``data:image/...;base64,`` image, read from its decoded
    content; raises ImageError when it is not valid base64 or not an image."""
    _, _, payload = ref.partition(",")
    try:
        data = base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError):
        raise ImageError("is not valid base64") from None
    return inspect_stream(io.BytesIO(data), len(data))


def _checked_file(path: Path) -> ImageFacts:
    """Facts of the regular file at real path ``path``; cached per file version."""
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


def resolve_image(ref: str, base_dir: Path, allow_outside: bool = False) -> LocalImage:
    """The local image file ``ref`` (a path relative to ``base_dir``), resolved and read.

    Raises ImagePathError when the path leads outside ``base_dir`` without
    ``allow_outside`` (manifest.bounds.check_inside) or cannot be resolved;
    ImageError when there is no such file, it is not a regular file (a FIFO, a
    device, a folder), it cannot be read, or it is not an image.
    """
    try:
        real = check_inside(ref, base_dir, allow_outside)
    except ValueError as exc:
        raise ImagePathError(str(exc)) from None
    return LocalImage(real, _checked_file(real))


def _label(ref: str) -> str:
    return "the base64 image" if ref_kind(ref) == "base64" else ref


@dataclass(frozen=True)
class ImageCheck:
    """A job's images after ``check_images``: ``facts`` of each readable local
    or base64 image (field -> facts: what the provider limits are checked
    against), ``files`` of each local file (field -> LocalImage: what the
    request builder reads), ``problems`` of the others (unreadable, not an
    image, outside the manifest's folder)."""

    facts: dict[str, ImageFacts] = field(default_factory=dict)
    files: dict[str, LocalImage] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def check_images(where: str, fields: Mapping[str, Any], base_dir: Path,
                 allow_outside: bool = False) -> ImageCheck:
    """Resolve and read every local or base64 image of one row (job ``fields``),
    once; ``where`` names the row in problems ("m.csv: row 4"). URLs are left
    to run/image_urls.py. Never raises: a bad image is a problem of the result."""
    out = ImageCheck()
    for fld in IMAGE_FIELDS:
        ref = fields.get(fld)
        if not isinstance(ref, str) or not ref or ref_kind(ref) == "url":
            continue
        try:
            if ref_kind(ref) == "file":
                local = resolve_image(ref, base_dir, allow_outside)
                out.files[fld], out.facts[fld] = local, local.facts
            else:
                out.facts[fld] = data_uri_facts(ref)
        except ImagePathError as exc:
            out.problems.append(Problem(where, fld, str(exc)))
        except ImageError as exc:
            out.problems.append(Problem(where, fld, f"{_label(ref)} {exc}"))
    return out
