"""What one video costs on a provider, from data/providers.yaml (prices with sources).

A price is in the provider's unit: USD (minimax, gccai) or credits (apiframe,
apiinone). ``usd`` is known for USD-priced providers with a published price,
and for credit-priced ones once ``usd_per_credit`` is set under ``providers:``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from batch_runner.catalog.settings import ProviderSettings

__all__ = ["Cost", "describe_usd", "video_cost"]


@dataclass(frozen=True)
class Cost:
    """Cost of one successful video: ``credits`` (credit-priced providers),
    ``usd`` (None when unknown), ``price`` in the provider's unit (None when
    the provider publishes no price for this variant)."""

    credits: float | None
    usd: float | None
    price: float | None


def video_cost(settings: ProviderSettings, model: str, resolution: str, duration: int) -> Cost:
    """The cost of one successful video of this variant on this provider. A
    USD value that is not a finite number (``usd_per_credit: .nan`` in YAML) is
    unknown, never a figure a budget cap would compare as "not over"."""
    info = settings.info
    price = info.price(model, resolution, duration)
    credits = price if info.price_unit == "credits" else None
    usd = settings.cost_usd(price)
    return Cost(credits, usd if usd is not None and math.isfinite(usd) else None, price)


def describe_usd(usd: float, unknown: int, jobs: float, *, compact: bool = False, named: bool = False) -> str:
    """The USD amount of ``jobs`` jobs (or videos) of which ``unknown`` have no
    known USD price, in the words every output uses (plan, summary, report): an
    unknown price is never counted as zero.

    ``usd`` is the sum of the known prices (USD). Returns ``$1.54`` (every price
    known), ``$1.54 + 13 unknown`` (some) or ``unknown`` (none known, or
    ``USD unknown`` with ``named=True``, for text where no column header or
    ``$`` says what is unknown). ``compact=True`` is the form for a narrow table
    column headed USD: ``1.54``, ``1.54+?`` or ``unknown``.
    """
    if unknown and unknown >= jobs:
        return "USD unknown" if named and not compact else "unknown"
    if compact:
        return f"{usd:.2f}" + ("+?" if unknown else "")
    return f"${usd:.2f}" + (f" + {unknown} unknown" if unknown else "")
