"""The Job: one video to make, and the rule that gives it a stable ``job_id``.

A job's id is a short hash of its canonical request (provider, model, scene,
prompt, images as written, duration, resolution, options, with the job
defaults applied) plus its variant number, so the same row gives the same id
on every run and a changed row gives a new one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from batch_runner.catalog.facts import job_defaults
from batch_runner.jobs.images import LocalImage
from batch_runner.jobs.references import references_of

__all__ = ["Job", "canonical_request", "job_id_for"]


@dataclass(frozen=True)
class Job:
    """One video to make.

    ``index``: position in the results (manifest order); ``row``: manifest row
    or YAML line; ``variant``: 1..variants; ``scene``: text-to-video or
    image-to-video; ``duration`` in seconds; ``resolution`` like ``768P``;
    ``image``/``end_image`` as written in the manifest (URL, data URI or path);
    ``image_file``/``end_image_file``: the local file behind a path, resolved
    and checked at expansion (None for a URL or data URI); options are None
    when unset (the provider's default applies). ``references``: reference
    media as ``(role, ref)`` pairs (jobs/references.py: ``reference_image``,
    ``reference_video``, ``reference_audio``), ``reference_files`` the local
    file behind each (None for a URL or data URI).
    """

    job_id: str
    index: int
    row: int
    name: str
    variant: int
    provider: str
    model: str
    scene: str
    prompt: str
    image: str | None
    end_image: str | None
    duration: int
    resolution: str
    prompt_optimizer: bool | None = None
    fast_pretreatment: bool | None = None
    watermark: bool | None = None
    fallbacks: tuple[str, ...] = ()
    route: str = ""
    extras: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    image_file: LocalImage | None = field(default=None, compare=False)
    end_image_file: LocalImage | None = field(default=None, compare=False)
    references: tuple[tuple[str, str], ...] = ()
    reference_files: tuple[Any, ...] = field(default=(), compare=False, hash=False)

    @property
    def providers(self) -> tuple[str, ...]:
        """The provider, then its fallbacks in order."""
        return (self.provider, *self.fallbacks)

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> Job:
        """The job as a journal recorded it (its fields as JSON, decoded): what a
        run needs to follow the task of a row that has since been edited or removed.
        Unknown keys are ignored; local image files are not resolved again (such a
        job is only polled, never submitted)."""
        known = {f for f in cls.__dataclass_fields__
                 if f not in ("image_file", "end_image_file", "reference_files")}
        values = {k: v for k, v in fields.items() if k in known}
        values["fallbacks"] = tuple(values.get("fallbacks") or ())
        values["references"] = tuple((str(r[0]), str(r[1])) for r in values.get("references") or ())
        values.setdefault("extras", {})
        for name in ("index", "row", "variant", "duration"):
            values.setdefault(name, 0)
        for name in ("name", "provider", "model", "scene", "prompt", "resolution"):
            values.setdefault(name, "")
        values.setdefault("image", None)
        values.setdefault("end_image", None)
        return cls(**values)


def canonical_request(f: Mapping[str, Any]) -> dict[str, Any]:
    """Fields of a job request (a manifest row's fields, or a Job's) with the
    job defaults applied (catalog.facts.job_defaults), for hashing. Reference
    media (``references``) are in it only when the row has some, so a row
    without keeps the id it always had."""
    defaults = job_defaults()
    provider = f.get("provider")
    refs = f.get("references") or references_of(f)
    return {
        **({"references": [list(r) for r in refs]} if refs else {}),
        "provider": "|".join(provider) if isinstance(provider, list) else provider,
        "model": f.get("model") or defaults.model,
        "scene": "image-to-video" if f.get("image") else "text-to-video",
        "prompt": f.get("prompt"),
        "image": f.get("image"),
        "end_image": f.get("end_image"),
        "duration": f.get("duration") or defaults.duration,
        "resolution": f.get("resolution") or defaults.resolution,
        "prompt_optimizer": f.get("prompt_optimizer"),
        "fast_pretreatment": f.get("fast_pretreatment"),
        "watermark": f.get("watermark"),
    }


def job_id_for(canonical: Mapping[str, Any], variant: int) -> str:
    """16 hex characters of SHA-256 over the canonical request and variant."""
    text = json.dumps(canonical, sort_keys=True, ensure_ascii=False) + f"#{variant}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
