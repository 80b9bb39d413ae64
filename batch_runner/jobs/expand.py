"""Expand manifest rows into jobs, each with a stable ``job_id``.

A row with ``variants: N`` gives N jobs. A job's id is a short hash of its
canonical request (provider, model, scene, prompt, images, duration,
resolution, options) plus its variant number, so the same row gives the same
id on every run and a changed row gives a new one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from batch_runner.catalog.facts import DEFAULT_MODEL
from batch_runner.catalog.settings import ProviderSettings, resolve_settings
from batch_runner.errors import ManifestError, Problem
from batch_runner.jobs.capabilities import check_job, key_problems
from batch_runner.jobs.routing import route
from batch_runner.manifest.load import Manifest

__all__ = ["Job", "expand"]

DEFAULT_DURATION = 6
DEFAULT_RESOLUTION = "768P"


@dataclass(frozen=True)
class Job:
    """One video to make.

    ``index``: position in the results (manifest order); ``row``: manifest row
    or YAML line; ``variant``: 1..variants; ``scene``: text-to-video or
    image-to-video; ``duration`` in seconds; ``resolution`` like ``768P``;
    ``image``/``end_image`` as written in the manifest (URL, data URI or path);
    options are None when unset (the provider's default applies).
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

    @property
    def providers(self) -> tuple[str, ...]:
        """The provider, then its fallbacks in order."""
        return (self.provider, *self.fallbacks)

    def canonical(self) -> dict[str, Any]:
        """The request fields that define this job (what its id hashes)."""
        return canonical_request(self.__dict__)


def canonical_request(f: Mapping[str, Any]) -> dict[str, Any]:
    """Fields of a job request with defaults applied, for hashing."""
    provider = f.get("provider")
    return {
        "provider": "|".join(provider) if isinstance(provider, list) else provider,
        "model": f.get("model") or DEFAULT_MODEL,
        "scene": "image-to-video" if f.get("image") else "text-to-video",
        "prompt": f.get("prompt"),
        "image": f.get("image"),
        "end_image": f.get("end_image"),
        "duration": f.get("duration") or DEFAULT_DURATION,
        "resolution": f.get("resolution") or DEFAULT_RESOLUTION,
        "prompt_optimizer": f.get("prompt_optimizer"),
        "fast_pretreatment": f.get("fast_pretreatment"),
        "watermark": f.get("watermark"),
    }


def job_id_for(canonical: Mapping[str, Any], variant: int) -> str:
    """16 hex characters of SHA-256 over the canonical request and variant."""
    text = json.dumps(canonical, sort_keys=True, ensure_ascii=False) + f"#{variant}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def expand(
    manifest: Manifest,
    environ: Mapping[str, str] | None = None,
    settings: Mapping[str, ProviderSettings] | None = None,
    *,
    need_keys: bool = True,
) -> list[Job]:
    """All jobs of a schema-valid manifest, after the provider capability checks.

    ``environ`` is where API keys are looked for (default os.environ);
    ``settings`` (default: from the manifest and environ) price ``auto`` jobs,
    which go to the cheapest capable provider with a key (routing.py), the
    others becoming their fallbacks; ``Job.route`` says why.
    With ``need_keys=False`` (a plan) a missing API key is a warning.
    Raises ManifestError listing every row a provider cannot run, with the
    manifest's own schema problems (when loaded with ``strict=False``).
    """
    env = os.environ if environ is None else environ
    settings = settings or resolve_settings(manifest.provider_settings, env)
    problems: list[Problem] = list(manifest.problems)
    jobs: list[Job] = []
    rows_by_provider: dict[str, list[str]] = {}
    load: dict[str, int] = {}
    for row in manifest.rows:
        if not row.valid:
            continue
        f = row.fields
        why = ""
        outside = manifest.allow_outside_paths
        if f.get("provider") == "auto":
            ranked, why = route(f, settings, env, load, manifest.base_dir)
            if not ranked:
                problems.append(Problem(row.where, "provider", f"provider auto: {why}"))
                continue
            found, runnable = check_job(row.where, {**f, "provider": ranked}, manifest.base_dir, outside)
        else:
            found, runnable = check_job(row.where, f, manifest.base_dir, outside)
        problems += [p for p in found if p.severity == "error"]
        manifest.warnings += [p for p in found if p.severity != "error"]
        for name in runnable[:1]:
            rows_by_provider.setdefault(name, []).append(row.where)
        fallbacks = tuple(n for n in runnable[1:] if env.get(f"{n.upper()}_API_KEY", "").strip())
        canon = canonical_request(f)
        for variant in range(1, int(f.get("variants") or 1) + 1):
            jobs.append(
                Job(
                    job_id=job_id_for(canon, variant),
                    index=len(jobs),
                    row=row.row,
                    name=str(f.get("name") or ""),
                    variant=variant,
                    provider=runnable[0] if runnable else "",
                    model=canon["model"],
                    scene=canon["scene"],
                    prompt=canon["prompt"],
                    image=canon["image"],
                    end_image=canon["end_image"],
                    duration=int(canon["duration"]),
                    resolution=canon["resolution"],
                    prompt_optimizer=canon["prompt_optimizer"],
                    fast_pretreatment=canon["fast_pretreatment"],
                    watermark=canon["watermark"],
                    fallbacks=fallbacks,
                    route=why,
                    extras=row.extras,
                )
            )
    missing = key_problems(rows_by_provider, env)
    if need_keys:
        problems += missing
    else:
        manifest.warnings += [dataclasses.replace(p, severity="warning") for p in missing]
    if problems:
        raise ManifestError(manifest.warnings + problems)
    seen: dict[str, Job] = {}
    for job in jobs:
        if job.job_id in seen:
            first = seen[job.job_id]
            problems.append(
                Problem(
                    f"{manifest.path.name}: row {job.row}",
                    "",
                    f"same request as row {first.row} (same job id {job.job_id}): "
                    "use variants: N for several videos of one request",
                    severity="warning",
                )
            )
        seen[job.job_id] = job
    manifest.warnings += problems
    return [j for j in jobs if seen[j.job_id] is j]
