"""Provider capability checks: can this provider run this job?

Run after the schema check, before any request: a job its provider cannot run
(1080P with 10 s, an image on a text-only model, a text-only job on an
image-only provider or variant (512P), a last frame (``end_image``) on a model
the provider sells without first-and-last-frame video, a base64 or local
image where only URLs are taken, a local or base64 image outside the
provider's limits (images.py), an unsold model, an option the protocol lacks,
a missing API key) is a Problem naming
the row, with what is allowed and which providers could run it. Facts come
from data/providers.yaml; a field the row leaves out takes the job default
(catalog.facts.job_defaults).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batch_runner.catalog.facts import ModelInfo, ProviderInfo, catalog, job_defaults, variant_key
from batch_runner.errors import Problem
from batch_runner.jobs.images import (
    IMAGE_FIELDS,
    ImageCheck,
    ImageFacts,
    ImageLimits,
    ref_kind,
)
from batch_runner.jobs.references import references_of
from batch_runner.keys import has_key

__all__ = ["candidates", "check_job", "key_problems", "providers_for", "reasons_by_provider"]

#: job fields a provider carries or not (providers.yaml ``options``); ``end_image``
#: is a fact of each model instead (``ModelInfo.end_image``)
OPTIONS = ("prompt_optimizer", "fast_pretreatment", "watermark")


def _label(ref: str) -> str:
    return "the base64 image" if ref_kind(ref) == "base64" else ref


def _reasons(info: ProviderInfo, f: Mapping[str, Any],
             facts: Mapping[str, ImageFacts] | None = None) -> list[tuple[str, str]]:
    """(field, message) for everything ``info`` cannot do of job fields ``f``;
    ``facts`` (field -> ImageFacts of its local or base64 image, from
    images.check_images) are checked against the provider's image limits."""
    out: list[tuple[str, str]] = []
    defaults = job_defaults()
    model = f.get("model") or defaults.model
    scene = "image-to-video" if f.get("image") else "text-to-video"
    res, dur = f.get("resolution") or defaults.resolution, f.get("duration") or defaults.duration
    m = info.models.get(model)
    if m is None:
        out.append(("model", f"{info.name} does not sell {model}; it sells {', '.join(info.models)}"))
    elif scene not in m.scenes:
        if scene == "text-to-video":
            out.append(("image", f"{info.name} runs {model} as image-to-video only: add an image"))
        else:
            out.append(("image", f"{info.name} runs {model} as text-to-video only: remove the image"))
    elif variant_key(res, dur) not in m.variants:
        allowed = ", ".join(v.replace("-", " ") + " s" for v in m.variants)
        out.append(
            ("resolution", f"{res} with {dur} s is not offered by {info.name} for {model}; allowed: {allowed}")
        )
    elif variant_key(res, dur) not in m.variants_for(scene):
        out.append(("image", f"{info.name} runs {model} at {res} as image-to-video only: add an image"))
    if f.get("end_image") and m is not None and not m.end_image:
        out.append(("end_image", _no_end_image(info, model)))
    if m is not None:
        out += _reference_reasons(info, m, f)
    for fld in IMAGE_FIELDS:
        ref = f.get(fld)
        if not ref:
            continue
        kind = ref_kind(ref)
        if ("base64" if kind == "file" else kind) not in info.image_kinds:  # a local file travels as base64
            what = "a local file" if kind == "file" else "a base64 image"
            out.append((fld, f"{info.name} takes image URLs only, not {what}: host it at an https URL"))
        elif facts and fld in facts:
            out += [(fld, f"{_label(ref)} {msg}") for msg in ImageLimits.of(info).problems(facts[fld])]
    for opt in OPTIONS:
        if f.get(opt) is not None and opt not in info.options:
            out.append((opt, f"{info.name} has no {opt} setting: remove it"))
    return out


