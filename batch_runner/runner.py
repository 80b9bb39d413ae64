"""Run jobs against their providers: pace submits, cap tasks in flight, poll to the end.

One asyncio loop, one Transport (aiohttp session). Each provider has a Slot
(shared/STYLE.md, Scrapy's per-domain slot): an ``aiolimiter.AsyncLimiter(1,
60 / rpm)`` that paces submits evenly, and a semaphore of ``max_in_flight``
held from submit until the task's last poll. A coroutine exists per job only
while its task is in flight, so memory stays flat however many jobs there are.

Every state change goes to the journal first: a submit's intent before it is
sent, its task id before anything else is done with it. The runner never reads
a provider's JSON (adapters do), and a failed job never stops the others.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiolimiter import AsyncLimiter

from . import journal as J
from .errors import ProviderError
from .jobs import Job
from .journal import Journal
from .media import to_wire
from .providers import ADAPTERS, Adapter, TaskState
from .retry import is_submit_retryable, submit_retrying, surely_not_accepted
from .secrets import redact
from .settings import ProviderSettings
from .transport import Transport

__all__ = ["Runner", "RunOptions"]

MAX_FOLLOW_UPS = 3


@dataclass
class RunOptions:
    """What a run does with jobs an earlier run left behind, and its timings.

    ``retry_failed``: submit again the jobs that ended failed.
    ``resubmit_unknown``: submit again jobs whose submit answer was lost.
    ``checkpoint_every_s``: seconds between two calls of the checkpoint hook.
    ``retry_base_s``: first backoff step of submit retries (seconds).
    """

    retry_failed: bool = False
    resubmit_unknown: bool = False
    checkpoint_every_s: float = 30.0
    retry_base_s: float = 1.0


@dataclass
class Slot:
    """One provider's pacing: submits per minute and tasks in flight."""

    settings: ProviderSettings
    limiter: AsyncLimiter
    in_flight: asyncio.Semaphore
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class Runner:
    """Runs ``jobs`` to a final state, recording everything in ``journal``.

    ``settings``: per-provider settings; ``base_dir``: where relative image paths
    are resolved; ``on_finish(job, record)``: called as each job ends (progress);
    ``checkpoint()``: called every ``checkpoint_every_s`` (results file).
    """

    def __init__(
        self,
        jobs: list[Job],
        settings: dict[str, ProviderSettings],
        journal: Journal,
        transport: Transport,
        *,
        base_dir: Path = Path("."),
        options: RunOptions | None = None,
        on_finish: Callable[[Job, dict[str, Any]], None] | None = None,
        checkpoint: Callable[[], None] | None = None,
    ):
        self.jobs = jobs
        self.settings = settings
        self.journal = journal
        self.transport = transport
        self.base_dir = base_dir
        self.options = options or RunOptions()
        self.on_finish = on_finish or (lambda job, rec: None)
        self.checkpoint = checkpoint or (lambda: None)
        self.stopping = False
        self._prepared = False
        self.adapters: dict[str, Adapter] = {}

    # -- control ---------------------------------------------------------------
    def request_stop(self) -> None:
        """Stop submitting; tasks in flight are still polled to the end."""
        self.stopping = True

    def plan(self) -> tuple[list[tuple[Job, str]], list[Job], list[Job]]:
        """Split jobs by journal state: (to resume polling, with task id), (to
        submit), (already final, nothing to do)."""
        resume, fresh, done = [], [], []
        for job in self.jobs:
            rec = self.journal.get(job.job_id) or {}
            status = rec.get("status", J.PENDING)
            task_id = rec.get("task_id")
            idempotent = self.settings[job.provider].info.idempotency_key
            if status == J.SUBMITTED or (
                status == J.FAILED and rec.get("error_code") == "timeout" and task_id
            ):
                resume.append((job, task_id))
            elif status == J.PENDING:
                fresh.append(job)
            elif status == J.FAILED and self.options.retry_failed:
                fresh.append(job)
            elif status == J.UNKNOWN and (self.options.resubmit_unknown or idempotent):
                fresh.append(job)
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
        by_provider: dict[str, tuple[list[tuple[Job, str]], list[Job]]] = {}
        for job, task_id in resume:
            by_provider.setdefault(job.provider, ([], []))[0].append((job, task_id))
        for job in fresh:
            by_provider.setdefault(job.provider, ([], []))[1].append(job)
        ticker = asyncio.create_task(self._tick())
        try:
            await asyncio.gather(
                *(self._provider(name, r, f) for name, (r, f) in by_provider.items())
            )
        finally:
            ticker.cancel()
            self.checkpoint()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.options.checkpoint_every_s)
            self.checkpoint()

    def _slot(self, name: str) -> Slot:
        s = self.settings[name]
        if name not in self.adapters:
            self.adapters[name] = ADAPTERS[name](s.base_url, s.api_key)
        return Slot(s, AsyncLimiter(1, 60.0 / s.rpm), asyncio.Semaphore(s.max_in_flight))

    async def _provider(self, name: str, resume: list[tuple[Job, str]], fresh: list[Job]) -> None:
        slot = self._slot(name)
        work: list[tuple[Job, str | None]] = [*resume, *((j, None) for j in fresh)]
        try:
            for job, task_id in work:
                if self.stopping and task_id is None:
                    break
                await slot.in_flight.acquire()
                if self.stopping and task_id is None:
                    slot.in_flight.release()
                    break
                task = asyncio.create_task(self._job(slot, job, task_id))
                slot.tasks.add(task)
                task.add_done_callback(slot.tasks.discard)
            if slot.tasks:
                await asyncio.gather(*list(slot.tasks))
        except asyncio.CancelledError:
            for task in slot.tasks:
                task.cancel()
            raise

    # -- one job ---------------------------------------------------------------
    async def _job(self, slot: Slot, job: Job, task_id: str | None) -> None:
        try:
            if task_id is None:
                task_id = await self._submit(slot, job)
                if task_id is None:
                    return
            await self._follow(slot, job, task_id)
        except ProviderError as exc:
            self._finish(job, J.FAILED, exc.error_code, exc.provider_code, str(exc.provider_message))
        except (OSError, ValueError) as exc:  # a local image that cannot be read
            self._finish(job, J.FAILED, "invalid_request", "", str(exc))
        finally:
            slot.in_flight.release()

    async def _submit(self, slot: Slot, job: Job) -> str | None:
        """Send the submit (retried only when surely not accepted); return the
        task id, journaled, or None when the job ended (failed / unknown)."""
        s = slot.settings
        adapter = self.adapters[job.provider]
        wired = dataclasses.replace(
            job,
            image=to_wire(job.image, self.base_dir) if job.image else None,
            end_image=to_wire(job.end_image, self.base_dir) if job.end_image else None,
        )
        request = adapter.build_submit(wired)
        idempotent = s.info.idempotency_key
        try:
            async for attempt in submit_retrying(
                s.max_attempts, idempotent=idempotent, base_s=self.options.retry_base_s
            ):
                with attempt:
                    await slot.limiter.acquire()
                    self.journal.mark_submitting(job.job_id, job.provider)
                    resp = await self.transport.send(job.provider, request, s.timeout_s)
                    task_id = adapter.parse_submit(resp)
        except ProviderError as exc:
            lost = not surely_not_accepted(exc) and not (idempotent and is_submit_retryable(exc, True))
            status = J.UNKNOWN if lost else J.FAILED
            code = "unknown" if lost else exc.error_code
            message = str(exc.provider_message)
            if lost:
                message = f"possibly submitted, answer lost ({exc.error_code}: {message})"
            self._finish(job, status, code, exc.provider_code, message)
            return None
        self.journal.mark_submitted(job.job_id, task_id, time.time())
        return task_id

    async def _follow(self, slot: Slot, job: Job, task_id: str) -> None:
        """Poll ``task_id`` until it finishes or its deadline passes."""
        s = slot.settings
        rec = self.journal.get(job.job_id) or {}
        deadline = (rec.get("submitted_at") or time.time()) + s.task_timeout_s
        adapter = self.adapters[job.provider]
        failures = 0
        while True:
            await asyncio.sleep(s.poll_interval_s)
            if time.time() > deadline:
                self._finish(job, J.FAILED, "timeout", "", f"task not finished after {s.task_timeout_s:g} s (task id kept: a later run polls it again)")
                return
            try:
                state = await self._poll_once(adapter, s, task_id)
            except ProviderError as exc:
                failures = 0 if exc.retryable else failures + 1
                if failures >= s.max_attempts:
                    raise
                continue
            failures = 0
            if state.finished:
                self._record_state(job, state)
                return

    async def _poll_once(self, adapter: Adapter, s: ProviderSettings, task_id: str) -> TaskState:
        state = adapter.parse_poll(await self.transport.send(adapter.name, adapter.build_poll(task_id), s.timeout_s))
        hops = 0
        while state.follow_up is not None and hops < MAX_FOLLOW_UPS:
            hops += 1
            resp = await self.transport.send(adapter.name, state.follow_up, s.timeout_s)
            state = adapter.parse_poll(resp)
        return state

    def _record_state(self, job: Job, state: TaskState) -> None:
        if state.status != "succeeded":
            self._finish(job, J.FAILED, state.error_code or "task_failed", state.provider_code, state.message)
            return
        s = self.settings[job.provider]
        price = s.info.price(job.model, job.resolution, job.duration)
        credits = price if s.info.price_unit == "credits" else None
        self.journal.update(
            job.job_id,
            status=J.SUCCEEDED,
            finished_at=time.time(),
            video_url=state.video_url,
            url_expires_at=state.url_expires_at,
            cost_credits=credits,
            cost_usd=s.cost_usd(price),
            error_code=None,
            provider_code=None,
            error_message=None,
        )
        self.on_finish(job, self.journal.get(job.job_id) or {})

    def _finish(self, job: Job, status: str, code: str, provider_code: str, message: str) -> None:
        self.journal.update(
            job.job_id,
            status=status,
            finished_at=time.time(),
            error_code=code,
            provider_code=provider_code or None,
            error_message=redact(message)[:1000],
        )
        self.on_finish(job, self.journal.get(job.job_id) or {})
