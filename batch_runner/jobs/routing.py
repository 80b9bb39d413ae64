"""``provider: auto``: the cheapest provider that can run a job and has a key.

Ranking (per job, in manifest order): known USD price before unknown, then the
lower USD price, then more spare rate (fewer jobs already routed there per
submit-per-minute of its rate limit, summed over its pool of keys). The other capable providers become the
job's fallbacks, in the same order. A plan (no key needed) ranks the capable
providers without a key after those with one and marks them ``(no key)``.
When no provider can run the job, the reason says why (``why_none``). Prices
and limits come from data/providers.yaml and the manifest's ``providers:``
settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batch_runner.catalog.facts import catalog, job_defaults, model_names, variant_key
from batch_runner.catalog.prices import video_cost
from batch_runner.catalog.settings import ProviderSettings
from batch_runner.jobs.capabilities import providers_for, reasons_by_provider
from batch_runner.jobs.images import ImageFacts
from batch_runner.keys import has_key

__all__ = ["route", "why_none"]


def route(
    fields: Mapping[str, Any],
    settings: Mapping[str, ProviderSettings],
    environ: Mapping[str, str],
    load: dict[str, int],
    facts: Mapping[str, ImageFacts] | None = None,
    *,
    need_keys: bool = True,
) -> tuple[list[str], str]:
    """(providers ranked best first, a sentence saying why) for one ``auto`` job.

    ``load`` counts jobs already routed to each provider; it is updated with
    this row's ``variants`` jobs. ``facts``: field -> ImageFacts of the job's
    local or base64 images (images.check_images); a provider that cannot take
    one (format, size, aspect ratio) is not capable. ``need_keys=False`` (a
    plan): the capable providers without an API key are ranked too, after
    those with one, and marked ``(no key)`` in the sentence. An empty list
    means no provider (with a key, when ``need_keys``) can run the job; the
    sentence then says why.
    """
    defaults = job_defaults()
    model = fields.get("model") or defaults.model
    res, dur = fields.get("resolution") or defaults.resolution, int(fields.get("duration") or defaults.duration)
    n = int(fields.get("variants") or 1)
    capable = providers_for({**fields, "provider": None}, facts)
    if not capable:
        return [], f"no provider can run it (capable: none): {why_none(fields, facts)}"

    def keyed_ok(p: str) -> bool:
        return has_key(settings[p].info.key_env, environ)

    keyed = [p for p in capable if keyed_ok(p)]
    if not keyed and need_keys:
        keys = ", ".join(settings[p].info.key_env for p in capable)
        return [], f"no provider with an API key can run it (capable: {', '.join(capable)}; set one of {keys})"

    def usd_of(p: str) -> float | None:
        return video_cost(settings[p], model, res, dur).usd

    def rank(p: str) -> tuple[bool, float, float]:
        usd = usd_of(p)
        price = round(usd, 6) if usd is not None else 0.0  # equal to the micro-dollar is a tie
        return (usd is None, price, (load.get(p, 0) + n) / settings[p].pool_rpm)

    keyless = [] if need_keys else [p for p in capable if not keyed_ok(p)]
    ranked = sorted(keyed, key=rank) + sorted(keyless, key=rank)
    best = ranked[0]
    load[best] = load.get(best, 0) + n

    def mark(p: str) -> str:
        return "" if keyed_ok(p) else " (no key)"

    usd = usd_of(best)
    why = f"auto: {best} at {_money(usd)}"
    if not keyed_ok(best):
        why += f" (no key: set {settings[best].info.key_env})"
    others = [f"{p} {_money(usd_of(p))}{mark(p)}" for p in ranked[1:]]
    if others:
        why += f"; then {', '.join(others)}"
    else:
        why += ", the only capable provider" + (" with a key" if need_keys else "")
    if usd is None:
        why += " (no provider's USD price is known: set usd_per_credit under providers:)"
    return ranked, why


def why_none(fields: Mapping[str, Any], facts: Mapping[str, ImageFacts] | None = None) -> str:
    """Why no provider can run a job with these fields, in one sentence: no
    provider sells the model (the models sold, in the schema's order), or the model at this resolution and duration
    (with the variants that are sold), else the first reason of each provider
    that sells the model, then those that do not."""
    defaults = job_defaults()
    model = fields.get("model") or defaults.model
    res, dur = fields.get("resolution") or defaults.resolution, int(fields.get("duration") or defaults.duration)
    sellers = {name: info.models[model] for name, info in catalog().items() if model in info.models}
    if not sellers:
        sold_by_any = {m for info in catalog().values() for m in info.models}
        sold = [m for m in model_names() if m in sold_by_any] + sorted(sold_by_any - set(model_names()))
        return f"no provider sells {model} (models sold: {', '.join(sold)})"
    if not any(variant_key(res, dur) in m.variants for m in sellers.values()):
        sold = sorted({v for m in sellers.values() for v in m.variants}, key=_variant_order)
        shown = ", ".join(v.replace("-", " ") + " s" for v in sold)
        return f"no provider sells {model} at {res} with {dur} s (sold: {shown})"
    reasons = reasons_by_provider({**fields, "provider": None}, facts)
    text = "; ".join(found[0] for name, found in reasons.items() if found and name in sellers)
    others = [name for name in catalog() if name not in sellers]
    return text + (f"; {', '.join(others)} do not sell {model}" if others else "")


def _variant_order(variant: str) -> tuple[int, int, str]:
    res, _, dur = variant.partition("-")
    digits = "".join(c for c in res if c.isdigit())
    return (int(digits or 0), int(dur) if dur.isdigit() else 0, variant)


def _money(usd: float | None) -> str:
    return "price unknown" if usd is None else f"${usd:.4g}"
