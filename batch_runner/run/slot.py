"""One provider's slot (after Scrapy's per-domain Slot).

A Slot holds what limits one provider: its Pacer (submits per minute, slowed
by 429s), a semaphore of ``max_in_flight`` (held from submit until the task's
last poll), and a circuit breaker. The breaker opens on a submit answer that
says the key, the balance or the quota is gone (taxonomy.BREAKER_CODES): no
further submit is sent to that provider in this run; it opens too after
``max_unreadable_answers`` answers in a row the adapter cannot read (error
code ``unrecognised_answer``: the protocol has changed or was guessed wrong;
tasks in flight are still polled). Until the provider has
accepted one submit, submits go one at a time (a probe), so a bad key costs
exactly one failing request, not one per job.

With a pool of keys (keypool.py) each key has its own Slot: its own pacing,
in-flight cap, breaker and probe; ``key_id`` names its key (``label:fingerprint``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from batch_runner.catalog.settings import ProviderSettings
from batch_runner.errors import ProviderError
from batch_runner.providers import Adapter
from batch_runner.providers.taxonomy import BREAKER_CODES
from batch_runner.run.pacing import Pacer

if TYPE_CHECKING:
    from batch_runner.run.shared import SharedLimits

__all__ = ["Slot"]


@dataclass
class Slot:
    """Pacing, in-flight cap and circuit breaker of one provider's key (``key_id``:
    keys.PoolKey.key_id, ``""`` for no key)."""

    settings: ProviderSettings
    adapter: Adapter
    pacer: Pacer
    in_flight: asyncio.Semaphore
    breaker: ProviderError | None = None
    verified: bool = False
    probe: asyncio.Lock = field(default_factory=asyncio.Lock)
    unreadable_in_row: int = 0
    #: rate-limit answers this key has had (every job): tells a key under a real rate
    #: limit from one job's prompt refused under a rate-limit code (lifecycle.py)
    rate_limits: int = 0
    key_id: str = ""
    shared: SharedLimits | None = None  # the key's limits across workers (a shared journal: run/shared.py)

    @classmethod
    def create(cls, settings: ProviderSettings, adapter: Adapter, *, key_id: str = "",
               in_flight: asyncio.Semaphore | None = None) -> Slot:
        """A slot for ``settings`` (rpm, max_in_flight) and its key ``key_id``; call
        inside the event loop. ``in_flight``: the semaphore to use (default a new one
        of ``max_in_flight``)."""
        places = in_flight if in_flight is not None else asyncio.Semaphore(settings.max_in_flight)
        return cls(settings, adapter, Pacer(settings.rpm), places, key_id=key_id)

    @property
    def name(self) -> str:
        """The provider's name."""
        return self.settings.name

    def observe(self, exc: ProviderError) -> None:
        """Learn from a failed submit: slow down on a rate limit, open the
        breaker on a dead key, balance or quota."""
        if exc.error_code == "rate_limited":
            self.rate_limits += 1
            self.pacer.rate_limited(exc.retry_after)
        elif exc.error_code in BREAKER_CODES and self.breaker is None:
            self.breaker = exc

    def unreadable(self, capture: str = "") -> None:
        """Count an answer the adapter could not read (``capture``: where it
        was kept); after
        ``max_unreadable_answers`` in a row, open the breaker with
        ``unrecognised_answer``."""
        self.unreadable_in_row += 1
        limit = self.settings.max_unreadable_answers
        if self.unreadable_in_row >= limit and self.breaker is None:
            kept = f" (last kept in {capture})" if capture else ""
            self.breaker = ProviderError(
                self.name, "unrecognised_answer",
                f"{self.unreadable_in_row} answers in a row that the adapter cannot read{kept}: no new submit "
                f"to {self.name} in this run; fix the adapter or the provider's settings, then run again")

    def readable(self) -> None:
        """An answer the adapter could read: the count of unreadable ones starts again."""
        self.unreadable_in_row = 0
