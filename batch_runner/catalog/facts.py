"""Provider facts (capabilities, models, limits, prices) loaded from data/providers.yaml,
and the job defaults (model, resolution, duration) of the manifest schema.

The data files are the one place for those facts, each provider fact with its
public source beside it (docs/providers.md); this module only gives them types. ``catalog()`` maps
a provider name to its ``ProviderInfo``; ``job_defaults()`` gives what a job
gets when its manifest row leaves a field out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

from batch_runner.keys import pool_variable

__all__ = ["JobDefaults", "ModelInfo", "ProviderInfo", "catalog", "job_defaults", "job_fields", "model_names",
           "variant_key"]


def variant_key(resolution: str, duration: int) -> str:
    """The variant name used in the data file, e.g. ``768P-6``."""
    return f"{resolution}-{duration}"


@dataclass(frozen=True)
class ModelInfo:
    """One model as a provider sells it: ``id`` is the provider's identifier,
    ``scenes`` a subset of {text-to-video, image-to-video}, ``variants`` like ``768P-6``
    (every variant sold), ``image_only_variants`` those of them sold as image-to-video
    only (MiniMax-Hailuo-02's 512P), ``end_image`` whether the provider sells
    first-and-last-frame video (a job's ``end_image``) for this model."""

    name: str
    id: str
    scenes: tuple[str, ...]
    variants: tuple[str, ...]
    image_only_variants: tuple[str, ...] = ()
    end_image: bool = False

    def variants_for(self, scene: str) -> tuple[str, ...]:
        """The variants sold for ``scene`` (``text-to-video`` or ``image-to-video``)."""
        if scene == "image-to-video":
            return self.variants
        return tuple(v for v in self.variants if v not in self.image_only_variants)


@dataclass(frozen=True)
class ProviderInfo:
    """What a provider can do and charges. Source: batch_runner/data/providers.yaml."""

    name: str
    base_url: str
    scenes: tuple[str, ...]
    image_kinds: tuple[str, ...]
    options: tuple[str, ...]
    models: dict[str, ModelInfo]
    limits: dict[str, float]
    price_unit: str
    prices: dict[str, dict[str, float] | None]
    usd_per_credit: float | None
    charges_failed: bool
    url_ttl_s: float | None
    idempotency_key: bool
    image_limits: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    price_source: str = ""

    @property
    def key_env(self) -> str:
        """Environment variable holding this provider's API key."""
        return f"{self.name.upper()}_API_KEY"

    @property
    def pool_env(self) -> str:
        """Environment variable holding a pool of this provider's API keys."""
        return pool_variable(self.key_env)

    @property
    def base_url_env(self) -> str:
        """Environment variable overriding this provider's base URL."""
        return f"{self.name.upper()}_BASE_URL"

    def price(self, model: str, resolution: str, duration: int) -> float | None:
        """Price of one successful video in ``price_unit`` (USD or credits), or None
        when unknown."""
        table = self.prices.get(model)
        if not table:
            return None
        return table.get(variant_key(resolution, duration))


def _provider(name: str, raw: dict[str, Any]) -> ProviderInfo:
    price = dict(raw.get("price") or {})
    unit = price.pop("unit", "usd")
    price_source = price.pop("source", "")
    models = {
        m: ModelInfo(m, spec["id"], tuple(spec["scenes"]), tuple(spec["variants"]),
                     tuple(spec.get("image_only_variants") or ()), bool(spec.get("end_image", False)))
        for m, spec in raw["models"].items()
    }
    return ProviderInfo(
        name=name,
        base_url=raw["base_url"],
        scenes=tuple(raw["scenes"]),
        image_kinds=tuple(raw["image_kinds"]),
        options=tuple(raw.get("options") or ()),
        models=models,
        limits=dict(raw["limits"]),
        price_unit=unit,
        prices=price,
        usd_per_credit=raw.get("usd_per_credit"),
        charges_failed=bool(raw.get("charges_failed", False)),
        url_ttl_s=raw.get("url_ttl_s"),
        idempotency_key=bool(raw.get("idempotency_key", False)),
        image_limits=dict(raw.get("image") or {}),
        source=raw.get("source", ""),
        price_source=price_source,
    )


@cache
def catalog() -> dict[str, ProviderInfo]:
    """All providers, by name, in data-file order."""
    text = resources.files("batch_runner").joinpath("data/providers.yaml").read_text(
        encoding="utf-8"
    )
    raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return {name: _provider(name, spec) for name, spec in raw.items()}


@cache
def _job_fields() -> dict[str, Any]:
    """``$defs.job_fields.properties`` of data/manifest.schema.json."""
    text = resources.files("batch_runner").joinpath("data/manifest.schema.json").read_text(encoding="utf-8")
    fields: dict[str, Any] = json.loads(text)["$defs"]["job_fields"]["properties"]
    return fields


def job_fields() -> dict[str, Any]:
    """The job fields of the manifest schema (``$defs.job_fields.properties`` of
    data/manifest.schema.json), by name in the schema's order, each its JSON Schema
    (``enum``, ``default``, ...): what a sheet's columns may be."""
    return dict(_job_fields())


def model_names() -> tuple[str, ...]:
    """Our model names a manifest may ask for, in the schema's order (the ``model``
    enum of data/manifest.schema.json): ``("hailuo-2.3", "hailuo-2.3-fast", ...)``.
    Each is sold by at least one provider of ``catalog()`` (a test keeps them equal)."""
    return tuple(_job_fields()["model"]["enum"])


@dataclass(frozen=True)
class JobDefaults:
    """What a job gets for a field its manifest row leaves out: ``model``
    (our model name, e.g. ``hailuo-2.3``), ``resolution`` (``768P``),
    ``duration`` in seconds."""

    model: str
    resolution: str
    duration: int


@cache
def job_defaults() -> JobDefaults:
    """The job defaults: the ``default`` of the model, resolution and duration
    fields in the manifest schema (data/manifest.schema.json ``$defs.job_fields``),
    where a manifest's author and an editor using the schema see them too.

    They live in the schema, not in providers.yaml, because a default is applied
    before a provider is chosen (the job id hashes it, ``provider: auto`` prices
    it): it is a fact about a manifest field, the same for every provider.
    6 s and 768P are MiniMax's own API defaults
    (https://platform.minimax.io/docs/api-reference/video-generation-t2v, seen
    by 2026-11-22); ``hailuo-2.3`` is the one model all six providers sell.
    """
    fields = _job_fields()
    return JobDefaults(
        model=str(fields["model"]["default"]),
        resolution=str(fields["resolution"]["default"]),
        duration=int(fields["duration"]["default"]),
    )
