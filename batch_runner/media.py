"""Images as they travel: a local file becomes a ``data:image/...;base64,`` URI.

URLs and data URIs are sent as written. The format is read from the file's
content (PNG / JPEG / WebP magic bytes), not its extension.
"""

from __future__ import annotations

import base64
from pathlib import Path

from .capabilities import image_kind

__all__ = ["to_wire", "sniff_mime"]

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


def to_wire(ref: str, base_dir: Path) -> str:
    """The image reference to send: URL or data URI unchanged; a file path
    (relative to ``base_dir``) read and encoded as a base64 data URI.

    Raises OSError when the file cannot be read, ValueError when it is not an image.
    """
    if image_kind(ref) != "file":
        return ref
    data = (base_dir / ref).read_bytes()
    mime = sniff_mime(data[:16])
    if mime is None:
        raise ValueError(f"{ref} is not a JPEG, PNG or WebP image")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
