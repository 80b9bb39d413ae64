"""A job as it is sent: each local image file becomes a ``data:<mime>;base64,`` URI.

URLs and data URIs travel as written. A local file was resolved and checked at
expansion (images.py: inside the manifest's folder, a regular file, its format
read from the content, within every candidate provider's limits); this module
only reads the file at the path found then, with the type found then. If the
file changed size since, it is refused rather than sent unchecked.
"""

from __future__ import annotations

import base64
import dataclasses
import os

from batch_runner.jobs.images import LocalImage, ref_kind
from batch_runner.jobs.model import Job
from batch_runner.jobs.references import LocalMedia

__all__ = ["encode_images", "to_wire"]


def to_wire(ref: str, local: LocalImage | None) -> str:
    """The image reference to send: a URL or data URI unchanged; a file path
    (``local``: its file as resolved at expansion) read and encoded as a
    base64 data URI of the type read from its content.

    Raises ValueError when ``ref`` is a path that expansion did not resolve,
    or whose file changed size since; OSError when it cannot be read.
    """
    if ref_kind(ref) != "file":
        return ref
    if local is None:
        raise ValueError(f"{ref} was not checked when the jobs were expanded; expand the manifest again")
    expected = local.facts.bytes
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)  # the real path has no symlink left: never follow a new one
    with os.fdopen(os.open(local.path, flags), "rb") as fh:
        data = fh.read(expected + 1 if expected is not None else -1)
    if expected is not None and len(data) != expected:
        raise ValueError(f"{ref} changed since it was checked ({expected:,} bytes then, "
                         f"{'more than ' if len(data) > expected else ''}{len(data):,} now): run again")
    return f"data:{local.facts.mime};base64,{base64.b64encode(data).decode('ascii')}"


def media_to_wire(ref: str, local: LocalMedia) -> str:
    """A local reference video or audio file (jobs/references.py, resolved at
    expansion) read and encoded as a ``data:<mime>;base64,`` URI. Raises
    ValueError when the file changed size since; OSError when it cannot be read."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    with os.fdopen(os.open(local.path, flags), "rb") as fh:
        data = fh.read(local.bytes + 1)
    if len(data) != local.bytes:
        raise ValueError(f"{ref} changed since it was checked ({local.bytes:,} bytes then, {len(data):,} now): "
                         "run again")
    return f"data:{local.mime};base64,{base64.b64encode(data).decode('ascii')}"


def encode_images(job: Job) -> Job:
    """``job`` with its image, end image and reference media as they are sent
    (see to_wire, media_to_wire); the job itself when nothing changes. Raises as to_wire."""
    image = to_wire(job.image, job.image_file) if job.image else None
    end_image = to_wire(job.end_image, job.end_image_file) if job.end_image else None
    files = job.reference_files or (None,) * len(job.references)
    refs = tuple(
        (role, media_to_wire(ref, local) if isinstance(local, LocalMedia)
         else to_wire(ref, local) if role == "reference_image" else ref)
        for (role, ref), local in zip(job.references, files, strict=False))
    if (image, end_image, refs) == (job.image, job.end_image, job.references):
        return job
    return dataclasses.replace(job, image=image, end_image=end_image, references=refs)
