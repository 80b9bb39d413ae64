"""A job's reference media (MiniMax V2's H3): reference images, videos and audio clips.

A manifest row may carry ``reference_image``, ``reference_video`` and
``reference_audio``: each one reference or a list (CSV: several separated by
``|``), each an http(s) URL, a base64 data URI, or a file path relative to the
manifest (the same three forms as ``image``). They become the job's
``references``: ``(role, ref)`` pairs in field order, the role being the field
name (MiniMax V2's ``content[].role``).

Limits (SEEN, https://platform.minimax.io/docs/api-reference/video-generation-v2-create,
seen 2026-12): at most 9 images, 3 videos, 3 audio clips; a video MP4 or MOV up
to 50 MB, an audio clip WAV or MP3 up to 15 MB, an image as the provider's
``image:`` limits (images.py); audio only beside an image or video; references
never with a first or last frame. A local file's kind is read from its first
bytes, never from its extension; its size is checked here, its duration (2-15 s
each, 15 s in all) is left to the provider (reading it needs a decoder).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batch_runner.errors import Problem
from batch_runner.jobs.images import ImageError, ImageFacts, LocalImage, data_uri_facts, ref_kind, resolve_image
from batch_runner.manifest.bounds import check_inside

__all__ = ["REFERENCE_FIELDS", "LocalMedia", "ReferenceCheck", "check_references", "media_type", "references_of"]

#: the job fields that hold reference media, in the order they are sent
REFERENCE_FIELDS = ("reference_image", "reference_video", "reference_audio")

#: field -> (most references, most bytes of a video or audio file: None for images (images.py))
LIMITS: dict[str, tuple[int, int | None]] = {
    "reference_image": (9, None),
    "reference_video": (3, 50 * 1024 * 1024),
    "reference_audio": (3, 15 * 1024 * 1024),
}
_KINDS = {"reference_video": "video/mp4, video/quicktime (MP4 or MOV)",
          "reference_audio": "audio/wav, audio/mpeg (WAV or MP3)"}


def media_type(head: bytes) -> str | None:
    """The MIME type of a video or audio file from its first bytes (at least
    12): ``video/mp4``, ``video/quicktime``, ``audio/wav``, ``audio/mpeg``, or None."""
    if head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    return None


@dataclass(frozen=True)
class LocalMedia:
    """A local reference file as resolved at expansion: ``path`` (real, inside
    the manifest's folder), ``mime`` read from its content, ``bytes``."""

    path: Path
    mime: str
    bytes: int

    def __str__(self) -> str:
        return str(self.path)


def references_of(fields: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The row's references as ``(role, ref)`` pairs, in REFERENCE_FIELDS order."""
    out: list[tuple[str, str]] = []
    for fld in REFERENCE_FIELDS:
        value = fields.get(fld)
        for ref in [value] if isinstance(value, str) else value if isinstance(value, list) else []:
            if isinstance(ref, str) and ref.strip():
                out.append((fld, ref.strip()))
    return tuple(out)


@dataclass(frozen=True)
class ReferenceCheck:
    """A row's references after ``check_references``: ``files`` (one per
    reference, in order: its LocalImage or LocalMedia, None for a URL or data
    URI), ``image_facts`` (index -> ImageFacts of each local or base64 image,
    checked against the provider's image limits by capabilities.py),
    ``problems``."""

    files: tuple[LocalImage | LocalMedia | None, ...] = ()
    image_facts: dict[int, ImageFacts] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def _local_media(fld: str, ref: str, base_dir: Path, allow_outside: bool) -> LocalMedia:
    """The local video or audio file ``ref``; raises ValueError with the reason."""
    real = check_inside(ref, base_dir, allow_outside)
    if not real.is_file():
        raise ValueError(f"{ref} is not a file")
    size = real.stat().st_size
    with real.open("rb") as fh:
        mime = media_type(fh.read(16))
    return _checked(fld, ref, mime, size, real)


def _data_media(fld: str, ref: str) -> LocalMedia:
    """Facts of a base64 data URI video or audio clip; raises ValueError."""
    head, _, payload = ref.partition(",")
    try:
        data = base64.b64decode(payload[:64], validate=False)
    except (binascii.Error, ValueError):
        raise ValueError("the base64 data is not valid base64") from None
    size = len(payload) * 3 // 4
    return _checked(fld, "the base64 data", media_type(data), size, Path(head))


def _checked(fld: str, label: str, mime: str | None, size: int, path: Path) -> LocalMedia:
    allowed = _KINDS[fld]
    if mime is None or mime.split("/")[0] != fld.removeprefix("reference_"):
        raise ValueError(f"{label} is not one of {allowed} (read from its content)")
    limit = LIMITS[fld][1]
    if limit is not None and size > limit:
        raise ValueError(f"{label} is {size / 1048576:.1f} MB, over the {limit // 1048576} MB limit")
    return LocalMedia(path, mime, size)


def check_references(where: str, fields: Mapping[str, Any], base_dir: Path,
                     allow_outside: bool = False) -> ReferenceCheck:
    """Resolve and check every reference of one row once; never raises: each
    problem (too many, a file outside the manifest's folder, not a video, too
    big, audio alone) is a Problem of the result naming ``where`` and the field."""
    refs = references_of(fields)
    problems: list[Problem] = []
    files: list[LocalImage | LocalMedia | None] = []
    facts: dict[int, ImageFacts] = {}
    for fld in REFERENCE_FIELDS:
        count = sum(1 for role, _ in refs if role == fld)
        if count > LIMITS[fld][0]:
            problems.append(Problem(where, fld, f"{count} references, at most {LIMITS[fld][0]}: remove some"))
    roles = {role for role, _ in refs}
    if "reference_audio" in roles and not roles & {"reference_image", "reference_video"}:
        problems.append(Problem(where, "reference_audio", "reference audio needs a reference image or video "
                                "beside it: add reference_image or reference_video"))
    for i, (fld, ref) in enumerate(refs):
        kind = ref_kind(ref) if fld == "reference_image" else _kind(ref)
        local: LocalImage | LocalMedia | None = None
        try:
            if fld == "reference_image" and kind != "url":
                local = resolve_image(ref, base_dir, allow_outside) if kind == "file" else None
                facts[i] = local.facts if local is not None else data_uri_facts(ref)
            elif kind == "file":
                local = _local_media(fld, ref, base_dir, allow_outside)
            elif kind == "base64":
                _data_media(fld, ref)
        except (ImageError, ValueError, OSError) as exc:
            label = ref if kind != "base64" else "the base64 data"
            text = str(exc)
            problems.append(Problem(where, fld, text if text.startswith((label, "the base64")) else f"{label} {text}"))
        files.append(local)
    return ReferenceCheck(tuple(files), facts, problems)


def _kind(ref: str) -> str:
    """url, base64 (a ``data:`` URI) or file, for a video or audio reference."""
    low = ref[:16].lower()
    if low.startswith(("http://", "https://", "mm_file://")):
        return "url"
    return "base64" if low.startswith("data:") else "file"
