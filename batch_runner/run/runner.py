"""Run jobs against their providers: pace submits, cap tasks in flight, poll to the end.

One asyncio loop, one Transport (aiohttp session), one Slot per provider
(slot.py: pacing, in-flight cap, circuit breaker). A coroutine exists per job
only while it holds an in-flight place, so memory stays flat however many jobs
there are.

Every state change goes to the journal first: a submit's intent before it is
sent, its task id before anything else is done with it. A submit is retried
only when the provider surely did not take it (retry.py). When a job's
provider is unavailable (breaker open, submit retries exhausted without a
task), the job moves to its next fallback provider; a content-policy refusal
does not (taxonomy.NO_FAILOVER_CODES). The runner never reads a provider's
JSON (adapters do), and a failed job never stops the others.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batch_runner import journal as J
from batch_runner.catalog.prices import video_cost
from batch_runner.catalog.settings import ProviderSettings
from batch_runner.errors import ProviderError
from batch_runner.jobs.encode import encode_images
from batch_runner.jobs.model import Job
from batch_runner.journal import Journal
from batch_runner.keys import redact
from batch_runner.logs import event, retry_event, retry_logger
from batch_runner.providers import ADAPTERS, PollResult
from batch_runner.providers.taxonomy import NO_FAILOVER_CODES
from batch_runner.run.budget import Budget
from batch_runner.run.polling import poll_delays
from batch_runner.run.retry import (
    first_wait,
    is_submit_retryable,
    submit_retrying,
    surely_not_accepted,
)
from batch_runner.run.slot import Slot
from batch_runner.transport import Transport

__all__ = ["Runner", "RunOptions"]

MAX_FOLLOW_UPS = 3


@dataclass
class RunOptions:
    """What a run does with jobs an earlier run left behind, and its timings.

    ``retry_failed``: submit again the jobs that ended failed.
    ``resubmit_unknown``: submit again jobs whose submit answer was lost.
    ``checkpoint_every_s``: seconds between two calls of the checkpoint hook.
    ``allow_outside_paths``: image paths may leave the manifest's folder.
    """

    retry_failed: bool = False
    resubmit_unknown: bool = False
    checkpoint_every_s: float = 30.0
    allow_outside_paths: bool = False


class _Stopped(Exception):
    """Internal: the run is stopping; this job's submit was not sent."""


class _Moved(Exception):
    """Internal: the job could not be submitted on this provider; try the next."""

    def __init__(self, error: ProviderError):
        self.error = error


