"""A push that comes after its job ended ``unknown``: the task it names is adopted.

A job whose submit answer was lost waits up to the backstop for a push naming
its task (lifecycle.py ``_adopt``); past that it ends ``unknown``. A push that
comes later on the job's callback path (its token checked by the receiver,
run/callbacks.py) and names a task id is still the answer that was lost:

- it is recorded in the journal (table ``pushes``) while the job is
  ``unknown`` on that attempt, so the next run adopts it (``pushed_tasks``) if
  this one cannot;
- while the run is up, the job is carried again at once: the named task is
  polled with the job's key and, when found, the job is ``submitted`` with it
  and followed to its end (Lifecycle.carry with the ``unknown`` record and the
  named task id). Nothing is sent again.

A push for apiframe is checked against its signature with the job's key
(``apiframe_signature_ok``) when this run holds the key; a push whose task a
poll with the job's key does not find changes nothing.

A shared journal: every worker reads every push (``batch-runner receive``
records them); only the worker whose job ended ``unknown`` adopts it at once.
The next run's adoption (``pushed_tasks``) is not done there yet: a worker's
claim reads an ``unknown`` job as done.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable

from batch_runner.jobs.model import Job
from batch_runner.journal import JobRecord, JobStatus, Journal
from batch_runner.logs import event
from batch_runner.run.callbacks import SIGNED, apiframe_signature_ok
from batch_runner.run.lifecycle import Lifecycle
from batch_runner.run.push_body import task_named
from batch_runner.run.slot import Slot

__all__ = ["LateAdoption", "pushed_tasks"]

log = logging.getLogger("batch_runner")


def pushed_tasks(journal: Journal, records: dict[str, JobRecord]) -> dict[str, JobRecord]:
    """For each ``unknown`` job of ``records`` (job id -> record) whose current
    attempt has a push recorded in the journal that names a task id: its record
    with that task id (still ``unknown``: Lifecycle.carry polls it before it is
    adopted). The earliest such push counts."""
    unknown = {r.job_id: r for r in records.values() if r.status == JobStatus.UNKNOWN and r.task_id is None}
    if not unknown:
        return {}
    found: dict[str, JobRecord] = {}
    for push in journal.pushes(0.0):
        record = unknown.get(push.job_id)
        if record is None or push.job_id in found or push.attempt != record.submit_generation:
            continue
        task_id = task_named(push.body.encode())
        if task_id:
            found[push.job_id] = dataclasses.replace(record, task_id=task_id)
    return found


class LateAdoption:
    """The late pushes of a run (``push``, the receiver's ``on_late``) for jobs
    that ended ``unknown`` with a callback URL, in this run (``gave_up``) or an
    earlier one. ``slot_of(record)``: the run's slot of the key that made the
    job's task (None: that provider or key is not in this run). ``wait``
    returns once the adoptions started are over; later pushes are only recorded."""

    def __init__(self, lifecycle: Lifecycle, journal: Journal, slot_of: Callable[[JobRecord], Slot | None]):
        self.lifecycle, self.journal, self.slot_of = lifecycle, journal, slot_of
        self._gave_up: dict[str, tuple[Slot, Job]] = {}
        self._adopting: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.stopped = False

    def gave_up(self, slot: Slot, job: Job, generation: int) -> None:
        """``job`` ended ``unknown`` on ``slot`` (at attempt ``generation``): a late push may adopt it."""
        self._gave_up[job.job_id] = (slot, job)

    def push(self, job_id: str, attempt: int, task_id: str, body: bytes, signature: str | None) -> None:
        """A push on job ``job_id``'s verified path of ``attempt`` naming ``task_id``,
        for a job the receiver no longer watches: when the job is ``unknown`` on that
        attempt, recorded for the next run, and the job carried again now."""
        record = self.journal.get(job_id)
        if record is None or record.status != JobStatus.UNKNOWN or record.submit_generation != attempt \
                or job_id in self._adopting:
            return  # it ended otherwise, another attempt's, or being adopted: a late hint about nothing
        held = self._gave_up.get(job_id)
        # a shared journal: each worker reads every push; only the worker whose job it was adopts it now
        slot = held[0] if held else None if self.journal.shared else self.slot_of(record)
        if slot is not None and slot.name in SIGNED and not apiframe_signature_ok(
                body, signature, slot.settings.api_key.reveal()):
            return
        if not self.journal.shared:  # a shared journal's pushes are recorded by `batch-runner receive`
            self.journal.record_push(job_id, attempt, body.decode("utf-8", "replace"), signature)
        if slot is None or self.stopped:
            return  # the next run adopts it (pushed_tasks)
        job = held[1] if held else dataclasses.replace(Job.from_fields(record.job_fields()), provider=slot.name)
        self._adopting.add(job_id)
        event("callback_late", "job %s (row %s): a push after it ended unknown names task %s on %s: checking it",
              job.job_id, job.row, task_id, slot.name, job_id=job.job_id, provider=slot.name, task_id=task_id)
        task = asyncio.ensure_future(self._carry(slot, job, dataclasses.replace(record, task_id=task_id)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _carry(self, slot: Slot, job: Job, record: JobRecord) -> None:
        try:
            await slot.in_flight.acquire()  # carry gives it back
            await self.lifecycle.carry(slot, job, record)
        finally:
            self._adopting.discard(record.job_id)

    async def wait(self) -> None:
        """Wait for the adoptions started (and any they start); their errors are raised."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))
        self.stopped = True  # a push from now on is only recorded: the next run adopts it
