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


def encode_images(job: Job) -> Job:
    """``job`` with its image and end image as they are sent (see to_wire);
    the job itself when nothing changes. Raises as to_wire."""
    image = to_wire(job.image, job.image_file) if job.image else None
    end_image = to_wire(job.end_image, job.end_image_file) if job.end_image else None
    if (image, end_image) == (job.image, job.end_image):
        return job
    return dataclasses.replace(job, image=image, end_image=end_image)