class Runner:
    """Runs ``jobs`` to a final state, recording everything in ``journal``.

    ``settings``: per-provider settings; ``base_dir``: where relative image paths
    are resolved; ``on_finish(job, record)``: called as each job ends (progress);
    ``on_submit(job, task_id)``: called as each task id is recorded (progress);
    ``checkpoint()``: called every ``checkpoint_every_s`` during the run (the
    caller writes the final results).
    """

    def __init__(
        self,
        jobs: list[Job],
        settings: dict[str, ProviderSettings],
        journal: Journal,
        transport: Transport | None,
        *,
        base_dir: Path = Path("."),
        options: RunOptions | None = None,
        on_finish: Callable[[Job, dict[str, Any]], None] | None = None,
        checkpoint: Callable[[], None] | None = None,
        budget: Budget | None = None,
        on_submit: Callable[[Job, str], None] | None = None,
    ):
        self.jobs = jobs
        self.settings = settings
        self.journal = journal
        self.transport = transport
        self.base_dir = base_dir
        self.options = options or RunOptions()
        self.on_finish = on_finish or (lambda job, rec: None)
        self.on_submit = on_submit or (lambda job, task_id: None)
        self._submitted_at: dict[str, float] = {}  # job_id -> unix time its task id was recorded
        self.checkpoint = checkpoint or (lambda: None)
        self.budget = budget or Budget()
        self.stopping = False
        self._prepared = False
        self.slots: dict[str, Slot] = {}

    # -- control ---------------------------------------------------------------
    def request_stop(self) -> None:
        """Stop submitting; tasks in flight are still polled to the end."""
        self.stopping = True

    def plan(self) -> tuple[list[tuple[Job, str]], list[Job], list[Job]]:
        """Split jobs by journal state: (to resume polling, with task id), (to
        submit), (already final, nothing to do)."""
        resume, fresh, done = [], [], []
        known = self.journal.snapshot()
        for job in self.jobs:
            rec = known.get(job.job_id) or {}
            status = rec.get("status", J.PENDING)
            task_id = rec.get("task_id")
            provider = rec.get("provider") or job.provider
            idempotent = self.settings[provider].info.idempotency_key
            if status == J.SUBMITTED or (
                status == J.FAILED and rec.get("error_code") == "timeout" and task_id
            ):
                resume.append((dataclasses.replace(job, provider=provider), task_id))
            elif status in (J.PENDING, J.SKIPPED_BUDGET):
                fresh.append(job)
            elif status == J.FAILED and self.options.retry_failed:
                fresh.append(job)
            elif status == J.UNKNOWN and (self.options.resubmit_unknown or idempotent):
                fresh.append(dataclasses.replace(job, provider=provider))
            else:
                done.append(job)
        return resume, fresh, done

    def prepare(self) -> tuple[list[tuple[Job, str]], list[Job], list[Job]]:
        """Journal the jobs (an earlier run's ``submitting`` become ``unknown``)
        and return ``plan()``. Done once; run() calls it if needed."""
        if not self._prepared:
            self.journal.recover_unknown()
            self.journal.add_jobs(self.jobs)
            self._prepared = True
        return self.plan()

    async def run(self) -> None:
        """Run every job that still needs work; returns when all are final (or,
        after request_stop, when the tasks in flight are)."""
        resume, fresh, _ = self.prepare()
        queues: dict[str, list[tuple[Job, str | None]]] = {}
        for job, task_id in resume:
            queues.setdefault(job.provider, []).append((job, task_id))
        for job in fresh:
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
        if name not in self.slots:
            s = self.settings[name]
            self.slots[name] = Slot.create(s, ADAPTERS[name](s.base_url, s.api_key))
        return self.slots[name]

    async def _dispatch(self, slot: Slot, work: list[tuple[Job, str | None]]) -> None:
        """Start each job of one provider as an in-flight place frees up."""
        tasks: set[asyncio.Task[None]] = set()
        try:
            for job, task_id in work:
                if self.stopping and task_id is None:
                    break
                await slot.in_flight.acquire()
                if self.stopping and task_id is None:
                    slot.in_flight.release()
                    break
                task = asyncio.create_task(self._job(slot, job, task_id))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            while tasks:
                await asyncio.gather(*list(tasks))
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            raise

    # -- one job ---------------------------------------------------------------
    async def _job(self, slot: Slot, job: Job, task_id: str | None) -> None:
        """Submit (with failover) and poll one job; ``slot.in_flight`` is held
        on entry and released (for the slot the job ended on) on exit."""
        try:
            if task_id is None:
                slot, task_id = await self._submit_anywhere(slot, job)
                if task_id is None:
                    return
            await self._follow(slot, _on(job, slot.name), task_id)
        except ProviderError as exc:
            self._finish(job, J.FAILED, exc.error_code, exc.provider_code, str(exc.provider_message))
        except (OSError, ValueError) as exc:  # a local image that cannot be read
            self.budget.settle(job.job_id, paid=False)  # read before the submit: nothing was sent
            self._finish(job, J.FAILED, "invalid_request", "", str(exc))
        finally:
            slot.in_flight.release()

    async def _submit_anywhere(self, slot: Slot, job: Job) -> tuple[Slot, str | None]:
        """Submit on the job's provider, else on its fallbacks in order.
        Returns the slot it ended on and the task id (None: the job ended)."""
        tried: list[str] = []
        names = list(dict.fromkeys(job.providers))
        start = names.index(slot.name) if slot.name in names else 0
        last: ProviderError | None = None
        for i, name in enumerate(names[start:]):
            if i > 0:
                if self.stopping:
                    self._finish(job, J.PENDING, "", "", "")
                    return slot, None
                slot.in_flight.release()
                slot = self._slot(name)
                await slot.in_flight.acquire()
            tried.append(name)
            try:
                return slot, await self._submit(slot, _on(job, name), "|".join(tried))
            except _Moved as moved:
                last = moved.error
            except _Stopped:  # not sent: the next run submits it
                self.budget.settle(job.job_id, paid=False)
                if (self.journal.get(job.job_id) or {}).get("status") == J.SUBMITTING:
                    self._finish(job, J.PENDING, "", "", "")  # its earlier tries were refused
                return slot, None
        assert last is not None
        self._finish(job, J.FAILED, last.error_code, last.provider_code, str(last.provider_message))
        return slot, None

    async def _submit(self, slot: Slot, job: Job, tried: str) -> str | None:
        """Send one submit (retried only when surely not accepted); return the
        journaled task id, or None when the job ended (failed / unknown).
        Raises _Moved when another provider may take the job."""
        if slot.breaker is not None:
            raise _Moved(slot.breaker)
        s = slot.settings
        if self.budget.active:
            refused = self.budget.reserve(job.job_id, slot.name, video_cost(s, job.model, job.resolution, job.duration))
            if refused:
                self._finish(job, J.SKIPPED_BUDGET, "budget", "", refused)
                return None
        request = slot.adapter.build_submit(encode_images(job))
        idempotent = s.info.idempotency_key
        try:
            try:  # the first try directly; tenacity takes over only for retries
                task_id = await self._send_submit(slot, job, request, tried)
            except ProviderError as first:
                if s.max_attempts < 2 or not is_submit_retryable(first, idempotent):
                    raise
                wait = first_wait(first, s.backoff_base_s)
                retry_event(job.job_id, f"submit to {slot.name}", 1, wait, first)
                await asyncio.sleep(wait)
                async for attempt in submit_retrying(
                    s.max_attempts - 1, idempotent=idempotent, base_s=s.backoff_base_s, max_total_s=s.retry_total_s,
                    before_sleep=retry_logger(job.job_id, f"submit to {slot.name}", tries_before=1),
                ):
                    with attempt:
                        task_id = await self._send_submit(slot, job, request, tried)
        except ProviderError as exc:
            # possibly paid: the reservation stays committed, and no fallback takes the
            # job (it could run on both); an idempotent provider's unknown job is sent
            # again, with the same key, by the next run
            if not surely_not_accepted(exc):
                self._finish(job, J.UNKNOWN, "unknown", exc.provider_code,
                             f"possibly submitted, answer lost ({exc.error_code}: {exc.provider_message})")
                return None
            self.budget.settle(job.job_id, paid=False)
            if exc.error_code in NO_FAILOVER_CODES:
                self._finish(job, J.FAILED, exc.error_code, exc.provider_code, str(exc.provider_message))
                return None
            raise _Moved(exc) from exc
        submitted_at = time.time()
        await self.journal.mark_submitted(job.job_id, task_id, submitted_at)
        self._submitted_at[job.job_id] = submitted_at  # for _follow, without reading it back
        event("job_submitted", "job %s (row %s) submitted to %s: task %s", job.job_id, job.row, slot.name, task_id,
              job_id=job.job_id, row=job.row, job_name=job.name or None, variant=job.variant,
              provider=slot.name, task_id=task_id)
        self.on_submit(job, task_id)
        return task_id

    async def _send_submit(self, slot: Slot, job: Job, request: Any, tried: str) -> str:
        """One submit request, paced; until the provider has accepted one, one
        at a time (so a bad key costs one request)."""
        if slot.breaker is not None:
            raise slot.breaker
        async with _maybe(slot.probe, not slot.verified):
            if slot.breaker is not None:
                raise slot.breaker
            await slot.pacer.acquire()
            if self.stopping:  # stopped while waiting for the submit slot: send nothing
                raise _Stopped
            await self.journal.mark_submitting(job.job_id, slot.name, tried)
            try:
                resp = await self.transport.send(slot.name, request, slot.settings.timeout_s)
                task_id = slot.adapter.read_submit(resp)
            except ProviderError as exc:
                slot.observe(exc)
                raise
            slot.verified = True
            return task_id

    async def _follow(self, slot: Slot, job: Job, task_id: str) -> None:
        """Poll ``task_id`` until it finishes or its deadline passes. A failed
        poll is retried and never fails the job before the deadline; a
        permanent poll error fails it after ``max_attempts`` in a row."""
        s = slot.settings
        submitted = self._submitted_at.pop(job.job_id, None)
        if submitted is None:  # a task from an earlier run
            submitted = (self.journal.get(job.job_id) or {}).get("submitted_at") or time.time()
        deadline = submitted + s.task_timeout_s
        failures, delays = 0, poll_delays(s.poll_interval_s, s.typical_generation_s)
        due = submitted + next(delays)  # the schedule counts from the submit, also on resume
        while True:
            # the last poll is at the deadline; a task resumed past its deadline
            # (a later run) is polled once before it counts as timed out
            await asyncio.sleep(max(0.0, min(due, deadline) - time.time()))
            due = max(due, time.time()) + next(delays)
            try:
                state = await self._poll_once(slot, task_id)
            except ProviderError as exc:
                failures = 0 if exc.retryable else failures + 1
                if failures >= s.max_attempts:
                    raise
                if time.time() >= deadline:
                    break
                due = max(due, time.time() + min(exc.retry_after or 0.0, s.task_timeout_s))
                continue
            failures = 0
            if state.finished:
                self._record_state(job, state)
                return
            if time.time() >= deadline:
                break
        self._finish(job, J.FAILED, "timeout", "",
                     f"task not finished after {s.task_timeout_s:g} s (task id kept: a later run polls it again)")

    async def _poll_once(self, slot: Slot, task_id: str) -> PollResult:
        adapter, timeout = slot.adapter, slot.settings.timeout_s
        state = adapter.read_poll(await self.transport.send(slot.name, adapter.build_poll(task_id), timeout))
        hops = 0
        while state.follow_up is not None and hops < MAX_FOLLOW_UPS:
            hops += 1
            state = adapter.read_poll(await self.transport.send(slot.name, state.follow_up, timeout))
        return state

    def _record_state(self, job: Job, state: PollResult) -> None:
        s = self.settings[job.provider]
        cost = video_cost(s, job.model, job.resolution, job.duration)
        if state.status != "succeeded":
            charged = s.info.charges_failed  # data/providers.yaml: whether a failed task is billed
            self.budget.settle(job.job_id, paid=charged)
            if charged:
                self.journal.update(job.job_id, cost_credits=cost.credits, cost_usd=cost.usd)
            self._finish(job, J.FAILED, state.error_code or "task_failed", state.provider_code, state.message)
            return
        self.budget.settle(job.job_id, paid=True)
        self.journal.update(
            job.job_id,
            status=J.SUCCEEDED,
            finished_at=time.time(),
            video_url=state.video_url,
            url_expires_at=state.url_expires_at,
            cost_credits=cost.credits,
            cost_usd=cost.usd,
            error_code=None,
            provider_code=None,
            error_message=None,
        )
        self.on_finish(job, self.journal.get(job.job_id) or {})

    def _finish(self, job: Job, status: str, code: str, provider_code: str, message: str) -> None:
        self.journal.update(
            job.job_id,
            status=status,
            finished_at=time.time() if status != J.PENDING else None,
            error_code=code or None,
            provider_code=provider_code or None,
            error_message=redact(message)[:1000] or None,
        )
        if status != J.PENDING:
            self.on_finish(job, self.journal.get(job.job_id) or {})


def _on(job: Job, provider: str) -> Job:
    """``job`` as run on ``provider`` (the same object when it already is)."""
    return job if job.provider == provider else dataclasses.replace(job, provider=provider)


class _maybe:
    """``async with _maybe(lock, cond)``: hold ``lock`` only when ``cond``."""

    def __init__(self, lock: asyncio.Lock, cond: bool):
        self.lock, self.cond = lock, cond

    async def __aenter__(self) -> None:
        if self.cond:
            await self.lock.acquire()

    async def __aexit__(self, *exc: object) -> None:
        if self.cond:
            self.lock.release()
