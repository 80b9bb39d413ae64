"""One job's life, from its submit to its end: failover, budget, submit retries, polls, journal.

Every state change goes to the journal first: a submit's intent before it is
sent, its task id before anything else is done with it. A submit is retried
only when the provider surely did not take it (retry.py). When a job's
provider is unavailable (breaker open, submit retries exhausted without a
task), the job moves to its next fallback provider; a content-policy refusal
does not (taxonomy.NO_FAILOVER_CODES). A submit refused for a reason of its
key's account (that key's breaker opened: bad key, balance, quota; nothing
paid) goes first to another key of the provider's pool (``other_key``), then
to the fallbacks; a task is polled on the slot (key) that made it. A submit carries the idempotency key
of the job's attempt generation (journal.JobRecord.submit_generation): the
same when an ``unknown`` job is sent again, a new one for a deliberate new
attempt (``--retry-failed``). This module never reads a provider's
JSON (adapters do), and a failed job never stops the others.

An answer the adapter cannot read is kept as a capture (captures.py); one in
JSON is counted on the provider's slot (its breaker opens after a few in a
row), and a task whose answers were all such ends ``unrecognised_answer``
after ``max_unreadable_answers`` of them, its task id kept for a later run.

Scheduling across providers (which job starts when) is dispatch.py's.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Protocol

from tenacity import AsyncRetrying

from batch_runner.catalog.prices import video_cost
from batch_runner.errors import JournalLostError, ProviderError, TransportError
from batch_runner.jobs.encode import encode_images
from batch_runner.jobs.model import Job
from batch_runner.journal import ClaimLostError, JobRecord, JobStatus, Journal
from batch_runner.keys import redact
from batch_runner.logs import event, retry_logger
from batch_runner.providers import HttpRequest, HttpResponse, PollResult
from batch_runner.providers.taxonomy import NO_FAILOVER_CODES
from batch_runner.run.budget import Budget
from batch_runner.run.callbacks import CallbackHub
from batch_runner.run.captures import Captures, excerpt
from batch_runner.run.polling import backstop_delays, backstop_s, poll_delays
from batch_runner.run.retry import (
    Clock,
    Sleep,
    retry_after_wait,
    submit_retrying,
    surely_not_accepted,
)
from batch_runner.run.slot import Slot

__all__ = ["MAX_FOLLOW_UPS", "Lifecycle", "OnFinish", "OnSubmit", "Sender"]

MAX_FOLLOW_UPS = 3
"""Follow-up requests one poll may chain (MiniMax: query, then files/retrieve)."""

OnFinish = Callable[[Job, JobRecord], None]
"""Called as each job ends, with its journal record."""

OnSubmit = Callable[[Job, str], None]
"""Called as each submit's task id is recorded, with that task id (progress)."""


class Sender(Protocol):
    """What sends a provider request (transport.Transport)."""

    async def send(self, provider: str, req: HttpRequest, timeout_s: float) -> HttpResponse:
        """Send ``req`` to ``provider`` within ``timeout_s`` seconds; raises TransportError."""
        ...


class _Stopped(Exception):
    """Internal: the run is stopping; this job's submit was not sent."""


class _Moved(Exception):
    """Internal: the job could not be submitted on this provider; try the next."""

    def __init__(self, error: ProviderError):
        self.error = error


class _Place:
    """The in-flight place one job holds: the slot it is on (failover moves
    it), None once given back."""

    def __init__(self, slot: Slot):
        self.slot: Slot | None = slot

    def release(self) -> None:
        """Give this place back (once)."""
        if self.slot is not None:
            self.slot.in_flight.release()
            self.slot = None

    async def move(self, slot: Slot) -> None:
        """Give this place back and wait for one on ``slot``."""
        self.release()
        await slot.in_flight.acquire()
        self.slot = slot


