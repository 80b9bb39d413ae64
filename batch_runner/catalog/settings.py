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

Several keys per provider (``<NAME>_API_KEYS``, keys.pool_from_env) make a
pool: ``keys`` holds them, ``api_key`` is the first. Each key has its own
limits; ``keys:`` under a provider overrides settings per key label, e.g.
``providers: {minimax: {keys: {team-a: {rpm: 20}}}}`` (``for_key`` gives one
key's settings; only ``KEY_SETTINGS`` may differ per key).

Wire facts that are guesses (INFERRED in data/providers.yaml) are overridable the
same way: ``base_url`` (the API host) and ``model_ids`` (manifest model name ->
the provider's model id on the wire). Order, last wins: the data file, a
``--settings`` file, the manifest's ``providers:``; then ``<NAME>_BASE_URL`` in
the environment wins over any file (``--simulate`` points every provider at the
simulator that way, so no file can send a simulated run to a real host).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from batch_runner.catalog.facts import ProviderInfo, catalog
from batch_runner.errors import ConfigError
from batch_runner.keys import KeyPoolError, PoolKey, Secret, pool_from_env

__all__ = ["KEY_SETTINGS", "ProviderSettings", "merge_overrides", "resolve_settings", "unused_key_settings"]

#: the settings a key of a pool may override (its own account's limits)
KEY_SETTINGS = ("rpm", "max_in_flight")


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
    #: the pool of keys (``api_key`` is its first; empty: no key)
    keys: tuple[PoolKey, ...] = ()
    #: key label -> setting -> value (``keys:`` of the provider's overrides)
    key_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, hash=False)

    def for_key(self, key: PoolKey) -> ProviderSettings:
        """These settings as used with one ``key`` of the pool: its ``api_key``, and
        its label's overrides (``rpm``, ``max_in_flight``) applied."""
        extra = {k: v for k, v in (self.key_settings.get(key.label) or {}).items() if k in KEY_SETTINGS}
        if "rpm" in extra:
            extra["rpm"] = float(extra["rpm"])
        if "max_in_flight" in extra:
            extra["max_in_flight"] = int(extra["max_in_flight"])
        return replace(self, api_key=key.secret, keys=(key,), **extra)

    @property
    def pool(self) -> tuple[PoolKey, ...]:
        """The keys to run with: ``keys``, or ``api_key`` alone as ``key1`` when no
        pool was read (settings made in code)."""
        return self.keys or ((PoolKey("key1", self.api_key),) if self.api_key else ())

    @property
    def pool_rpm(self) -> float:
        """Submits per minute of the whole pool: the sum of its keys' ``rpm`` (``rpm``
        when there is no key)."""
        return sum(self.for_key(k).rpm for k in self.pool) or self.rpm

    @property
    def pool_in_flight(self) -> int:
        """Tasks in flight of the whole pool: the sum of its keys' ``max_in_flight``."""
        return sum(self.for_key(k).max_in_flight for k in self.pool) or self.max_in_flight

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
    per setting; ``model_ids`` are merged per model name, ``keys`` per key label
    and setting."""
    out: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for name, values in (layer or {}).items():
            merged = out.setdefault(name, {})
            for key, value in (values or {}).items():
                if key == "model_ids":
                    merged[key] = {**merged.get(key, {}), **(value or {})}
                elif key == "keys":
                    labels = dict(merged.get(key, {}))
                    for label, per_key in (value or {}).items():
                        labels[label] = {**labels.get(label, {}), **(per_key or {})}
                    merged[key] = labels
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
    ``<NAME>_API_KEYS`` (a pool, keys.pool_from_env) wins over ``<NAME>_API_KEY``.

    Raises ConfigError for a pool variable that cannot be read (naming it, never a key).
    """
    env = os.environ if environ is None else environ
    out = {}
    for name, info in catalog().items():
        limits = info.limits
        try:
            pool = pool_from_env(info.key_env, env)
        except KeyPoolError as exc:
            raise ConfigError(str(exc)) from None
        settings = ProviderSettings(
            name=name,
            base_url=env.get(info.base_url_env) or info.base_url,
            api_key=pool[0].secret if pool else Secret(""),
            keys=pool,
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
        if "keys" in extra:
            extra["key_settings"] = {str(k): dict(v or {}) for k, v in (extra.pop("keys") or {}).items()}
        if extra:
            settings = replace(settings, **extra)
        out[name] = settings
    return out


def unused_key_settings(settings: Mapping[str, ProviderSettings], providers: Iterable[str]) -> list[str]:
    """One warning per ``keys:`` label of ``providers`` that names no key of the pool
    (a typo, or a key not set on this machine): its limits are not used."""
    out = []
    for name in providers:
        s = settings[name]
        labels = [k.label for k in s.pool]
        for label in sorted(set(s.key_settings) - set(labels)):
            out.append(f"providers: {name}: keys: {label}: no key of that label in {s.info.pool_env} "
                       f"(labels: {', '.join(labels) or 'none'}): its settings are not used")
    return out
