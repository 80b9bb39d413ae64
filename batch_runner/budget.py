"""Budget caps for one run: a USD cap (``--max-cost``) and credit caps per provider
(``--max-credits PROVIDER=N``).

A job's cost is known before its submit (pricing.py). Before each submit the
runner reserves it; the reservation is refused when spent + committed + this
cost would pass a cap, and the job ends ``skipped_budget``. A reservation
becomes spent when the video succeeds (or the provider charges failures), is
released when the provider surely did not take the job or refunds a failure,
and stays committed when the outcome is unknown (possibly paid). Tasks resumed
from an earlier run were paid for by that run and do not count here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .pricing import Cost

__all__ = ["Budget"]

_EPS = 1e-9


@dataclass
class Budget:
    """Caps and running totals. ``max_usd`` None: no USD cap."""

    max_usd: float | None = None
    max_credits: Mapping[str, float] = field(default_factory=dict)
    spent_usd: float = 0.0
    committed_usd: float = 0.0
    spent_credits: dict[str, float] = field(default_factory=dict)
    committed_credits: dict[str, float] = field(default_factory=dict)
    _held: dict[str, tuple[str, Cost]] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """True when any cap is set."""
        return self.max_usd is not None or bool(self.max_credits)

    def reserve(self, job_id: str, provider: str, cost: Cost) -> str | None:
        """Hold ``cost`` for a submit; returns why not (a sentence) or None."""
        if self.max_usd is not None:
            if cost.usd is None:
                if cost.price is not None:
                    return (f"the USD price of {provider} credits is unknown: set usd_per_credit under "
                            f"providers: {provider} to send it jobs under --max-cost")
                return f"{provider} publishes no price for this video: it cannot be sent under --max-cost"
            if self.spent_usd + self.committed_usd + cost.usd > self.max_usd + _EPS:
                return (f"would take the cost to ${self.spent_usd + self.committed_usd + cost.usd:.2f}, "
                        f"over --max-cost ${self.max_usd:.2f}")
        cap = self.max_credits.get(provider)
        if cap is not None:
            used = self.spent_credits.get(provider, 0.0) + self.committed_credits.get(provider, 0.0)
            if cost.credits is None:
                return f"{provider} does not price in credits: --max-credits {provider}=N cannot cap it"
            if used + cost.credits > cap + _EPS:
                return f"would take {provider} to {used + cost.credits:g} credits, over --max-credits {provider}={cap:g}"
        self._held[job_id] = (provider, cost)
        self.committed_usd += cost.usd or 0.0
        self.committed_credits[provider] = self.committed_credits.get(provider, 0.0) + (cost.credits or 0.0)
        return None

    def settle(self, job_id: str, paid: bool) -> None:
        """End a reservation: ``paid`` moves it to spent, otherwise it is released."""
        held = self._held.pop(job_id, None)
        if held is None:
            return
        provider, cost = held
        self.committed_usd -= cost.usd or 0.0
        self.committed_credits[provider] -= cost.credits or 0.0
        if paid:
            self.spent_usd += cost.usd or 0.0
            self.spent_credits[provider] = self.spent_credits.get(provider, 0.0) + (cost.credits or 0.0)
