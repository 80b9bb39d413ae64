"""Provider facts (capabilities, models, limits, prices) loaded from data/providers.yaml.

The data file is the one place for those facts, each with its public source
(docs/providers.md); this module only gives them types. ``CATALOG`` maps a
provider name to its ``ProviderInfo``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

__all__ = ["ModelInfo", "ProviderInfo", "catalog", "variant_key"]

DEFAULT_MODEL = "hailuo-2.3"


def variant_key(resolution: str, duration: int) -> str:
    """The variant name used in the data file, e.g. ``768P-6``."""
    return f"{resolution}-{duration}"


@dataclass(frozen=True)
class ModelInfo:
    """One model as a provider sells it: ``id`` is the provider's identifier,
    ``scenes`` a subset of {text-to-video, image-to-video}, ``variants`` like ``768P-6``."""

    name: str
    id: str
    scenes: tuple[str, ...]
    variants: tuple[str, ...]


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
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key_env(self) -> str:
        """Environment variable holding this provider's API key."""
        return f"{self.name.upper()}_API_KEY"

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
        m: ModelInfo(m, spec["id"], tuple(spec["scenes"]), tuple(spec["variants"]))
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
