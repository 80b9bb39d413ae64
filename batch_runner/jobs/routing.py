"""``provider: auto``: the cheapest provider that can run a job and has a key.

Ranking (per job, in manifest order): known USD price before unknown, then the
lower USD price, then more spare rate (fewer jobs already routed there per
submit-per-minute of its rate limit). The other capable providers become the
job's fallbacks, in the same order. Prices and limits come from
data/providers.yaml and the manifest's ``providers:`` settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batch_runner.catalog.facts import job_defaults
from batch_runner.catalog.prices import video_cost
from batch_runner.catalog.settings import ProviderSettings
from batch_runner.jobs.capabilities import providers_for
from batch_runner.jobs.images import ImageFacts

__all__ = ["route"]


def route(
    fields: Mapping[str, Any],
    settings: Mapping[str, ProviderSettings],
    environ: Mapping[str, str],
    load: dict[str, int],
    facts: Mapping[str, ImageFacts] | None = None,
) -> tuple[list[str], str]:
    """(providers ranked best first, a sentence saying why) for one ``auto`` job.

    ``load`` counts jobs already routed to each provider; it is updated with
    this row's ``variants`` jobs. ``facts``: field -> ImageFacts of the job's
    local or base64 images (images.check_images); a provider that cannot take
    one (format, size, aspect ratio) is not capable. An empty list means no provider with a key can run the job.
    """
    defaults = job_defaults()
    model = fields.get("model") or defaults.model
    res, dur = fields.get("resolution") or defaults.resolution, int(fields.get("duration") or defaults.duration)
    n = int(fields.get("variants") or 1)
    capable = providers_for({**fields, "provider": None}, facts)
    keyed = [p for p in capable if environ.get(settings[p].info.key_env, "").strip()]
    if not keyed:
        return [], (f"no provider with an API key can run it (capable: {', '.join(capable) or 'none'})")

    def rank(p: str) -> tuple[bool, float, float]:
        usd = video_cost(settings[p], model, res, dur).usd
        price = round(usd, 6) if usd is not None else 0.0  # equal to the micro-dollar is a tie
        return (usd is None, price, (load.get(p, 0) + n) / settings[p].rpm)

    ranked = sorted(keyed, key=rank)
    best = ranked[0]
    load[best] = load.get(best, 0) + n
    usd = video_cost(settings[best], model, res, dur).usd
    others = [f"{p} {_money(video_cost(settings[p], model, res, dur).usd)}" for p in ranked[1:]]
    why = f"auto: {best} at {_money(usd)}" + (f"; then {', '.join(others)}" if others else ", the only capable provider with a key")
    if usd is None:
        why += " (no provider's USD price is known: set usd_per_credit under providers:)"
    return ranked, why


def _money(usd: float | None) -> str:
    return "price unknown" if usd is None else f"${usd:.4g}"
