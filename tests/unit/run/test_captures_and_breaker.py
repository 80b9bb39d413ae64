"""Answers the adapter cannot read, on a fake clock against the real gccai adapter
with scripted HTTP answers: each is kept (redacted, bounded), counted on the
provider's breaker, and a task whose answers were all unreadable ends
``unrecognised_answer`` after ``max_unreadable_answers`` of them, its task id kept."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from batch_runner.errors import ERROR_CODES, ProviderError
from batch_runner.jobs.model import Job
from batch_runner.journal import JobRecord, JobStatus, Journal
from batch_runner.keys import remember_keys
from batch_runner.providers import ADAPTERS, HttpRequest, HttpResponse
from batch_runner.run.budget import Budget
from batch_runner.run.captures import MAX_BODY_CHARS, Captures, clean_json, request_summary
from batch_runner.run.lifecycle import Lifecycle
from batch_runner.run.pacing import Pacer
from batch_runner.run.slot import Slot

from conftest import FakeClock
from conftest import provider_settings as settings

T0 = 1_700_000_000.0
DRIFT = json.dumps({"ok": True, "result": {"phase": "COMPLETE_V2"}}).encode()
RUNNING = json.dumps({"code": 200, "data": {"status": "processing", "progress": 10}}).encode()


def answer(body: bytes, status: int = 200) -> HttpResponse:
    return HttpResponse(status, {"content-type": "application/json"}, body)


class Scripted:
    """A transport answering each request with the next scripted HttpResponse
    (then ``rest`` forever); records (kind, seconds after T0)."""

    def __init__(self, clock: FakeClock, script: list[HttpResponse], rest: HttpResponse):
        self.clock, self.script, self.rest = clock, list(script), rest
        self.sent: list[tuple[str, float]] = []

    async def send(self, provider: str, req: HttpRequest, timeout_s: float) -> HttpResponse:
        self.sent.append((req.method, round(self.clock() - T0, 6)))
        return self.script.pop(0) if self.script else self.rest


def a_job(n: int = 0) -> Job:
    return Job(job_id=f"{n:016x}", index=n, row=2 + n, name=f"shot{n}", variant=1, provider="gccai",
               model="hailuo-2.3", scene="text-to-video", prompt="a shot", image=None, end_image=None,
               duration=6, resolution="768P")




async def follow(tmp_path: Path, script: list[HttpResponse], rest: HttpResponse, **kw):
    """Poll task ``task-1`` of one job to its end; (transport, final record, slot, journal path)."""
    clock = FakeClock(T0)
    s = settings(**kw)
    transport = Scripted(clock, script, rest)
    slot = Slot(s, ADAPTERS["gccai"](s.base_url, s.api_key), Pacer(s.rpm, clock=clock, sleep=clock.sleep),
                asyncio.Semaphore(1))
    finished: list[JobRecord] = []
    path = tmp_path / "j.sqlite"
    with Journal(path, lock=False) as journal:
        job = a_job()
        journal.add_jobs([job])
        await journal.mark_submitting(job.job_id, "gccai")
        await journal.mark_submitted(job.job_id, "task-1", T0)
        life = Lifecycle(journal, transport, Budget(), lambda name: slot, on_finish=lambda j, r: finished.append(r),
                         stopping=lambda: False, clock=clock, sleep=clock.sleep)
        await slot.in_flight.acquire()
        await life.carry(slot, job, journal.get(job.job_id))
        final = journal.get(job.job_id)
        captures = journal.captures()
    assert finished == [final]
    return transport, final, slot, path, captures


def test_unrecognised_answer_is_an_error_code_of_its_own():
    assert "unrecognised_answer" in ERROR_CODES


async def test_a_task_whose_answers_are_all_unreadable_ends_after_that_many_not_at_its_deadline(tmp_path):
    transport, final, slot, path, captures = await follow(tmp_path, [], answer(DRIFT))
    assert len(transport.sent) == 3  # max_unreadable_answers (default 3) polls, then it ends
    assert transport.sent[-1][1] < 1800  # far before the 30-minute deadline
    assert final.status == JobStatus.FAILED and final.error_code == "unrecognised_answer"
    assert final.task_id == "task-1" and final.resumable  # the next run polls it again
    assert "COMPLETE_V2" in final.error_message  # an excerpt of the answer
    files = [Path(c.file) for c in captures if c.file]
    assert len(captures) == 3 and len(files) == 3
    assert all(f.parent == Path(f"{path}.captures") and f.name.startswith("gccai-0000000000000000-") for f in files)
    assert str(files[-1]) in final.error_message  # the job's error names the capture file
    kept = json.loads(files[0].read_text(encoding="utf-8"))
    assert kept["request"]["method"] == "GET" and kept["request"]["url"].endswith("/v1/tasks/task-1")
    assert kept["request"]["headers"]["Authorization"] == "[redacted]"
    assert kept["response"] == {"status": 200, "headers": {"content-type": "application/json"},
                                "body": DRIFT.decode()}
    assert slot.breaker is not None and slot.breaker.error_code == "unrecognised_answer"


async def test_a_task_read_once_is_polled_to_its_deadline_and_ends_timeout(tmp_path):
    transport, final, slot, _, captures = await follow(tmp_path, [answer(RUNNING)], answer(DRIFT),
                                                       task_timeout_s=300.0)
    assert final.error_code == "timeout" and final.resumable
    # polled to the deadline; its answer there unreadable, tried max_attempts (3) times at the deadline's pace
    assert [t for _, t in transport.sent if t >= 300.0] == [300.0, 310.0, 320.0]
    assert slot.breaker is not None and slot.breaker.error_code == "unrecognised_answer"
    assert len(captures) == len(transport.sent) - 1  # every unreadable answer is recorded
    assert len([c for c in captures if c.file]) == 5  # files: at most MAX_PER_JOB per job and run


async def test_a_setting_sets_how_many_unreadable_answers_end_a_task(tmp_path):
    transport, final, _, _, _ = await follow(tmp_path, [], answer(DRIFT), max_unreadable_answers=5)
    assert len(transport.sent) == 5 and final.error_code == "unrecognised_answer"


def test_the_breaker_opens_after_that_many_in_a_row_only():
    s = settings(max_unreadable_answers=3)
    slot = Slot(s, ADAPTERS["gccai"](s.base_url, s.api_key), Pacer(s.rpm), asyncio.Semaphore(1))
    slot.unreadable()
    slot.unreadable()
    slot.readable()  # a readable answer in between: the count starts again
    slot.unreadable()
    slot.unreadable()
    assert slot.breaker is None
    slot.unreadable("x.json")
    assert isinstance(slot.breaker, ProviderError) and slot.breaker.error_code == "unrecognised_answer"
    assert "x.json" in slot.breaker.provider_message


def test_a_capture_redacts_keys_and_cuts_image_data_and_long_bodies(tmp_path):
    key = "sk-capture-test-0123456789abcdef"
    remember_keys({"GCCAI_API_KEY": key})
    image = "data:image/png;base64," + "iVBORw0KGgo" * 10_000
    req = HttpRequest("POST", f"http://127.0.0.1:9/v1/videos?key={key}",
                      {"Authorization": f"Bearer {key}", "X-Trace": key}, {"image": image, "prompt": "p"})
    summary = request_summary(req)
    text = json.dumps(summary)
    assert key not in text and summary["headers"]["Authorization"] == "[redacted]"
    assert summary["json"]["image"].startswith("data:image/png;base64,iVBOR") and len(summary["json"]["image"]) < 100
    assert clean_json({"a": ["word " * 1000]}, limit=10)["a"][0] == "word word ...[4990 more characters cut]"
    with Journal(tmp_path / "j.sqlite", lock=False) as journal:
        journal.add_jobs([a_job()])
        body = (f'{{"echo": "{key}", "blob": "' + "A" * 50_000 + '", "tail": "' + "é" * 20_000 + '"}').encode()
        path = Captures(journal).keep("gccai", a_job().job_id, req, answer(body), f"no data object ({key})")
        assert path is not None
        written = path.read_text(encoding="utf-8")
        assert key not in written
        kept = json.loads(written)
        assert len(kept["response"]["body"]) <= MAX_BODY_CHARS + 50
        assert kept["response"]["body"].endswith("more characters cut]")
        (row,) = journal.captures()
        assert row.file == str(path) and key not in row.body + row.reason + json.dumps(row.request)


@pytest.mark.parametrize("code", ["timeout", "unrecognised_answer"])
def test_a_failed_task_with_a_task_id_is_resumable(code):
    assert JobRecord("j", status=JobStatus.FAILED, task_id="t", error_code=code).resumable
    assert not JobRecord("j", status=JobStatus.FAILED, task_id=None, error_code=code).resumable
    assert not JobRecord("j", status=JobStatus.FAILED, task_id="t", error_code="bad_response").resumable


async def test_answers_that_are_not_json_are_kept_but_stay_transient(tmp_path):
    cut = answer(b'{"code": 200, "data": {"sta')  # cut short in transit: not a new shape
    _, final, slot, _, captures = await follow(tmp_path, [cut] * 6, answer(RUNNING), task_timeout_s=300.0)
    assert final.error_code == "timeout"  # polled to its deadline, as any transient fault
    assert slot.breaker is None
    assert len(captures) == 6  # kept all the same