def _reference_reasons(info: ProviderInfo, m: ModelInfo, f: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for the prompt's length and the reference media (jobs/references.py)
    that ``info`` cannot take for model ``m``: a role the model does not take, or
    references beside a first or last frame (MiniMax V2 refuses the mix, SEEN:
    https://platform.minimax.io/docs/api-reference/video-generation-v2-create)."""
    out: list[tuple[str, str]] = []
    prompt = f.get("prompt")
    if isinstance(prompt, str) and len(prompt) > m.max_prompt:
        out.append(("prompt", f"{len(prompt):,} characters: {info.name} takes at most {m.max_prompt:,} "
                              f"for {m.name}: shorten it"))
    roles = {role for role, _ in references_of(f)} | {r for r, _ in f.get("references") or ()}
    for role in sorted(roles - set(m.references)):
        takers = [f"{p} {n}" for p, i in catalog().items() for n, mm in i.models.items() if role in mm.references]
        hint = f": set model and provider to one that does ({', '.join(takers)})" if takers else ": remove it"
        out.append((role, f"{info.name} takes no {role} for {m.name}{hint}"))
    if roles and (f.get("image") or f.get("end_image")):
        out.append(("image", "reference media cannot be mixed with a first or last frame (image, end_image): "
                             "keep one or the other"))
    return out


def _no_end_image(info: ProviderInfo, model: str) -> str:
    """Why ``info`` cannot run ``model`` with an ``end_image``, and what to do."""
    models = [name for name, m in info.models.items() if m.end_image]
    if not models:
        return f"{info.name} has no end_image setting: remove it"
    return (f"{info.name} sells first-and-last-frame video (end_image) for {', '.join(models)} only, "
            f"not {model}: set model: {models[0]}, or remove end_image")


def providers_for(fields: Mapping[str, Any], facts: Mapping[str, ImageFacts] | None = None) -> list[str]:
    """Names of the providers whose protocol can run a job with these fields
    (and take its local or base64 images, whose ``facts`` are given)."""
    return [name for name, info in catalog().items() if not _reasons(info, fields, facts)]


def reasons_by_provider(fields: Mapping[str, Any],
                        facts: Mapping[str, ImageFacts] | None = None) -> dict[str, list[str]]:
    """Provider name -> why it cannot run a job with these fields (messages,
    empty for a provider that can), for every provider of the catalog."""
    return {name: [msg for _, msg in _reasons(info, fields, facts)] for name, info in catalog().items()}


def candidates(fields: Mapping[str, Any]) -> list[str]:
    """The job's provider and its fallbacks, in order."""
    value = fields.get("provider")
    return list(value) if isinstance(value, list) else [value] if isinstance(value, str) else []


def check_job(
    where: str, fields: Mapping[str, Any], images: ImageCheck | None = None,
) -> tuple[list[Problem], list[str]]:
    """Capability problems of one row, and the providers that can run it.

    ``images``: the row's images, resolved and read once (images.check_images);
    their own problems (unreadable, outside the manifest's folder) are reported
    here, once whatever the provider. The first provider must be able to run
    the job (else each reason is a problem); a fallback that cannot is dropped
    with a warning. Returns (problems, runnable providers in order).
    """
    names = [n for n in candidates(fields) if n in catalog()]
    if not names:
        return [], []  # the schema already reported it
    facts = images.facts if images else None
    problems, runnable = [], []
    for i, name in enumerate(names):
        reasons = _reasons(catalog()[name], fields, facts)
        if not reasons:
            runnable.append(name)
        elif i == 0:
            others = [p for p in providers_for(fields, facts) if p != name]
            hint = f" (providers that can: {', '.join(others)})" if others else ""
            problems += [Problem(where, fld, msg + hint) for fld, msg in reasons]
        else:
            problems.append(Problem(where, "provider", f"fallback {name} dropped: {reasons[0][1]}", "warning"))
    return problems + (images.problems if images else []), runnable


def key_problems(rows_by_provider: Mapping[str, list[str]], environ: Mapping[str, str]) -> list[Problem]:
    """One Problem per provider that jobs use but whose API key is not set.

    ``rows_by_provider``: provider name -> positions ("line 12", "row 4") of its jobs.
    """
    out = []
    for name, rows in rows_by_provider.items():
        info = catalog()[name]
        if not has_key(info.key_env, environ):
            file = rows[0].split(": ")[0]
            places = [r.split(": ", 1)[-1] for r in rows]
            shown = ", ".join(places[:5]) + (f" and {len(places) - 5} more" if len(places) > 5 else "")
            out.append(
                Problem(f"{file}: {shown}", "provider", f"no API key for {name}: set the environment "
                        f"variable {info.key_env} or {info.pool_env} for a pool (or use --simulate)")
            )
    return out
