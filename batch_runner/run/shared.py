"""Limits a key keeps across workers: in-flight places and submit times from the shared journal.

With a shared journal (journal.postgres.PgJournal), several workers, and several
campaigns, may use one provider key at once. Each Slot then has a SharedLimits
keyed by (provider, key id): before a submit is sent, the job takes one of the
key's ``max_in_flight`` places (counted in the database, given back when the
job ends) and then the key's next submit time (60 / rpm seconds after the one
handed out before it, to whichever worker asked; 3 % more: SPACING). The worker's own Pacer still
slows it down on a 429; the shared spacing follows the pace of that Pacer.
The key id is ``keys.Secret.fingerprint()`` of the provider's key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from batch_runner.journal.coordination import Coordination
from batch_runner.logs import event

__all__ = ["PLACE_WAIT_S", "SPACING", "SharedLimits", "heartbeat"]

PLACE_WAIT_S = 0.05
"""Seconds between two tries for an in-flight place while the key has none free."""

SPACING = 1.03
"""Shared submit times are 3 % further apart than the key's rate: sent at exactly the
rate, the (rpm+1)-th submit lands at the edge of the first one's window, and the timer
and network jitter of several processes (a few ms) puts it inside half of the time: a
429. 3 % of a window (1.8 s of a minute) absorbs that jitter."""


class SharedLimits:
    """One key's limits shared through ``journal``: ``provider``, ``key_id``
    (8 hex digits, never the key), ``cap`` (tasks in flight across the whole
    database). ``sleep`` waits (seconds)."""

    def __init__(self, journal: Coordination, provider: str, key_id: str, cap: int,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        self.journal, self.provider, self.key_id, self.cap = journal, provider, key_id, cap
        self.sleep = sleep
        self.waited_s = 0.0  # seconds spent waiting for another worker's share of the key

    async def acquire(self, job_id: str, interval_s: float) -> None:
        """Wait for an in-flight place of the key for ``job_id``, then for the
        key's next submit time (``interval_s``: seconds between two submits)."""
        while not await asyncio.to_thread(self.journal.take_place, job_id, self.provider, self.key_id, self.cap):
            self.waited_s += PLACE_WAIT_S
            await self.sleep(PLACE_WAIT_S)
        wait = await asyncio.to_thread(self.journal.next_send, self.provider, self.key_id, interval_s * SPACING)
        if wait > 0:
            self.waited_s += wait
            await self.sleep(wait)


async def heartbeat(journal: Coordination) -> None:
    """Renew the worker's heartbeat and leases every third of the lease, until
    cancelled. A heartbeat that fails (the database out of reach) is logged and
    tried again: should the leases run out meanwhile, another worker takes the
    jobs over and this one sends no submit for them (journal.ClaimLostError)."""
    while True:
        try:
            await asyncio.to_thread(journal.heartbeat)
        except Exception as exc:  # psycopg's errors, a pool timeout: keep beating
            event("heartbeat_failed", "shared journal: heartbeat failed (%s); trying again", type(exc).__name__,
                  level=logging.WARNING)
        await asyncio.sleep(journal.lease_s / 3)
