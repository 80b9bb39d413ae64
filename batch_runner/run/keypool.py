"""A provider's pool of keys: one Slot per key, jobs spread by spare capacity.

Each key (keys.PoolKey, from ``<NAME>_API_KEYS``) is its own account with its
own limits, so each gets its own Slot (slot.py): pacing, in-flight cap,
breaker and probe; per-key overrides come from ``keys:`` under the provider
(catalog/settings.py ``for_key``). ``acquire`` waits for an in-flight place on
the live key (breaker closed) with the most spare capacity: the fewest places
held per submit per minute, so a key with a higher rate limit takes more jobs
and a key slowed by 429s fewer. A key whose breaker opened (bad key, balance,
quota) takes no new job; the pool's other keys go on (``other``). A task is
polled with the key that created it (``by_key_id``).
"""

from __future__ import annotations

import asyncio

from batch_runner.catalog.settings import ProviderSettings
from batch_runner.providers import ADAPTERS
from batch_runner.providers.taxonomy import BREAKER_CODES
from batch_runner.run.slot import Slot

__all__ = ["KeyPool"]


class _Places(asyncio.Semaphore):
    """A key's in-flight places that tell the pool when one is given back."""

    def __init__(self, value: int, freed: asyncio.Event):
        super().__init__(value)
        self._freed = freed

    def release(self) -> None:
        super().release()
        self._freed.set()


class KeyPool:
    """The Slots of one provider, one per key of ``settings.pool`` (one slot with
    no key when the pool is empty, so a missing key fails as before). Call inside
    the event loop."""

    def __init__(self, settings: ProviderSettings):
        self.settings = settings
        self._freed = asyncio.Event()
        keys = settings.pool
        self.slots: list[Slot] = []
        for key in keys or (None,):
            s = settings.for_key(key) if key is not None else settings
            adapter = ADAPTERS[s.name](s.base_url, s.api_key, model_ids=s.model_ids)
            self.slots.append(Slot.create(s, adapter, key_id=key.key_id if key else "",
                                          in_flight=_Places(s.max_in_flight, self._freed)))

    @property
    def name(self) -> str:
        """The provider's name."""
        return self.settings.name

    def live(self) -> list[Slot]:
        """The slots whose breaker is closed."""
        return [s for s in self.slots if s.breaker is None]

    @staticmethod
    def _load(slot: Slot) -> float:
        """Places held per submit per minute (lower: more spare capacity)."""
        held = slot.settings.max_in_flight - slot.in_flight._value
        return (held + 1) / max(slot.pacer.rpm, 1e-9)

    def best(self) -> Slot:
        """The live slot with the most spare capacity (any slot when none is live:
        its open breaker then moves the job on to its fallback, as with one key)."""
        live = self.live() or self.slots
        free = [s for s in live if not s.in_flight.locked()] or live
        return min(free, key=self._load)

    async def acquire(self) -> Slot:
        """Wait for an in-flight place on the live key with the most spare capacity;
        return its slot with the place held."""
        while True:
            self._freed.clear()
            live = self.live()
            free = [s for s in live if not s.in_flight.locked()]
            if free or not live:
                slot = min(free, key=self._load) if free else self.slots[0]
                await slot.in_flight.acquire()
                return slot
            await self._freed.wait()

    def other(self, slot: Slot) -> Slot | None:
        """Another live key for a job whose submit on ``slot`` was refused for a
        reason of that key's account (its breaker opened on a BREAKER_CODES
        answer: bad key, balance, quota), else None."""
        if slot.breaker is None or slot.breaker.error_code not in BREAKER_CODES or slot not in self.slots:
            return None
        live = self.live()
        return min(live, key=self._load) if live else None

    def by_key_id(self, key_id: str | None) -> Slot | None:
        """The slot of the key that made a task (journal ``key_id``, matched by its
        fingerprint, so a renamed label still matches); the first slot for a task
        recorded before pools (None/empty); None when that key is not in the pool."""
        if not key_id:
            return self.slots[0]
        fingerprint = key_id.rpartition(":")[2]
        for slot in self.slots:
            if slot.key_id.rpartition(":")[2] == fingerprint:
                return slot
        return None
