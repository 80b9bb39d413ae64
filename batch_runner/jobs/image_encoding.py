"""Images as they travel: a local file becomes a ``data:image/...;base64,`` URI.

URLs and data URIs are sent as written. The format is read from the file's
content (PNG / JPEG / WebP magic bytes), not its extension.

A local path is resolved against the manifest's folder (``resolve_image``).
It must stay inside that folder once ``..`` and symlinks are followed (an
absolute path, ``../x.png`` or a symlink pointing out is refused unless
``allow_outside`` is set: ``--allow-outside-paths``), be a regular file (not a
FIFO or device) and be at most MAX_IMAGE_BYTES (the providers' limit, 20 MB:
docs/providers.md).
"""

from __future__ import annotations

import base64
from pathlib import Path

from batch_runner.jobs.capabilities import image_kind
from batch_runner.manifest.bounds import check_inside

__all__ = ["MAX_IMAGE_BYTES", "resolve_image", "sniff_mime", "to_wire"]

MAX_IMAGE_BYTES = 20 * 1000 * 1000

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


def sniff_mime(head: bytes) -> str | None:
    """MIME type of an image from its first bytes, or None."""
    for magic, mime in _MAGIC:
        if head.startswith(magic):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def resolve_image(ref: str, base_dir: Path, allow_outside: bool = False) -> Path:
    """The real path of image file ``ref`` (relative to ``base_dir``).

    Raises ValueError (what is wrong and how to fix it) when the path leaves
    ``base_dir`` without ``allow_outside`` (limits.check_inside), is not a
    regular file, or is larger than MAX_IMAGE_BYTES.
    """
    real = check_inside(ref, base_dir, allow_outside)
    if not real.is_file():
        raise ValueError(f"no such image file: {ref} (paths are relative to the manifest)")
    size = real.stat().st_size
    if size > MAX_IMAGE_BYTES:
        raise ValueError(f"{ref} is {size / 1e6:.1f} MB; providers take images up to 20 MB")
    return real


def to_wire(ref: str, base_dir: Path, allow_outside: bool = False) -> str:
    """The image reference to send: URL or data URI unchanged; a file path
    (relative to ``base_dir``, see resolve_image) read and encoded as a base64
    data URI.

    Raises OSError when the file cannot be read, ValueError when it is refused
    or is not an image.
    """
    if image_kind(ref) != "file":
        return ref
    with resolve_image(ref, base_dir, allow_outside).open("rb") as fh:
        data = fh.read(MAX_IMAGE_BYTES + 1)
    if len(data) > MAX_IMAGE_BYTES:
        raise ValueError(f"{ref} is larger than 20 MB; providers take images up to 20 MB")
    mime = sniff_mime(data[:16])
    if mime is None:
        raise ValueError(f"{ref} is not a JPEG, PNG or WebP image")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
