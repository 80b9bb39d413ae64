"""Expand a loaded manifest into jobs: one per row and variant, checked against its provider.

A row with ``variants: N`` gives N jobs (model.py gives each its id). Each row's
local and base64 images are resolved and read once, here (images.py); the
jobs carry the resolved files, so the request builder reads them without
checking again. Expansion is pure: it returns the jobs with every problem and
warning found, and changes nothing (not even the manifest).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from batch_runner.catalog.facts import catalog
from batch_runner.catalog.settings import resolve_settings
from batch_runner.errors import Problem
from batch_runner.jobs.capabilities import check_job, key_problems
from batch_runner.jobs.images import check_images
from batch_runner.jobs.model import Job, canonical_request, job_id_for
from batch_runner.jobs.references import check_references, references_of
from batch_runner.jobs.routing import route
from batch_runner.keys import has_key
from batch_runner.manifest.model import Manifest

__all__ = ["Expansion", "expand"]


@dataclass(frozen=True)
class Expansion:
    """What ``expand`` found: the ``jobs`` to run (manifest order, duplicates
    dropped; empty when there are problems), the ``problems`` that stop the
    run (the manifest's own schema problems first), and the ``warnings`` (a
    dropped fallback, a missing API key in a plan, a duplicate request)."""

    jobs: list[Job] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


def expand(
    manifest: Manifest,
    environ: Mapping[str, str] | None = None,
    *,
    need_keys: bool = True,
) -> Expansion:
    """All jobs of a loaded manifest, after the image and provider capability checks.

    ``environ`` is where API keys are looked for (default os.environ). An
    ``auto`` job goes to the cheapest capable provider with a key (routing.py,
    priced with the manifest's ``providers:`` settings), the others becoming
    its fallbacks; ``Job.route`` says why.
    With ``need_keys=False`` (a plan) a missing API key is a warning, and
    providers without a key are kept as fallbacks (an ``auto`` job is routed
    over every capable provider; routing.route).
    Problems name every row a provider cannot run, after the manifest's own
    schema problems (``manifest.problems``, when loaded with ``strict=False``).
    Never raises for bad input: the caller decides what problems mean.
    """
    env = os.environ if environ is None else environ
    settings = resolve_settings(manifest.provider_settings, env)
    problems: list[Problem] = list(manifest.problems)
    warnings: list[Problem] = []
    jobs: list[Job] = []
    rows_by_provider: dict[str, list[str]] = {}
    load: dict[str, int] = {}
    for row in manifest.rows:
        if not row.valid:
            continue
        f = row.fields
        why = ""
        images = check_images(row.where, f, manifest.base_dir, manifest.allow_outside_paths)
        refs = check_references(row.where, f, manifest.base_dir, manifest.allow_outside_paths)
        problems += refs.problems
        if f.get("provider") == "auto":
            ranked, why = route(f, settings, env, load, images.facts, need_keys=need_keys)
            if not ranked:
                problems.append(Problem(row.where, "provider", f"provider auto: {why}"))
                continue
            found, runnable = check_job(row.where, {**f, "provider": ranked}, images)
        else:
            found, runnable = check_job(row.where, f, images)
        problems += [p for p in found if p.severity == "error"]
        warnings += [p for p in found if p.severity != "error"]
        for name in runnable[:1]:
            rows_by_provider.setdefault(name, []).append(row.where)
        # a run keeps the fallbacks with a key; a plan lists them all (and marks those without)
        fallbacks = tuple(n for n in runnable[1:] if not need_keys or has_key(catalog()[n].key_env, env))
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
                    image_file=images.files.get("image"),
                    end_image_file=images.files.get("end_image"),
                    references=references_of(f),
                    reference_files=refs.files,
                )
            )
    missing = key_problems(rows_by_provider, env)
    if need_keys:
        problems += missing
    else:
        warnings += [dataclasses.replace(p, severity="warning") for p in missing]
    if problems:
        return Expansion([], problems, warnings)
    kept, duplicates = _drop_duplicates(jobs, manifest.path.name, manifest.place_word)
    return Expansion(kept, [], warnings + duplicates)


def _drop_duplicates(jobs: list[Job], file: str, word: str = "row") -> tuple[list[Job], list[Problem]]:
    """The jobs with one per job id (the last of each), and a warning per
    duplicate naming the row (``word``: or the YAML line) it repeats."""
    seen: dict[str, Job] = {}
    warnings = []
    for job in jobs:
        if job.job_id in seen:
            first = seen[job.job_id]
            warnings.append(
                Problem(
                    f"{file}: {word} {job.row}",
                    "",
                    f"same request as {word} {first.row} (same job id {job.job_id}): "
                    "use variants: N for several videos of one request",
                    severity="warning",
                )
            )
        seen[job.job_id] = job
    return [j for j in jobs if seen[j.job_id] is j], warnings
