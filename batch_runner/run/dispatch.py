"""Run jobs against their providers: which job starts when, across providers.

One asyncio loop, one Transport (aiohttp session), one KeyPool per provider
(keypool.py) with one Slot per key of its pool (slot.py: pacing, in-flight
cap, circuit breaker); a new job goes to the key with the most spare
capacity, a task in flight is polled with the key that made it (a task whose
key is no longer configured is left in the journal, resumable, and listed in
``missing_keys``). A coroutine exists per job
only while it holds an in-flight place, so memory stays flat however many jobs
there are; each one job's life is lifecycle.py's. ``prepare`` journals the
jobs and sorts them by what an earlier run left behind; the Runner then runs
that work until every job is final, or until it is asked to stop.

With ``RunOptions.canary``, a provider no job has succeeded on in this journal
gets one new job first, alone (the canary, canary.py); its other new jobs are
released once that job's video is seen to be a video, or stay pending (or go to
their fallback provider) when the canary fails for a reason of the protocol or
the account. Other providers run meanwhile.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urlsplit

from batch_runner.catalog.settings import ProviderSettings
from batch_runner.errors import TRANSIENT_CODES, ProviderError
from batch_runner.jobs.model import Job
from batch_runner.journal import FINAL_STATUSES, JobRecord, JobStatus, Journal, JournalError
from batch_runner.journal.coordination import Coordination
from batch_runner.keys import redact
from batch_runner.logs import event
from batch_runner.run.adoption import LateAdoption, pushed_tasks
from batch_runner.run.budget import Budget
from batch_runner.run.canary import (
    MEMORY_PREFIX,
    UNREMEMBERED_CODES,
    CanaryMemory,
    CanaryStop,
    Streamer,
    first_bytes_verdict,
    judge,
)
from batch_runner.run.keypool import KeyPool
from batch_runner.run.lifecycle import Lifecycle, OnFinish, OnSubmit, Sender
from batch_runner.run.shared import SharedLimits, heartbeat
from batch_runner.run.slot import Slot
from batch_runner.run.tasks import cancel_and_wait, gather_or_cancel

__all__ = ["RunOptions", "Runner", "Work", "classify", "prepare"]


@dataclass(frozen=True)
class RunOptions:
    """What a run does with jobs an earlier run left behind, and its timings.

    ``retry_failed``: submit again the jobs that ended failed of a failure a new
    try may mend (errors.TRANSIENT_CODES); with ``retry_all_failed`` every failed job.
    ``resubmit_unknown``: submit again jobs whose submit answer was lost.
    ``checkpoint_every_s``: seconds between two calls of the checkpoint hook.
    ``canary``: on first contact with a provider (no job of it succeeded in this
    journal), send one new job alone first and hold the others until it has a video.
    ``reroll_qa_failed``: submit again (a new generation: a new task, paid again)
    a succeeded job whose saved video failed QA, at most ``max_rerolls`` times per job.
    ``reroll_rejected``: submit again (a new task, paid again) a succeeded job
    a person rejected (table ``reviews``), at most ``max_rerolls`` times per job,
    with its review note's replacement prompt if it gives one.
    ``retry_canary``: send a canary even where the journal remembers one that failed
    with the provider's current settings (canary.CanaryMemory).
    """

    retry_failed: bool = False
    retry_all_failed: bool = False
    resubmit_unknown: bool = False
    checkpoint_every_s: float = 30.0
    canary: bool = False
    reroll_qa_failed: bool = False
    max_rerolls: int = 1
    retry_canary: bool = False
    reroll_rejected: bool = False


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
    pushed = pushed_tasks(journal, known)  # unknown jobs a late push named the task of (run/adoption.py)
    for job in jobs:
        record = known.get(job.job_id)
        if record is not None and record.job_id in pushed and record.provider in settings:
            work.resume.append((dataclasses.replace(job, provider=record.provider), pushed[record.job_id]))
            continue
        kind, job = classify(job, record, settings, options)
        if kind == "resume" and record is not None:
            work.resume.append((job, record))
        else:
            (work.fresh if kind == "fresh" else work.done).append(job)
    ids = {job.job_id for job in jobs}
    for record in known.values():  # rows edited or removed since their task was paid
        if record.job_id not in ids and record.resumable and record.provider in settings:
            orphan = dataclasses.replace(Job.from_fields(record.job_fields()), provider=record.provider)
            work.resume.append((orphan, record))
            work.orphans.append(orphan)
    return work


def classify(job: Job, record: JobRecord | None, settings: dict[str, ProviderSettings],
             options: RunOptions) -> tuple[str, Job]:
    """What a run does with ``job`` given its journal ``record``: ``resume``
    (poll its task), ``fresh`` (submit it) or ``done``; and the job on the
    provider it is (or was last) on."""
    status = record.status if record else JobStatus.PENDING
    provider = (record.provider if record else "") or job.provider
    if record is not None and record.resumable:
        return "resume", dataclasses.replace(job, provider=provider)
    if status in (JobStatus.PENDING, JobStatus.SKIPPED_BUDGET) or (
            status == JobStatus.FAILED and options.retry_failed and (
                options.retry_all_failed or (record is not None and record.error_code in TRANSIENT_CODES))):
        return "fresh", job
    if options.reroll_qa_failed and record is not None and record.rerollable(options.max_rerolls):
        return "fresh", job  # a re-roll: journal.start_reroll once the run is sure to send it
    if options.reroll_rejected and record is not None and record.review_rerollable(options.max_rerolls):
        prompt = record.replacement_prompt
        return "fresh", job if prompt is None else dataclasses.replace(job, prompt=prompt)
    if status == JobStatus.UNKNOWN and provider in settings and (
            options.resubmit_unknown or settings[provider].info.idempotency_key):
        return "fresh", dataclasses.replace(job, provider=provider)
    return "done", job


class Runner:
    """Runs ``work`` (from ``prepare``) to a final state, recording everything
    in ``journal``, sending through ``transport``.

    ``settings``: per-provider settings; ``on_finish(job, record)``: called as each job ends (progress);
    ``on_submit(job, task_id)``: called as each task id is recorded (progress);
    ``checkpoint()``: called every ``options.checkpoint_every_s`` seconds during
    the run, in a thread of its own (the caller writes the final results); ``budget``: the caps.
    After ``run``, ``canary_stops`` holds each provider its canary stopped (canary.py),
    ``missing_keys`` (provider, key id) -> job ids of the tasks not polled because
    the key that made them is no longer in the provider's pool, and ``pools`` each
    provider's KeyPool.
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
        self.pools: dict[str, KeyPool] = {}
        self.missing_keys: dict[tuple[str, str], list[str]] = {}
        self.journal, self.transport = journal, transport
        self.canary_stops: dict[str, CanaryStop] = {}
        self.first_contact: set[str] = set()  # providers whose new jobs wait for a canary (set by run)
        self.remembered: dict[str, CanaryMemory] = {}  # of those, where the journal remembers a failed canary
        self.carried: set[str] = set()  # a shared journal: the jobs this worker claimed in this run
        self.left: dict[str, Job] = {}  # a shared journal: jobs with a task another worker held when met
        self.since = time.time()  # unix seconds: a job ended after this was ended in this run
        # provider -> key id -> its last submit in the journal (unix seconds; read by run)
        self._last_submits: dict[str, dict[str | None, float]] = {}
        self.lifecycle = Lifecycle(
            journal, transport, budget or Budget(), self._slot,
            on_finish=on_finish or (lambda job, record: None), stopping=self._halted, on_submit=on_submit,
            other_key=lambda slot: self._pool(slot.name).other(slot),
        )
        self.late = LateAdoption(self.lifecycle, journal, lambda r: self._pool(r.provider).by_key_id(r.key_id)
                                 if r.provider in settings else None)  # late pushes for jobs that ended unknown
        self.lifecycle.on_unknown = self.late.gave_up

    def _remembered(self) -> dict[str, CanaryMemory]:
        """The first-contact providers whose last canary failed, as the journal
        remembers, with the settings they have now (no new canary goes there)."""
        found = {}
        for key, text in self.journal.meta_items(MEMORY_PREFIX):
            name = key.removeprefix(MEMORY_PREFIX)
            memory = CanaryMemory.loads(text)
            if name in self.first_contact and memory is not None and memory.holds_for(self.settings[name]):
                found[name] = memory
        return found

    def request_stop(self) -> None:
        """Stop submitting; tasks in flight are still polled to the end."""
        self.stopping = True

    def _halted(self) -> bool:
        """Whether the run stops submitting: asked to, or its journal file is no
        longer the one it opened (journal.lost: nothing could be recorded)."""
        if not self.stopping and self.journal.lost is not None:
            self.stopping = True
        return self.stopping

    async def run(self) -> None:
        """Run every job of the work; returns when all are final (or, after
        request_stop, when the tasks in flight are). With a shared journal, each
        job is claimed first (one another worker holds is left to it), and then
        the jobs other workers leave (their lease over) are taken over, until
        none of this run's jobs is left to any live worker."""
        proven: set[str] = set()
        for r in self.journal.records():  # one read: the providers proven, each key's last submit
            if r.status == JobStatus.SUCCEEDED:
                proven.add(r.provider)
            if r.submitted_at is not None:
                keys = self._last_submits.setdefault(r.provider, {})
                keys[r.key_id] = max(keys.get(r.key_id, 0.0), r.submitted_at)
        names = {j.provider for j, _ in self.work.resume} | {j.provider for j in self.work.fresh}
        self.first_contact = {n for n in names if n not in proven} if self.options.canary else set()
        self.remembered = self._remembered() if self.first_contact and not self.options.retry_canary else {}
        ticker = asyncio.create_task(self._tick())
        shared = self.journal.coordination
        beat = asyncio.create_task(heartbeat(shared)) if shared is not None else None
        try:
            if shared is not None:
                done = asyncio.Event()

                async def main() -> None:
                    try:
                        await self._run_jobs(self.work.resume, self.work.fresh)
                        await self.late.wait()
                    finally:
                        done.set()

                await gather_or_cancel(main(), self._adopt_left(shared, done))
                await self._take_over(shared)
            else:
                await self._run_jobs(self.work.resume, self.work.fresh)
                await self.late.wait()  # adoptions a late push started (run/adoption.py)
        finally:
            await asyncio.shield(cancel_and_wait([ticker]))  # a checkpoint being written ends before the last write
            if beat is not None:
                beat.cancel()

    async def _run_jobs(self, resume: list[tuple[Job, JobRecord]], fresh: list[Job]) -> None:
        queues: dict[str, list[tuple[Job, JobRecord | None]]] = {}
        for job, record in resume:
            queues.setdefault(job.provider, []).append((job, record))
        for job in fresh:
            queues.setdefault(job.provider, []).append((job, None))
        await gather_or_cancel(*(self._dispatch(self._pool(n), work) for n, work in queues.items()))

    def _claimed(self, slot: Slot, job: Job, record: JobRecord | None) -> tuple[bool, JobRecord | None]:
        """With a shared journal, claim ``job`` before it is worked on: (whether
        to go on, the record to resume from or None to submit). A job another
        worker holds, or one that ended since this run planned it, is left."""
        shared = self.journal.coordination
        if shared is None:
            return True, record
        now = shared.claim(job.job_id)
        if now is None:
            if record is not None:
                self.left[job.job_id] = job  # its task holds a place of the key: _adopt_left polls it if left
            return False, None
        if now.provider and now.provider != slot.name and now.resumable:
            return False, None  # moved to a fallback by its last worker: the take-over polls it there
        self.carried.add(job.job_id)
        if self._ended_this_run(now):
            return False, None  # another worker of this campaign ended it during this run
        if record is None and _reroll_started(now):
            return True, None  # this run re-rolls it (output/video_qa.start_rerolls): its new generation is sent
        kind, _ = classify(job, now, self.settings, self.options)
        return kind != "done", now if kind == "resume" else None

    def _ended_this_run(self, record: JobRecord) -> bool:
        """Whether ``record``'s job ended (by any worker) since this run began."""
        return record.status in FINAL_STATUSES and record.updated_at >= self.since

    async def _adopt_left(self, shared: Coordination, done: asyncio.Event) -> None:
        """While this run's jobs go on, poll the tasks of jobs another worker held
        when this run met them, once that worker's lease is over (it stopped): their
        tasks hold in-flight places of the key in the database, so a run waiting for
        a place would otherwise wait for ever (they are polled, never sent again).
        Jobs left ``submitting`` by a stopped worker become ``unknown`` (their
        place given back). Returns when ``done`` is set and what it adopted ended."""
        adopted: list[asyncio.Task[None]] = []
        try:
            while not done.is_set() and not self.stopping:
                try:
                    await asyncio.wait_for(done.wait(), min(shared.lease_s / 6, 1.0))
                    break
                except TimeoutError:
                    pass
                await asyncio.to_thread(shared.recover_unknown)  # a stopped worker's submits: their places
                if not self.left:
                    continue
                held = await asyncio.to_thread(shared.held_by_others)
                for job_id, job in list(self.left.items()):
                    if job_id in held:
                        continue
                    del self.left[job_id]
                    record = await asyncio.to_thread(self.journal.get, job_id)
                    if job_id in self.carried or record is None or self._ended_this_run(record):
                        continue
                    kind, job = classify(job, record, self.settings, self.options)
                    if kind == "resume":
                        adopted.append(asyncio.create_task(self._poll_adopted(job, record)))
            await gather_or_cancel(*adopted)
        except BaseException:
            await asyncio.shield(cancel_and_wait(adopted))
            raise

    async def _poll_adopted(self, job: Job, record: JobRecord) -> None:
        """Claim and poll one task a stopped worker left (``_adopt_left``), on the key
        that made it. Its place of the key is already counted in the database, and
        this worker's own places may all be held by jobs waiting for that one: so it
        takes no place of this worker (the slot's copy has a place of its own)."""
        pool = self._pool(job.provider)
        slot = pool.by_key_id(record.key_id)
        if slot is None:
            return  # its key is no longer configured: the take-over at the end names it
        go, now = self._claimed(slot, job, record)
        if not go or now is None:
            return
        own = dataclasses.replace(slot, in_flight=asyncio.Semaphore(1))
        await own.in_flight.acquire()
        await self.lifecycle.carry(own, job, now)

    async def _take_over(self, shared: Coordination) -> None:
        """Run the jobs of this run that other workers left (claim lost, lease
        over), waiting while a live worker still holds some."""
        mine = {j.job_id: j for j, _ in self.work.resume} | {j.job_id: j for j in self.work.fresh}
        while not self.stopping:
            await asyncio.to_thread(shared.recover_unknown)
            known = await asyncio.to_thread(self.journal.snapshot)
            held = await asyncio.to_thread(shared.held_by_others)
            resume: list[tuple[Job, JobRecord]] = []
            fresh: list[Job] = []
            waiting = False
            for job_id, job in mine.items():
                record = known.get(job_id)
                if job_id in self.carried or (record is not None and self._ended_this_run(record)):
                    continue
                kind, job = classify(job, record, self.settings, self.options)
                if kind == "done" or (kind == "fresh" and job.provider in self.canary_stops):
                    continue  # a provider its canary stopped: its new jobs stay pending, as without workers
                if job_id in held:
                    waiting = True
                elif kind == "resume" and record is not None:
                    resume.append((job, record))
                else:
                    fresh.append(job)
            if resume or fresh:
                before = len(self.carried)
                await self._run_jobs(resume, fresh)
                if len(self.carried) > before:
                    continue  # took some over: look again at once
            elif not waiting:
                return
            await asyncio.sleep(min(shared.lease_s / 6, 1.0))

    async def _tick(self) -> None:
        """Call the checkpoint hook every ``checkpoint_every_s``, in a thread (the
        event loop goes on sending and polling meanwhile); one that cannot write (a
        full disk, a path replaced by a folder) is a warning: the jobs go on, and
        the run's last write of the results says what failed. Cancelled, it waits
        for the hook's thread to end."""
        while True:
            await asyncio.sleep(self.options.checkpoint_every_s)
            writing = asyncio.ensure_future(asyncio.to_thread(self.checkpoint))
            try:
                await asyncio.shield(writing)
            except OSError as exc:
                event("checkpoint_failed", "results not updated during the run: %s (%s)",
                      exc.strerror or exc, exc.filename2 or exc.filename or "", level=logging.WARNING)
            except JournalError as exc:  # its file deleted or moved away: the run's end says so
                event("checkpoint_failed", "results not updated during the run: %s", exc, level=logging.WARNING)
            except asyncio.CancelledError:
                await asyncio.wait([writing])
                if not writing.cancelled():
                    writing.exception()  # retrieved: the run's last write says what failed
                raise

    def _pool(self, name: str) -> KeyPool:
        """The KeyPool of provider ``name``, made on first use; with a shared
        journal each key's slot takes its limits from the database too."""
        if name not in self.pools:
            pool = self.pools[name] = KeyPool(self.settings[name])
            self._continue_pacing(pool)
            if self.journal.coordination is not None:
                for slot in pool.slots:
                    slot.shared = SharedLimits(self.journal.coordination, name, slot.settings.api_key.fingerprint(),
                                               slot.settings.max_in_flight)
        return self.pools[name]

    def _slot(self, name: str) -> Slot:
        """The Slot of provider ``name`` with the most spare capacity (failover)."""
        return self._pool(name).best()

    def _continue_pacing(self, pool: KeyPool) -> None:
        """Each key's pacing goes on from its last submit in the journal (an
        earlier run's, maybe seconds ago): the provider counts that submit in
        its window too."""
        last: dict[int, tuple[Slot, float]] = {}
        for key_id, at in self._last_submits.get(pool.name, {}).items():
            slot = pool.by_key_id(key_id)
            if slot is not None and at > last.get(id(slot), (slot, 0.0))[1]:
                last[id(slot)] = (slot, at)
        now = time.time()
        for slot, at in last.values():
            slot.pacer.sent_ago(now - at)

    async def _place(self, pool: KeyPool, job: Job, record: JobRecord | None) -> Slot | None:
        """An in-flight place for one job: on the key that made its task (a job to
        resume; an ``unknown`` job sent again under its idempotency key, which only
        that key's account knows), else on the key with the most spare capacity;
        None (nothing held) when that key is no longer in the pool."""
        if record is None or record.task_id is None:
            known = self.journal.get(job.job_id) if pool.settings.info.idempotency_key else None
            if known is None or known.status != JobStatus.UNKNOWN or not known.key_id:
                return await pool.acquire()
            record = known
        slot = pool.by_key_id(record.key_id)
        if slot is None:
            key_id = record.key_id or ""
            self.missing_keys.setdefault((pool.name, key_id), []).append(job.job_id)
            event("job_key_missing", "job %s (row %s): its %s task %s was made with key %s, which is no longer "
                  "configured: not sent; put that key back in %s and run again (the job stays as it is)",
                  job.job_id, job.row, pool.name, record.task_id or "(answer lost)", key_id,
                  pool.settings.info.pool_env,
                  job_id=job.job_id, row=job.row, provider=pool.name, key_id=key_id)
            return None
        await slot.in_flight.acquire()
        return slot

    async def _dispatch(self, pool: KeyPool, work: list[tuple[Job, JobRecord | None]]) -> None:
        """Start each job of one provider as an in-flight place frees up
        (a job to resume carries its record). A job that raises (the journal
        cannot be written: a full disk, its server stopped) stops the others:
        nothing more is started, the rest are cancelled and its error is raised."""
        tasks: set[asyncio.Task[None]] = set()
        failed: list[BaseException] = []

        def start(slot: Slot, job: Job, record: JobRecord | None) -> None:
            task = asyncio.create_task(self.lifecycle.carry(slot, job, record))
            tasks.add(task)
            task.add_done_callback(ended)

        def ended(task: asyncio.Task[None]) -> None:
            tasks.discard(task)
            if not task.cancelled() and (exc := task.exception()) is not None:  # retrieved: raised below
                failed.append(exc)

        try:
            if pool.name in self.first_contact:
                for job, record in [w for w in work if w[1] is not None]:  # paid already: polled at once
                    slot = await self._place(pool, job, record)
                    if slot is None:
                        continue
                    start(slot, job, record)
                if pool.name in self.remembered and tasks:
                    await self._prove_again(pool.name, tasks, [j for j, r in work if r is not None])
                work = await self._canary(pool, [w for w in work if w[1] is None])
            for job, record in work:
                if failed or (self.stopping and record is None):
                    break
                got = await self._place(pool, job, record)
                if got is None:
                    continue
                if failed or (self.stopping and record is None):
                    got.in_flight.release()
                    break
                go, record = self._claimed(got, job, record)
                if not go:
                    got.in_flight.release()
                    continue
                start(got, job, record)
            while tasks and not failed:
                await asyncio.wait(list(tasks), return_when=asyncio.FIRST_EXCEPTION)
            if failed:
                raise failed[0]
        except BaseException:  # cancelled, or a job failed: stop this provider's other jobs too
            await asyncio.shield(cancel_and_wait(list(tasks)))
            raise

    async def _prove_again(self, name: str, tasks: set[asyncio.Task[None]], jobs: list[Job]) -> None:
        """Where the journal remembers a failed canary, the provider's tasks in flight
        (paid already) end first: one that succeeds shows the provider works again, and
        the memory is forgotten (a canary goes as on any first contact)."""
        await asyncio.gather(*list(tasks))
        ended = [self.journal.get(j.job_id) for j in jobs]
        if any(r is not None and r.status == JobStatus.SUCCEEDED and r.provider == name for r in ended):
            del self.remembered[name]
            self.journal.set_meta({MEMORY_PREFIX + name: ""})

    async def _canary(self, pool: KeyPool, fresh: list[tuple[Job, JobRecord | None]]
                      ) -> list[tuple[Job, JobRecord | None]]:
        """Send ``fresh`` jobs of one provider alone, one after the other, until one
        has gone through the whole lifecycle, its video's first bytes included; return
        the jobs still to start: the rest, or, when the canary failed for a reason of
        the protocol or the account, only those with a fallback provider after this
        one (the breakers of the pool's keys are then open, so they move on; the others
        stay pending, and ``canary_stops`` says why). A key whose breaker opened hands
        the canary to the pool's next key (lifecycle.py)."""
        memory = self.remembered.get(pool.name)
        if memory is not None and fresh:
            return self._stop(pool, memory.code, memory.message, fresh, remembered_at=memory.at)
        while fresh:
            if self.stopping:
                return []
            (job, _), fresh = fresh[0], fresh[1:]
            slot = await pool.acquire()
            go, claimed = self._claimed(slot, job, None)
            if not go:
                slot.in_flight.release()
                continue
            await self.lifecycle.carry(slot, job, claimed)  # gives the place back
            record = self.journal.get(job.job_id)
            verdict = "stop" if not pool.live() else judge(record, slot.name)
            if verdict in ("next", "undecided"):
                continue
            if verdict == "video" and record is not None:
                why = await self._check_video(slot, record)
                if why is None:
                    if pool.name in self.remembered or self.options.retry_canary:
                        self.journal.set_meta({MEMORY_PREFIX + pool.name: ""})  # forgotten: it works now
                    return fresh
                code, message = "not_video", why
                record = self.journal.finish(job.job_id, JobStatus.FAILED, error_code=code, error_message=why,
                                             video_url=record.video_url, url_expires_at=record.url_expires_at)
            elif slot.breaker is not None and not pool.live():
                code, message = slot.breaker.error_code, slot.breaker.provider_message
            else:
                code = (record.error_code if record else None) or "unknown"
                message = (record.error_message if record else None) or ""
            if code not in UNREMEMBERED_CODES:  # the protocol or the settings: no new canary until they change
                memory = CanaryMemory.of(pool.settings, code, redact(message))
                self.journal.set_meta({MEMORY_PREFIX + pool.name: memory.dumps()})
            return self._stop(pool, code, message, fresh)
        return []

    def _stop(self, pool: KeyPool, code: str, message: str, fresh: list[tuple[Job, JobRecord | None]],
              remembered_at: float | None = None) -> list[tuple[Job, JobRecord | None]]:
        """Stop ``pool``'s provider for this run (its keys' breakers open with ``code``):
        record why in ``canary_stops`` and return the jobs of ``fresh`` that move to a
        fallback provider (the others stay pending)."""
        stop = ProviderError(pool.name, code, message, retryable=False)
        for each in pool.slots:
            each.breaker = each.breaker or stop
        moving = [(j, r) for j, r in fresh if pool.name in j.providers[:-1]]
        self.canary_stops[pool.name] = CanaryStop(pool.name, code, redact(message), held=len(fresh) - len(moving),
                                                  moved=len(moving), remembered_at=remembered_at)
        return moving

    async def _check_video(self, slot: Slot, record: JobRecord) -> str | None:
        """Why the canary's video is not a video (canary.first_bytes_verdict), or None."""
        if not isinstance(self.transport, Streamer):
            return None  # a transport that cannot stream (a test double): not checked
        if not record.video_url:
            return "the task succeeded without a video URL"
        hosts = {urlsplit(slot.settings.base_url).hostname or ""}
        return await first_bytes_verdict(self.transport, slot.name, record.video_url,
                                         timeout_s=slot.settings.timeout_s, trusted_hosts=hosts)


def _reroll_started(record: JobRecord) -> bool:
    """Whether a re-roll of ``record``'s job was started and not sent yet: it
    succeeded, was re-rolled, and its video and QA were forgotten for the new
    generation (journal.start_reroll)."""
    return (record.status == JobStatus.SUCCEEDED and record.rerolls > 0 and record.qa_status is None
            and record.local_path is None)
