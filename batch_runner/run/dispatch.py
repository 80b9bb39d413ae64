"""Run jobs against their providers: which job starts when, across providers.

One asyncio loop, one Transport (aiohttp session), one Slot per provider
(slot.py: pacing, in-flight cap, circuit breaker). A coroutine exists per job
only while it holds an in-flight place, so memory stays flat however many jobs
there are; each one job's life is lifecycle.py's. ``prepare`` journals the
jobs and sorts them by what an earlier run left behind; the Runner then runs
that work until every job is final, or until it is asked to stop.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from batch_runner.catalog.settings import ProviderSettings
from batch_runner.errors import TRANSIENT_CODES
from batch_runner.jobs.expand import Job
from batch_runner.journal import JobRecord, JobStatus, Journal
from batch_runner.providers import ADAPTERS
from batch_runner.run.budget import Budget
from batch_runner.run.lifecycle import Lifecycle, OnFinish, OnSubmit, Sender
from batch_runner.run.slot import Slot

__all__ = ["RunOptions", "Runner", "Work", "prepare"]


@dataclass(frozen=True)
class RunOptions:
    """What a run does with jobs an earlier run left behind, and its timings.

    ``retry_failed``: submit again the jobs that ended failed of a failure a new
    try may mend (errors.TRANSIENT_CODES); with ``retry_all_failed`` every failed job.
    ``resubmit_unknown``: submit again jobs whose submit answer was lost.
    ``checkpoint_every_s``: seconds between two calls of the checkpoint hook.
    """

    retry_failed: bool = False
    retry_all_failed: bool = False
    resubmit_unknown: bool = False
    checkpoint_every_s: float = 30.0


class Work(NamedTuple):
    """A run's jobs by journal state: ``resume`` (job, its record with the
    task id to poll again), ``fresh`` (to submit), ``done`` (already final,
    nothing to do); ``orphans``: the jobs of ``resume`` whose row is no longer
    in the manifest (edited or removed after their task was paid: followed to
    their end, never submitted)."""

    resume: list[tuple[Job, JobRecord]]
    fresh: list[Job]
    done: list[Job]
    orphans: list[Job]


def prepare(journal: Journal, jobs: list[Job], settings: dict[str, ProviderSettings],
            options: RunOptions) -> Work:
    """Journal ``jobs`` (an earlier run's ``submitting`` become ``unknown``,
    new jobs ``pending``) and sort them by their journal state into Work; the
    journal's tasks in flight of jobs no longer in ``jobs`` are resumed too."""
    journal.recover_unknown()
    journal.add_jobs(jobs)
    work = Work([], [], [], [])
    known = journal.snapshot()
    for job in jobs:
        record = known.get(job.job_id)
        status = record.status if record else JobStatus.PENDING
        provider = (record.provider if record else "") or job.provider
        if record is not None and record.resumable:
            work.resume.append((dataclasses.replace(job, provider=provider), record))
        elif status in (JobStatus.PENDING, JobStatus.SKIPPED_BUDGET) or (
                status == JobStatus.FAILED and options.retry_failed and (
                    options.retry_all_failed or (record is not None and record.error_code in TRANSIENT_CODES))):
            work.fresh.append(job)
        elif status == JobStatus.UNKNOWN and (options.resubmit_unknown or settings[provider].info.idempotency_key):
            work.fresh.append(dataclasses.replace(job, provider=provider))
        else:
            work.done.append(job)
    ids = {job.job_id for job in jobs}
    for record in known.values():  # rows edited or removed since their task was paid
        if record.job_id not in ids and record.resumable and record.provider in settings:
            orphan = dataclasses.replace(Job.from_fields(record.job_fields()), provider=record.provider)
            work.resume.append((orphan, record))
            work.orphans.append(orphan)
    return work


class Runner:
    """Runs ``work`` (from ``prepare``) to a final state, recording everything
    in ``journal``, sending through ``transport``.

    ``settings``: per-provider settings; ``on_finish(job, record)``: called as each job ends (progress);
    ``on_submit(job, task_id)``: called as each task id is recorded (progress);
    ``checkpoint()``: called every ``options.checkpoint_every_s`` seconds during
    the run (the caller writes the final results); ``budget``: the caps.
    """

    def __init__(
        self,
        work: Work,
        settings: dict[str, ProviderSettings],
        journal: Journal,
        transport: Sender,
        *,
        options: RunOptions | None = None,
        on_finish: OnFinish | None = None,
        checkpoint: Callable[[], None] | None = None,
        budget: Budget | None = None,
        on_submit: OnSubmit | None = None,
    ):
        self.work = work
        self.settings = settings
        self.options = options or RunOptions()
        self.checkpoint = checkpoint or (lambda: None)
        self.stopping = False
        self.slots: dict[str, Slot] = {}
        self.lifecycle = Lifecycle(
            journal, transport, budget or Budget(), self._slot,
            on_finish=on_finish or (lambda job, record: None), stopping=lambda: self.stopping, on_submit=on_submit,
        )

    def request_stop(self) -> None:
        """Stop submitting; tasks in flight are still polled to the end."""
        self.stopping = True

    async def run(self) -> None:
        """Run every job of the work; returns when all are final (or, after
        request_stop, when the tasks in flight are)."""
        queues: dict[str, list[tuple[Job, JobRecord | None]]] = {}
        for job, record in self.work.resume:
            queues.setdefault(job.provider, []).append((job, record))
        for job in self.work.fresh:
            queues.setdefault(job.provider, []).append((job, None))
        ticker = asyncio.create_task(self._tick())
        try:
            await asyncio.gather(*(self._dispatch(self._slot(n), work) for n, work in queues.items()))
        finally:
            ticker.cancel()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.options.checkpoint_every_s)
            self.checkpoint()

    def _slot(self, name: str) -> Slot:
        """The Slot of provider ``name``, made on first use."""
        if name not in self.slots:
            s = self.settings[name]
            self.slots[name] = Slot.create(s, ADAPTERS[name](s.base_url, s.api_key))
        return self.slots[name]

    async def _dispatch(self, slot: Slot, work: list[tuple[Job, JobRecord | None]]) -> None:
        """Start each job of one provider as an in-flight place frees up
        (a job to resume carries its record)."""
        tasks: set[asyncio.Task[None]] = set()
        try:
            for job, record in work:
                if self.stopping and record is None:
                    break
                await slot.in_flight.acquire()
                if self.stopping and record is None:
                    slot.in_flight.release()
                    break
                task = asyncio.create_task(self.lifecycle.carry(slot, job, record))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            while tasks:
                await asyncio.gather(*list(tasks))
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            raise
