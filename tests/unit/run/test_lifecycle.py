"""One job's lifecycle on a fake clock, against a scripted provider: the poll
times, the Retry-After cap on polls, the deadline, submit retries and the
journal record the job ends with."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

from batch_runner.errors import ProviderError, TransportError
from batch_runner.jobs.model import Job
from batch_runner.journal import JobRecord, JobStatus, Journal
from batch_runner.providers import Adapter
from batch_runner.run.budget import Budget
from batch_runner.run.lifecycle import Lifecycle
from batch_runner.run.pacing import Pacer
from batch_runner.run.slot import Slot

from conftest import FakeClock
from conftest import provider_settings as settings

T0 = 1_700_000_000.0  # unix seconds of the submit




@dataclass
class State:
    """What a poll says (the fields the lifecycle reads of a providers TaskState)."""

    status: str
    video_url: str = ""
    url_expires_at: float | None = None
    error_code: str = ""
    provider_code: str = ""
    message: str = ""
    follow_up: object = None
    file_id: str = ""

    @property
    def finished(self) -> bool:
        return self.status in ("succeeded", "failed")


class ScriptedProvider(Adapter):
    """Adapter and transport in one: answers each request with the next item of
    ``script`` (a State, a task id, or an error to raise); records when each
    request was sent (clock time - T0)."""

    name = "gccai"
    #: as MiniMax's adapter: codes read as a rate limit once, then as a content refusal
    rate_or_content_codes = frozenset({"1002"})

    def __init__(self, clock: FakeClock, script: list):
        super().__init__()
        self.clock, self.script = clock, list(script)
        self.sent: list[tuple[str, float]] = []

    def build_submit(self, job):
        return ("submit", job.job_id)

    def submit_request(self, job, generation=0):
        return self.build_submit(job)

    def sent_idempotency_key(self, request):
        return None

    def build_poll(self, task_id):
        return ("poll", task_id)

    async def send(self, provider, request, timeout_s):
        self.sent.append((request[0], round(self.clock() - T0, 6)))
        answer = self.script.pop(0) if self.script else State("running")
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def read_submit(self, resp):
        return resp

    def read_poll(self, resp):
        return resp

    def parse_submit(self, resp):
        raise AssertionError("never called: read_submit answers the scripted item")

    def parse_poll(self, resp):
        raise AssertionError("never called: read_poll answers the scripted item")

    def times(self, kind: str) -> list[float]:
        return [t for k, t in self.sent if k == kind]




def a_job() -> Job:
    return Job(job_id="0123456789abcdef", index=0, row=2, name="shot", variant=1, provider="gccai",
               model="hailuo-2.3", scene="t2v", prompt="a shot", image=None, end_image=None,
               duration=6, resolution="768P")


@pytest.fixture
def run_one(tmp_path: Path):
    """run_one(script, resume=True, **settings) -> (provider, final record, on_finish calls)."""

    async def run(script, *, resume: bool = True, **kw):
        clock = FakeClock(T0)
        provider = ScriptedProvider(clock, script)
        s = settings(**kw)
        slot = Slot(s, provider, Pacer(s.rpm, clock=clock, sleep=clock.sleep), asyncio.Semaphore(1))
        finished: list[JobRecord] = []
        with Journal(tmp_path / "j.sqlite", lock=False) as journal:
            job = a_job()
            journal.add_jobs([job])
            record = None
            if resume:
                await journal.mark_submitting(job.job_id, "gccai")
                await journal.mark_submitted(job.job_id, "task-1", T0)
                record = journal.get(job.job_id)
            life = Lifecycle(journal, provider, Budget(), lambda name: slot, on_finish=lambda j, r: finished.append(r),
                             stopping=lambda: False, clock=clock, sleep=clock.sleep)
            await slot.in_flight.acquire()
            await life.carry(slot, job, record)
            final = journal.get(job.job_id)
        assert slot.in_flight.locked() is False  # the in-flight place is given back
        return provider, final, finished

    return run


async def test_polls_follow_the_schedule_from_the_submit_and_the_record_is_returned(run_one):
    provider, final, finished = await run_one(
        [State("running"), State("running"), State("succeeded", video_url="https://cdn.example/v.mp4")])
    assert provider.times("poll") == [80.0, 85.0, 90.0]  # 0.8 T, then every interval / 2
    assert final.status == JobStatus.SUCCEEDED and final.video_url == "https://cdn.example/v.mp4"
    assert final.finished_at - final.submitted_at == 90.0  # unix seconds, on the run's clock
    assert final.cost_usd == pytest.approx(0.2928)  # gccai 768P 6 s (data/providers.yaml)
    assert finished == [final]  # on_finish gets the journal's record, once


async def test_a_polls_retry_after_waits_at_most_120_s(run_one):
    slow_down = ProviderError("gccai", "rate_limited", "slow", retryable=True, http_status=429,
                              retry_after=1000.0)
    provider, final, _ = await run_one([slow_down, State("succeeded", video_url="https://cdn.example/v.mp4")])
    assert provider.times("poll") == [80.0, 200.0]  # 80 + 120, not 80 + 1000
    assert final.status == JobStatus.SUCCEEDED


async def test_a_task_past_its_deadline_fails_timeout_and_stays_resumable(run_one):
    provider, final, finished = await run_one([], task_timeout_s=100.0)
    polls = provider.times("poll")
    assert polls[0] == 80.0 and polls[-1] == 100.0 and all(b > a for a, b in pairwise(polls))
    assert final.status == JobStatus.FAILED and final.error_code == "timeout" and final.task_id == "task-1"
    assert final.resumable  # a later run polls it again
    assert [r.status for r in finished] == [JobStatus.FAILED]


async def test_a_permanent_poll_error_fails_the_job_after_max_attempts_in_a_row(run_one):
    gone = ProviderError("gccai", "not_found", "no such task", retryable=False, http_status=404)
    provider, final, _ = await run_one([gone, gone, gone], max_attempts=3)
    assert len(provider.times("poll")) == 3
    assert final.status == JobStatus.FAILED and final.error_code == "not_found"


async def test_submit_retries_then_polls_from_the_accepted_submit(run_one):
    busy = ProviderError("gccai", "provider_error", "busy", retryable=True, http_status=503, retry_after=30.0)
    provider, final, _ = await run_one(
        [busy, "task-9", State("succeeded", video_url="https://cdn.example/v.mp4")], resume=False)
    submits = provider.times("submit")
    assert len(submits) == 2 and submits[1] - submits[0] == pytest.approx(30.0, abs=0.01)
    assert provider.times("poll") == [pytest.approx(submits[1] + 80.0, abs=0.01)]
    assert final.status == JobStatus.SUCCEEDED and final.task_id == "task-9" and final.attempts == 2


async def test_a_submit_whose_answer_was_lost_ends_unknown_and_is_not_sent_again(run_one):
    # on a provider that does not dedupe by idempotency key (gccai now does: data/providers.yaml)
    lost = TransportError("minimax", "timeout", "read timed out", maybe_sent=True)
    provider, final, finished = await run_one([lost], resume=False, name="minimax")
    assert len(provider.times("submit")) == 1 and provider.times("poll") == []
    assert final.status == JobStatus.UNKNOWN and final.error_code == "unknown"
    assert finished == [final]


async def test_failover_moves_the_in_flight_place_and_gives_back_the_one_it_ends_on(tmp_path):
    # gccai's breaker is open (a dead key): the job moves to apiframe, where its
    # image cannot be read; the place taken on apiframe is the one given back
    clock = FakeClock(T0)
    provider = ScriptedProvider(clock, [])
    slots = {}
    for name in ("gccai", "apiframe"):
        s = settings(name=name)
        slots[name] = Slot(s, provider, Pacer(s.rpm, clock=clock, sleep=clock.sleep), asyncio.Semaphore(1))
    slots["gccai"].breaker = ProviderError("gccai", "auth", "bad key", http_status=401)
    job = Job(**{**a_job().__dict__, "fallbacks": ("apiframe",), "scene": "i2v", "image": "missing.png"})
    finished: list[JobRecord] = []
    with Journal(tmp_path / "j.sqlite", lock=False) as journal:
        journal.add_jobs([job])
        life = Lifecycle(journal, provider, Budget(), slots.__getitem__, on_finish=lambda j, r: finished.append(r),
                         stopping=lambda: False, clock=clock, sleep=clock.sleep)
        await slots["gccai"].in_flight.acquire()
        await life.carry(slots["gccai"], job)
    assert [(r.status, r.error_code) for r in finished] == [(JobStatus.FAILED, "invalid_request")]
    assert provider.sent == []
    for slot in slots.values():  # each semaphore back to its one place: none lost, none made up
        assert slot.in_flight._value == 1, slot.name


def minimax_1002() -> ProviderError:
    return ProviderError("minimax", "rate_limited", "rate limit", retryable=True, http_status=200,
                         provider_code="1002")


async def test_a_1002_that_comes_again_after_the_pause_is_a_content_refusal_not_minutes_of_retries(run_one):
    # MiniMax's CLI reads 1002 as its content filter, its error table as a rate limit:
    # once is a rate limit (waited out), twice for the same job is the filter
    provider, final, _ = await run_one([minimax_1002(), minimax_1002(), "task-9"], resume=False, max_attempts=5)
    assert len(provider.times("submit")) == 2  # not the five tries of a rate limit
    assert (final.status, final.error_code, final.provider_code) == (JobStatus.FAILED, "content_policy", "1002")
    assert "again after the pause" in (final.error_message or "")


async def test_a_single_1002_is_a_rate_limit_waited_out(run_one):
    provider, final, _ = await run_one([minimax_1002(), "task-9", State("succeeded", video_url="https://cdn.example/v.mp4")],
                                       resume=False)
    assert len(provider.times("submit")) == 2 and final.status == JobStatus.SUCCEEDED


async def test_a_1002_again_on_a_key_rate_limited_meanwhile_is_still_a_rate_limit(run_one):
    # another rate-limit answer on the key between the two 1002s: the key is under a real limit
    limited = ProviderError("minimax", "rate_limited", "slow down", retryable=True, http_status=429)
    provider, final, _ = await run_one([minimax_1002(), limited, minimax_1002(), "task-9",
                                        State("succeeded", video_url="https://cdn.example/v.mp4")],
                                       resume=False, max_attempts=5)
    assert len(provider.times("submit")) == 4 and final.status == JobStatus.SUCCEEDED
