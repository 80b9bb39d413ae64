"""Cancelling a task still queued at its provider, where the provider documents it.

Only a provider whose data/providers.yaml entry says ``cancel: true`` can:
today MiniMax V2 (``minimax_v2``), whose ``DELETE /v2/video_generation/{task_id}``
cancels a queued task, then not billed (SEEN,
https://platform.minimax.io/docs/api-reference/video-generation-v2-delete).
The task is polled first: a finished task is never sent the cancel (MiniMax
would delete its record, and its video with it); a queued or running one is,
and the provider decides (a running task is refused: its answer is kept).
Used by ``batch-runner cancel`` (commands/cancel.py) and by ``run
--cancel-replaced`` (``cancel_replaced``: the tasks of edited rows).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from batch_runner.catalog.facts import catalog
from batch_runner.errors import ProviderError, TransportError
from batch_runner.journal import JobRecord, JobStatus, Journal
from batch_runner.keys import Secret, pool_from_env
from batch_runner.providers.minimax_v2 import MinimaxV2Adapter
from batch_runner.providers.registry import ADAPTERS
from batch_runner.run.dispatch import Work
from batch_runner.transport import Transport

__all__ = ["CANNOT_CANCEL", "CancelOutcome", "cancel_records", "cancel_replaced", "record_cancelled"]

log = logging.getLogger("batch_runner")

#: what a job on a provider without a documented cancel gets
CANNOT_CANCEL = "this provider cannot cancel a task"


@dataclass(frozen=True)
class CancelOutcome:
    """One chosen job: ``job_id``, ``row``, ``provider``, ``task_id``; ``cancelled``
    whether its task is now cancelled; ``said`` what happened, in one line (the
    provider's own answer for a refusal)."""

    job_id: str
    row: int
    provider: str
    task_id: str
    cancelled: bool
    said: str


def _secret(provider: str, key_id: str | None, environ: Mapping[str, str]) -> Secret:
    """The key that made the task (its ``key_id``), else the provider's first key."""
    pool = pool_from_env(catalog()[provider].key_env, environ)
    for key in pool:
        if key.key_id == key_id:
            return key.secret
    return pool[0].secret if pool else Secret("")


async def cancel_one(transport: Transport, record: JobRecord, environ: Mapping[str, str]) -> CancelOutcome:
    info = catalog()[record.provider]
    task_id = str(record.task_id)
    row = int(record.job_fields().get("row") or 0)

    def out(cancelled: bool, said: str) -> CancelOutcome:
        return CancelOutcome(record.job_id, row, record.provider, task_id, cancelled, said)

    if not info.can_cancel:
        return out(False, CANNOT_CANCEL)
    adapter = ADAPTERS[record.provider](environ.get(info.base_url_env) or None,
                                        _secret(record.provider, record.key_id, environ))
    assert isinstance(adapter, MinimaxV2Adapter)  # the one protocol with a cancel
    timeout = float(info.limits.get("timeout_s", 30))
    try:
        state = adapter.read_poll(await transport.send(record.provider, adapter.build_poll(task_id), timeout))
        if state.finished:  # a cancel of a finished task deletes it, and its video: never sent
            return out(False, f"not cancelled: the task has already {state.status}")
        answer = adapter.parse_cancel(
            await transport.send(record.provider, adapter.build_cancel(task_id), timeout))
    except (ProviderError, TransportError) as exc:
        return out(False, f"not cancelled: {exc}")
    if not answer.cancelled:
        return out(False, f"not cancelled: {record.provider} answered: {answer.message}")
    return out(True, "cancelled while queued (not billed)")


async def cancel_records(transport: Transport, records: list[JobRecord],
                         environ: Mapping[str, str]) -> list[CancelOutcome]:
    """Try to cancel the task of each record (``cancel_one``), all at once."""
    return list(await asyncio.gather(*(cancel_one(transport, r, environ) for r in records)))


def record_cancelled(journal: Journal, outcomes: list[CancelOutcome], why: str) -> None:
    """Record each cancelled outcome's job as ``cancelled`` in ``journal`` (no cost)."""
    for outcome in outcomes:
        if outcome.cancelled:
            journal.finish(outcome.job_id, JobStatus.CANCELLED, error_code="cancelled",
                           error_message=f"cancelled while queued ({why}): not billed")


async def cancel_replaced(journal: Journal, work: Work, environ: Mapping[str, str]) -> Work:
    """``run --cancel-replaced``: cancel the queued tasks of edited or removed rows
    (``work.orphans``) on a provider that can cancel, instead of paying them to
    the end; returns ``work`` without the cancelled ones. The others (running,
    or on a provider that cannot cancel) are polled to their end as before."""
    records = {r.job_id: r for _, r in work.resume}
    chosen = [records[o.job_id] for o in work.orphans
              if o.job_id in records and catalog()[records[o.job_id].provider].can_cancel]
    if not chosen:
        return work
    async with Transport.open() as transport:
        outcomes = await cancel_records(transport, chosen, environ)
    record_cancelled(journal, outcomes, "its row was edited: run --cancel-replaced")
    gone = {o.job_id for o in outcomes if o.cancelled}
    for o in outcomes:
        log.warning("row %s (edited or removed): task %s on %s %s", o.row, o.task_id, o.provider,
                    "cancelled while queued, not billed" if o.cancelled else o.said)
    return work._replace(
        resume=[(j, r) for j, r in work.resume if j.job_id not in gone],
        orphans=[j for j in work.orphans if j.job_id not in gone]) if gone else work
