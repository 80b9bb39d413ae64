"""Per-provider run settings: defaults from data/providers.yaml, overridden by the
manifest's ``providers:`` section, base URL and API key from the environment.

Setting names (also the manifest's): ``rpm`` (submit requests per minute),
``max_in_flight`` (tasks submitted and not yet finished), ``poll_interval_s``
(seconds between two polls of one task), ``typical_generation_s`` (seconds a
task usually takes: see polling.py), ``timeout_s`` (seconds for one HTTP
request), ``task_timeout_s`` (seconds from submit to finish before a task ends
as ``timeout``), ``max_attempts`` (tries of one submit; permanent poll errors in
a row), ``backoff_base_s`` (first backoff step, seconds, full jitter),
``retry_total_s`` (longest time retrying one submit), ``usd_per_credit``,
``max_unreadable_answers`` (answers in a row the adapter cannot read before
the provider's breaker opens; a task whose answers were all unreadable ends
``unrecognised_answer`` after that many).

Wire facts that are guesses (INFERRED in data/providers.yaml) are overridable the
same way: ``base_url`` (the API host) and ``model_ids`` (manifest model name ->
the provider's model id on the wire). Order, last wins: the data file, a
``--settings`` file, the manifest's ``providers:``; then ``<NAME>_BASE_URL`` in
the environment wins over any file (``--simulate`` points every provider at the
simulator that way, so no file can send a simulated run to a real host).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from batch_runner.catalog.facts import ProviderInfo, catalog
from batch_runner.keys import Secret, key_from_env

__all__ = ["ProviderSettings", "merge_overrides", "resolve_settings"]


@dataclass(frozen=True)
class ProviderSettings:
    """Resolved settings of one provider for a run (units in the names)."""

    name: str
    base_url: str
    api_key: Secret
    rpm: float
    max_in_flight: int
    poll_interval_s: float
    timeout_s: float
    task_timeout_s: float = 1800.0
    typical_generation_s: float | None = None
    max_attempts: int = 5
    backoff_base_s: float = 1.0
    retry_total_s: float = 300.0
    usd_per_credit: float | None = None
    max_unreadable_answers: int = 3
    #: manifest model name -> the provider's model id, where it differs from data/providers.yaml's
    model_ids: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def info(self) -> ProviderInfo:
        """The provider's catalog entry."""
        return catalog()[self.name]

    def cost_usd(self, price: float | None) -> float | None:
        """USD value of ``price`` (in the provider's price unit), None if unknown."""
        if price is None:
            return None
        if self.info.price_unit == "usd":
            return price
        return None if self.usd_per_credit is None else price * self.usd_per_credit


def merge_overrides(*layers: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """``providers:`` mappings (name -> setting -> value) merged, a later layer winning
    per setting; ``model_ids`` are merged per model name."""
    out: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for name, values in (layer or {}).items():
            merged = out.setdefault(name, {})
            for key, value in (values or {}).items():
                if key == "model_ids":
                    merged[key] = {**merged.get(key, {}), **(value or {})}
                else:
                    merged[key] = value
    return out


def resolve_settings(
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, ProviderSettings]:
    """Settings of every provider.

    ``overrides``: the ``providers:`` mapping (name -> setting -> value; merge_overrides
    layers a settings file and the manifest), ``base_url`` and ``model_ids`` included.
    ``environ``: where ``<NAME>_API_KEY`` and ``<NAME>_BASE_URL`` are read
    (default ``os.environ``); ``<NAME>_BASE_URL`` wins over an override's ``base_url``.
    """
    env = os.environ if environ is None else environ
    out = {}
    for name, info in catalog().items():
        limits = info.limits
        settings = ProviderSettings(
            name=name,
            base_url=env.get(info.base_url_env) or info.base_url,
            api_key=key_from_env(info.key_env, dict(env)),
            rpm=float(limits["rpm"]),
            max_in_flight=int(limits["max_in_flight"]),
            poll_interval_s=float(limits["poll_interval_s"]),
            timeout_s=float(limits["timeout_s"]),
            task_timeout_s=float(limits.get("task_timeout_s", 1800)),
            typical_generation_s=limits.get("typical_generation_s"),
            max_unreadable_answers=int(limits.get("max_unreadable_answers", 3)),
            usd_per_credit=info.usd_per_credit,
        )
        extra = dict((overrides or {}).get(name) or {})
        if "base_url" in extra:
            extra["base_url"] = env.get(info.base_url_env) or str(extra["base_url"])
        if "model_ids" in extra:
            extra["model_ids"] = dict(extra["model_ids"] or {})
        if extra:
            settings = replace(settings, **extra)
        out[name] = settings
    return out