class Lifecycle:
    """Carries one job at a time to its end (``carry``); one per run, shared by
    every job.

    ``slot(name)``: the run's Slot of provider ``name`` (local images were
    resolved and checked at expansion: jobs/images.py); ``on_finish(job, record)``: called as each job ends;
    ``on_submit(job, task_id)``: called as each task id is recorded; ``other_key(slot)``:
    another key's slot of the same provider for a job refused for a reason of
    ``slot``'s key (run/keypool.py ``KeyPool.other``), or None; ``stopping()``:
    True once the run stops submitting. ``clock`` (unix seconds) and ``sleep``
    time the poll schedule and the submit retries. ``captures`` keeps the
    answers the adapters cannot read (default: beside the journal).
    """

    def __init__(
        self,
        journal: Journal,
        transport: Sender,
        budget: Budget,
        slot: Callable[[str], Slot],
        *,
        on_finish: OnFinish,
        stopping: Callable[[], bool],
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
        on_submit: OnSubmit | None = None,
        captures: Captures | None = None,
        other_key: Callable[[Slot], Slot | None] | None = None,
    ):
        self.journal, self.transport, self.budget, self.slot = journal, transport, budget, slot
        self.other_key = other_key or (lambda slot: None)
        self.captures = captures or Captures(journal, clock=clock)
        self.on_finish, self.stopping = on_finish, stopping
        self.on_submit = on_submit or (lambda job, task_id: None)
        self.clock, self.sleep = clock, sleep
        self.callbacks: CallbackHub | None = None  # set by the run with --callback-url (run/callbacks.py)
        #: called with (slot, job, attempt generation) as a job with a callback URL ends ``unknown`` (run/adoption.py)
        self.on_unknown: Callable[[Slot, Job, int], None] = lambda slot, job, generation: None
        self._follow_ups: dict[str, HttpRequest] = {}  # job id -> the follow-up its next poll starts with

    async def carry(self, slot: Slot, job: Job, resume: JobRecord | None = None) -> None:
        """Submit (with failover) and poll one job; or, with ``resume`` (its
        record with a task id), poll that task. ``slot.in_flight`` is held on
        entry; the place is released (on the slot the job ended on) on exit. A
        ``resume`` record still ``unknown`` names the task a late push named
        (run/adoption.py): it is polled with the job's key first, and adopted
        only when found; else the job stays ``unknown``."""
        place = _Place(slot)
        try:
            if resume is not None and resume.status == JobStatus.UNKNOWN and resume.task_id is not None:
                adopted = await self._take(slot, job, resume.task_id)
                if adopted is None:
                    self.on_finish(job, self.journal.get(job.job_id) or resume)
                    return
                task_id, submitted_at = adopted
            elif resume is not None and resume.task_id is not None:
                task_id, submitted_at = resume.task_id, resume.submitted_at or self.clock()
            else:
                submitted = await self._submit_anywhere(place, job)
                if submitted is None:
                    return
                task_id, submitted_at = submitted
            assert place.slot is not None
            await self._follow(place.slot, _on(job, place.slot.name), task_id, submitted_at)
        except ProviderError as exc:
            self._end(job, JobStatus.FAILED, exc.error_code, exc.provider_code, exc.provider_message)
        except (OSError, ValueError) as exc:  # a local image that cannot be read
            self.budget.settle(job.job_id, paid=False)  # read before the submit: nothing was sent
            self._end(job, JobStatus.FAILED, "invalid_request", "", str(exc))
        except ClaimLostError:  # a shared journal: another worker has the job now; nothing was sent
            self.budget.settle(job.job_id, paid=False)
        finally:
            place.release()
            self._follow_ups.pop(job.job_id, None)
            if self.callbacks is not None:
                self.callbacks.forget(job.job_id)

    # -- submit ----------------------------------------------------------------
    async def _submit_anywhere(self, place: _Place, job: Job) -> tuple[str, float] | None:
        """Submit on the job's provider, else on its fallbacks in order, moving
        the job's in-flight ``place`` along. Returns (task id, unix seconds of
        its submit), or None when the job ended."""
        assert place.slot is not None
        tried: list[str] = []
        names = list(dict.fromkeys(job.providers))
        start = names.index(place.slot.name) if place.slot.name in names else 0
        last: ProviderError | None = None
        for i, name in enumerate(names[start:]):
            if i > 0:
                if self.stopping():
                    self.journal.mark_pending(job.job_id)
                    return None
                await place.move(self.slot(name))
            tried.append(name)
            try:
                return await self._submit_on_keys(place, _on(job, name), "|".join(tried))
            except _Moved as moved:
                last = moved.error
            except _Stopped:  # not sent: the next run submits it
                self.budget.settle(job.job_id, paid=False)
                record = self.journal.get(job.job_id)
                if record is not None and record.status == JobStatus.SUBMITTING:
                    self.journal.mark_pending(job.job_id)  # its earlier tries were refused
                return None
        assert last is not None
        if last.error_code == "unrecognised_answer":  # never sent: the next run, once fixed, submits it
            self.budget.settle(job.job_id, paid=False)
            self.journal.mark_pending(job.job_id)
            event("job_held", "job %s (row %s) not submitted: %s", job.job_id, job.row, last.provider_message,
                  job_id=job.job_id, row=job.row, provider=last.provider)
            return None
        self._end(job, JobStatus.FAILED, last.error_code, last.provider_code, last.provider_message)
        return None

    async def _submit_on_keys(self, place: _Place, job: Job, tried: str) -> tuple[str, float] | None:
        """``_submit`` on the place's key; when that key's breaker is open (a bad
        or exhausted key, nothing paid), on another key of the provider's pool."""
        while True:
            assert place.slot is not None
            try:
                return await self._submit(place.slot, job, tried)
            except _Moved:
                other = self.other_key(place.slot)
                if other is None or self.stopping():
                    raise
                await place.move(other)

    async def _submit(self, slot: Slot, job: Job, tried: str) -> tuple[str, float] | None:
        """Send one job's submit through the retry policy; return the journaled
        (task id, unix seconds of its submit), or None when the job ended
        (failed / unknown / skipped_budget). Raises _Moved when another
        provider may take the job."""
        if slot.breaker is not None:
            raise _Moved(slot.breaker)
        s = slot.settings
        if self.budget.active:
            refused = self.budget.reserve(job.job_id, slot.name, video_cost(s, job.model, job.resolution, job.duration))
            if refused:
                self._end(job, JobStatus.SKIPPED_BUDGET, "budget", "", refused)
                return None
        record = self.journal.get(job.job_id)
        generation = record.submit_generation if record is not None else 0
        request = slot.adapter.submit_request(encode_images(job), generation)
        if self.callbacks is not None:  # its own callback URL, derived from what mark_submitting records
            request = self.callbacks.attach(slot.name, request, job.job_id, generation, s.api_key)
        policy = submit_retrying(
            s.max_attempts, idempotent=s.info.idempotency_key, base_s=s.backoff_base_s,
            max_total_s=s.retry_total_s, sleep=self.sleep, clock=self.clock,
            before_sleep=retry_logger(job.job_id, f"submit to {slot.name}"),
        )
        maybe: list[ProviderError] = []  # tries the provider may have taken (an idempotent provider's retries)
        try:
            task_id = await self._send_with_retries(policy, slot, job, request, tried, generation, maybe)
        except ProviderError as exc:
            # possibly paid (this try, or an earlier one whose answer was lost: a 503 to the
            # last retry does not undo it): the reservation stays committed, and no fallback
            # takes the job (it could run on both); an idempotent provider's unknown job is
            # sent again, with the same key, by the next run
            lost = exc if not surely_not_accepted(exc) else (maybe[0] if maybe else None)
            if lost is not None:
                adopted = await self._adopt(slot, job, generation)
                if adopted is not None:
                    return adopted
                self._end(job, JobStatus.UNKNOWN, "unknown", lost.provider_code,
                          f"possibly submitted, answer lost ({lost.error_code}: {lost.provider_message})")
                if self.callbacks is not None and self.callbacks.watching(job.job_id):
                    self.on_unknown(slot, job, generation)  # a later push may still name its task
                return None
            self.budget.settle(job.job_id, paid=False)
            if exc.error_code in NO_FAILOVER_CODES:
                self._end(job, JobStatus.FAILED, exc.error_code, exc.provider_code, exc.provider_message)
                return None
            raise _Moved(exc) from exc
        submitted_at = self.clock()
        await self.journal.mark_submitted(job.job_id, task_id, submitted_at)
        event("job_submitted", "job %s (row %s) submitted to %s: task %s", job.job_id, job.row, slot.name, task_id,
              job_id=job.job_id, row=job.row, job_name=job.name or None, variant=job.variant,
              provider=slot.name, task_id=task_id)
        self.on_submit(job, task_id)
        return task_id, submitted_at

    async def _adopt(self, slot: Slot, job: Job, generation: int) -> tuple[str, float] | None:
        """For a submit whose answer was lost: the task a push on the job's
        callback path named (waiting up to the backstop, ``backstop_s``), once a
        poll of it with the job's key finds it; journaled as submitted (nothing
        is sent again). None when no push named one, or the poll did not find it."""
        hub = self.callbacks
        if hub is None or not hub.watching(job.job_id):
            return None
        s = slot.settings
        task_id = await hub.named_task(job.job_id, generation, backstop_s(s.poll_interval_s, s.typical_generation_s))
        if task_id is None:
            return None
        return await self._take(slot, job, task_id)

    async def _take(self, slot: Slot, job: Job, task_id: str) -> tuple[str, float] | None:
        """Adopt ``task_id``, named by a push on the job's callback path, once a
        poll of it with the job's key (``slot``) reads it: journaled as submitted,
        (task id, unix seconds). None when the poll did not find it."""
        s = slot.settings
        deadline, tries = self.clock() + s.task_timeout_s, 0
        while True:  # a transient failure of the checking poll is retried (as in _follow): up to the
            tries += 1  # deadline, and at least max_attempts tries (a Retry-After may outlast the deadline)
            try:
                await self._poll_once(slot, job, task_id)
                break
            except ProviderError as exc:
                if not exc.retryable or (self.clock() >= deadline and tries >= s.max_attempts):
                    event("callback_unverified", "job %s (row %s): a push named task %s, a poll did not "
                          "confirm it: %s", job.job_id, job.row, task_id, excerpt(exc.provider_message, 160),
                          level=logging.WARNING, job_id=job.job_id, provider=slot.name, task_id=task_id)
                    return None
                await self.sleep(max(s.poll_interval_s, retry_after_wait(exc) or 0.0))
        submitted_at = self.clock()
        await self.journal.mark_submitted(job.job_id, task_id, submitted_at)
        event("job_adopted", "job %s (row %s): submit answer lost; task %s adopted from its callback on %s",
              job.job_id, job.row, task_id, slot.name, job_id=job.job_id, row=job.row, provider=slot.name,
              task_id=task_id)
        self.on_submit(job, task_id)
        return task_id, submitted_at

    async def _send_with_retries(self, policy: AsyncRetrying, slot: Slot, job: Job, request: HttpRequest,
                                 tried: str, generation: int, maybe: list[ProviderError]) -> str:
        """Every try of one submit, the first included, under ``policy`` (each
        the same request: the same idempotency key). A code of the adapter's
        ``rate_or_content_codes`` (MiniMax 1002, 1039) is a rate limit the first
        time and a content refusal when it comes again for this job after the
        pause while no other job on this key met a rate limit meanwhile (a key
        under a real rate limit keeps the rate-limit reading). Each try the
        provider may have taken (its answer lost) is appended to ``maybe``."""
        seen: int | None = None  # the key's rate-limit count at this job's last such code
        async for attempt in policy:
            with attempt:
                try:
                    return await self._send_submit(slot, job, request, tried, generation)
                except ProviderError as exc:
                    if not surely_not_accepted(exc):
                        maybe.append(exc)
                    if exc.provider_code not in slot.adapter.rate_or_content_codes:
                        raise
                    if seen is not None and slot.rate_limits == seen + 1:
                        raise ProviderError(exc.provider, "content_policy", (
                            f"{exc.provider_message} (code {exc.provider_code} again after the pause, the key "
                            "not otherwise rate limited: read as the provider's content filter, as its own CLI "
                            "reads it)"), retryable=False, http_status=exc.http_status,
                            provider_code=exc.provider_code) from exc
                    seen = slot.rate_limits
                    raise
        raise AssertionError("unreachable: the retry policy re-raises the last error")

    async def _send_submit(self, slot: Slot, job: Job, request: HttpRequest, tried: str, generation: int) -> str:
        """One submit request, paced; until the provider has accepted one, one
        at a time (so a bad key costs one request). The journal records its
        attempt ``generation`` and the idempotency key it carries first."""
        if slot.breaker is not None:
            raise slot.breaker
        async with slot.probe if not slot.verified else contextlib.nullcontext():
            if slot.breaker is not None:
                raise slot.breaker
            await slot.pacer.acquire()
            if slot.shared is not None:  # the key's limits across workers (run/shared.py)
                await slot.shared.acquire(job.job_id, 60.0 / slot.pacer.rpm)
            if self.stopping():  # stopped while waiting for the submit slot: send nothing
                raise _Stopped
            try:
                await self.journal.mark_submitting(job.job_id, slot.name, tried, generation=generation,
                                                   idempotency_key=slot.adapter.sent_idempotency_key(request),
                                                   key_id=slot.key_id or None)
            except JournalLostError:  # the journal file is gone: nothing recorded, so nothing sent
                raise _Stopped from None
            await slot.pacer.spaced()  # the journal write took a varying time: keep the spacing at the send
            try:
                task_id = await self._submit_once(slot, request)
            except ProviderError as exc:
                slot.observe(exc)
                if not (isinstance(exc, TransportError) and exc.maybe_sent):
                    # the provider answered "no" (or never got it): nothing was accepted, so a kill
                    # during the backoff before the next try leaves the job pending, not "unknown"
                    self.journal.mark_not_sent(job.job_id)
                raise self._kept(slot, job, request, exc) from exc
            slot.readable()
            slot.verified = True
            return task_id

    async def _submit_once(self, slot: Slot, request: HttpRequest) -> str:
        """Send one submit and read its task id. A 401 before the key has been
        accepted tries the adapter's other documented form of the key once
        (``Adapter.other_auth``, gptproto: raw or Bearer; a 401 costs nothing)."""
        try:
            return slot.adapter.read_submit(await self.transport.send(slot.name, request, slot.settings.timeout_s))
        except ProviderError as exc:
            again = slot.adapter.other_auth(request) if exc.http_status == 401 and not slot.verified else None
            if again is None:
                raise
            event("auth_form", "%s answered 401: trying the other documented form of the key once", slot.name,
                  provider=slot.name)
            return slot.adapter.read_submit(await self.transport.send(slot.name, again, slot.settings.timeout_s))

    # -- poll ------------------------------------------------------------------
    async def _follow(self, slot: Slot, job: Job, task_id: str, submitted_at: float) -> None:
        """Poll ``task_id`` (submitted at ``submitted_at``, unix seconds) until
        it finishes or its deadline passes. A failed poll is retried and never
        fails the job before the deadline; a permanent poll error fails it
        after ``max_attempts`` in a row (raises that ProviderError). The job
        times out only on an answer: a poll at the deadline that fails
        transiently is tried again after the deadline (at ``poll_interval_s``
        or its Retry-After), up to ``max_attempts`` failed tries; an answer
        read there that the task still runs ends it ``timeout``."""
        s = slot.settings
        deadline = submitted_at + s.task_timeout_s
        pushed = self.callbacks is not None and self.callbacks.watching(job.job_id)
        delays = (backstop_delays if pushed else poll_delays)(s.poll_interval_s, s.typical_generation_s)
        failures, late = 0, 0  # late: failed polls at or after the deadline
        unreadable, readable_seen = 0, False  # answers about this task the adapter could (not) read
        due = submitted_at + next(delays)  # the schedule counts from the submit, also on resume
        while True:
            # the last poll is at the deadline; a task resumed past its deadline
            # (a later run) is polled once before it counts as timed out
            woken = await self._nap(job.job_id, max(0.0, (due if late else min(due, deadline)) - self.clock()))
            if woken:  # a push: poll now, then wait for the next push, the backstop behind it
                delays = backstop_delays(s.poll_interval_s, s.typical_generation_s)
            due = (self.clock() if woken else max(due, self.clock())) + next(delays)
            try:
                state = await self._poll_once(slot, job, task_id)
            except ProviderError as exc:
                if _unrecognised(exc):
                    unreadable += 1
                    if not readable_seen and unreadable >= s.max_unreadable_answers:
                        self._end(job, JobStatus.FAILED, "unrecognised_answer", "",
                                  f"{unreadable} answers about task {task_id} could not be read, the last: "
                                  f"{exc.provider_message} (task id kept: once the adapter or the provider's "
                                  "settings are fixed, a later run polls it again)")
                        return
                failures = 0 if exc.retryable else failures + 1
                if failures >= s.max_attempts:
                    raise
                if self.clock() >= deadline:  # no answer at the deadline: try again, a few times
                    late += 1
                    if late >= s.max_attempts:
                        break
                due = max(due, self.clock() + (retry_after_wait(exc) or 0.0))
                if pushed or late:  # a failed poll is retried at the usual pace, not after the backstop
                    due = self.clock() + max(s.poll_interval_s, retry_after_wait(exc) or 0.0)
                continue
            failures, readable_seen = 0, True
            if state.finished:
                self._record_state(slot, job, state)
                return
            if self.clock() >= deadline:
                break
        self._end(job, JobStatus.FAILED, "timeout", "",
                  f"task not finished after {s.task_timeout_s:g} s (task id kept: a later run polls it again)")

    async def _nap(self, job_id: str, seconds: float) -> bool:
        """Wait ``seconds`` before a poll; a push for the job ends the wait early
        (True: the poll is due now)."""
        if self.callbacks is not None and self.callbacks.watching(job_id):
            return await self.callbacks.nap(job_id, seconds)
        await self.sleep(seconds)
        return False

    async def _poll_once(self, slot: Slot, job: Job, task_id: str) -> PollResult:
        """One poll of ``task_id``, with the follow-up requests it asks for; an
        answer the adapter cannot read is kept (``_kept``) and raised. A follow-up
        that failed transiently is where the job's next poll starts (MiniMax: a
        failed files/retrieve is asked again, not the query before it)."""
        adapter, timeout = slot.adapter, slot.settings.timeout_s
        follow_up = self._follow_ups.pop(job.job_id, None)
        request = follow_up or adapter.build_poll(task_id)
        hops = 0
        while True:
            try:
                state = adapter.read_poll(await self.transport.send(slot.name, request, timeout))
            except ProviderError as exc:
                if (hops or follow_up is not None) and exc.retryable:
                    self._follow_ups[job.job_id] = request
                raise self._kept(slot, job, request, exc) from exc
            slot.readable()
            if state.follow_up is None or hops >= MAX_FOLLOW_UPS:
                return state
            hops += 1
            request = state.follow_up

    def _kept(self, slot: Slot, job: Job, request: HttpRequest, exc: ProviderError) -> ProviderError:
        """``exc`` itself, unless it is an answer the adapter could not read:
        then that answer is kept (a capture), counted on ``slot`` when it is
        JSON (``_unrecognised``), and the error returned quotes an excerpt and
        names the capture file."""
        resp = exc.answer
        if not isinstance(resp, HttpResponse):
            return exc
        path = self.captures.keep(slot.name, job.job_id, request, resp, exc.provider_message)
        if _unrecognised(exc):
            slot.unreadable(str(path or ""))
        kept = f" (answer kept in {path})" if path else ""
        return ProviderError(exc.provider, exc.error_code, f"{excerpt(exc.provider_message, 160)}{kept}",
                             retryable=exc.retryable, http_status=exc.http_status,
                             provider_code=exc.provider_code, retry_after=exc.retry_after, answer=resp)

    # -- journal ---------------------------------------------------------------
    def _record_state(self, slot: Slot, job: Job, state: PollResult) -> None:
        """Record a finished task: its video, or its failure; settle the budget."""
        s = slot.settings
        cost = video_cost(s, job.model, job.resolution, job.duration)
        if state.status != "succeeded" and state.error_code == "cancelled":  # cancelled while queued: not billed
            self.budget.settle(job.job_id, paid=False)
            self._end(job, JobStatus.CANCELLED, "cancelled", state.provider_code, state.message)
            return
        if state.status != "succeeded":
            charged = s.info.charges_failed  # data/providers.yaml: whether a failed task is billed
            self.budget.settle(job.job_id, paid=charged)
            self._end(job, JobStatus.FAILED, state.error_code or "task_failed", state.provider_code, state.message,
                      cost=(cost.credits, cost.usd) if charged else None)
            return
        self.budget.settle(job.job_id, paid=True)
        record = self.journal.finish(job.job_id, JobStatus.SUCCEEDED, video_url=state.video_url,
                                     url_expires_at=state.url_expires_at, cost=(cost.credits, cost.usd),
                                     file_id=state.file_id or None,
                                     finished_at=self.clock())
        self.on_finish(job, record)

    def _end(self, job: Job, status: JobStatus, code: str, provider_code: str, message: str, *,
             cost: tuple[float | None, float | None] | None = None) -> None:
        """Record a job's end other than success (empty texts are recorded as
        None; the message redacted, at most 1000 characters) and report it."""
        record = self.journal.finish(job.job_id, status, error_code=code or None,
                                     provider_code=provider_code or None,
                                     error_message=redact(message)[:1000] or None, cost=cost,
                                     finished_at=self.clock())
        self.on_finish(job, record)


def _unrecognised(exc: ProviderError) -> bool:
    """Whether ``exc`` is an answer the adapter does not understand: JSON of a
    shape it cannot read (an unknown status word, no task id or URL, other
    keys). An answer that is not JSON at all (cut short, a proxy's page) is
    kept too, but is the transient ``bad_response`` it always was: it neither
    opens the breaker nor ends a task."""
    return isinstance(exc.answer, HttpResponse) and exc.answer.json() is not None


def _on(job: Job, provider: str) -> Job:
    """``job`` as run on ``provider`` (the same object when it already is)."""
    return job if job.provider == provider else dataclasses.replace(job, provider=provider)
