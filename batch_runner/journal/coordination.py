"""What the workers of one campaign share besides the records: the Coordination protocol.

A journal several workers use at once (journal/postgres.py's PgJournal) hands the run
this object as ``journal.coordination``; a journal of one run at a time (SQLite) hands
None. run/ works through it — claims and leases, each key's limits across every worker,
the campaign's budget — and never asks which backend it has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from batch_runner.journal.records import JobRecord

__all__ = ["Coordination"]


class Coordination(Protocol):
    """Claims, leases and limits shared by the workers of a campaign. Times are the
    database's clock (unix seconds); ``lease_s``: seconds a claim lasts unrenewed."""

    lease_s: float

    def claim(self, job_id: str) -> JobRecord | None:
        """Claim one job for this worker: its record as it now is, or None when
        another worker holds it (its lease not over)."""
        ...

    def held_by_others(self) -> set[str]:
        """Job ids, not final, that a live lease of another worker holds."""
        ...

    def heartbeat(self) -> None:
        """Renew this worker's heartbeat and its leases."""
        ...

    def recover_unknown(self) -> int:
        """Jobs left ``submitting`` by a worker whose lease is over become
        ``unknown`` (their in-flight places given back); returns how many."""
        ...

    def next_send(self, provider: str, key_id: str, interval_s: float) -> float:
        """Take the key's next submit time, ``interval_s`` after the one before;
        returns the seconds to wait for it."""
        ...

    def take_place(self, job_id: str, provider: str, key_id: str, cap: int) -> bool:
        """Take an in-flight place of the key for ``job_id`` if fewer than ``cap``
        of its tasks are in flight across every worker; True when held."""
        ...

    def reserve_cost(self, job_id: str, provider: str, usd: float | None, credits: float | None,
                     max_usd: float | None, max_credits: float | None) -> str | None:
        """Hold a submit's cost (USD, credits) against caps covering every worker of
        the campaign: why not, or None (held)."""
        ...

    def release_cost(self, job_id: str) -> None:
        """Give back a cost ``reserve_cost`` held."""
        ...
