"""Journal records: typed, round-tripped through SQLite, and the one rule of
which jobs a run polls again instead of submitting."""

from __future__ import annotations

import sqlite3

import pytest

from batch_runner.jobs.model import Job
from batch_runner.journal import JobRecord, JobStatus, Journal, status_word


def job(job_id: str = "0123456789abcdef") -> Job:
    return Job(job_id=job_id, index=0, row=2, name="shot", variant=1, provider="gccai", model="hailuo-2.3",
               scene="t2v", prompt="a shot", image=None, end_image=None, duration=6, resolution="768P")


async def test_a_job_goes_through_the_journal_as_a_typed_record(tmp_path):
    with Journal(tmp_path / "j.sqlite", lock=False) as journal:
        journal.add_jobs([job()])
        pending = journal.get("0123456789abcdef")
        assert pending is not None and pending.status is JobStatus.PENDING
        await journal.mark_submitting("0123456789abcdef", "gccai", "gccai")
        await journal.mark_submitted("0123456789abcdef", "task-1", 1000.0)
        record = journal.finish("0123456789abcdef", JobStatus.SUCCEEDED, video_url="https://cdn.example/v.mp4",
                                url_expires_at=2000.0, cost=(None, 0.29), finished_at=1090.0)
        assert record == journal.get("0123456789abcdef") == journal.snapshot()["0123456789abcdef"]
        assert (record.status, record.task_id, record.attempts, record.submitted_at, record.finished_at) == (
            JobStatus.SUCCEEDED, "task-1", 1, 1000.0, 1090.0)
        assert (record.video_url, record.cost_usd, record.cost_credits, record.providers_tried) == (
            "https://cdn.example/v.mp4", 0.29, None, "gccai")
        assert record.job_fields()["prompt"] == "a shot" and record.local_path is None
        journal.record_download("0123456789abcdef", "/videos/v.mp4", 123, "ab" * 32, "https://cdn.example/v.mp4")
        saved = next(journal.records())
        assert (saved.local_path, saved.size_bytes, saved.sha256) == ("/videos/v.mp4", 123, "ab" * 32)
        with pytest.raises(KeyError):
            journal.finish("no-such-job", JobStatus.FAILED)
    with sqlite3.connect(tmp_path / "j.sqlite") as db:  # the stored words did not change
        assert db.execute("SELECT status FROM jobs").fetchone() == ("succeeded",)


async def test_a_failure_keeps_the_video_url_and_cost_unless_given_and_pending_clears_the_end(tmp_path):
    with Journal(tmp_path / "j.sqlite", lock=False) as journal:
        journal.add_jobs([job()])
        failed = journal.finish("0123456789abcdef", JobStatus.FAILED, error_code="timeout", error_message="late")
        assert (failed.error_code, failed.error_message, failed.cost_usd) == ("timeout", "late", None)
        journal.mark_pending("0123456789abcdef")
        again = journal.get("0123456789abcdef")
        assert again is not None
        assert (again.status, again.finished_at, again.error_code, again.error_message) == (
            JobStatus.PENDING, None, None, None)


async def test_a_submit_without_its_answer_is_unknown_when_the_next_run_starts(tmp_path):
    with Journal(tmp_path / "j.sqlite", lock=False) as journal:
        journal.add_jobs([job("a"), job("b")])
        await journal.mark_submitting("a", "gccai")
        assert journal.recover_unknown() == 1
        a, b = journal.get("a"), journal.get("b")
        assert a is not None and b is not None
        assert a.status is JobStatus.UNKNOWN and b.status is JobStatus.PENDING


@pytest.mark.parametrize("record, resumable", [
    (JobRecord("j", status=JobStatus.SUBMITTED, task_id="t"), True),
    (JobRecord("j", status=JobStatus.FAILED, task_id="t", error_code="timeout"), True),
    (JobRecord("j", status=JobStatus.FAILED, task_id="t", error_code="task_failed"), False),
    (JobRecord("j", status=JobStatus.FAILED, error_code="timeout"), False),  # no task id to poll
    (JobRecord("j", status=JobStatus.UNKNOWN, task_id=None), False),
    (JobRecord("j", status=JobStatus.SUCCEEDED, task_id="t"), False),
])
def test_resumable_is_a_task_id_in_flight_or_timed_out(record, resumable):
    assert record.resumable is resumable


def test_status_words_of_status_and_dry_run():
    assert status_word(JobStatus.SUBMITTED) == "in_flight"
    assert status_word(JobStatus.SUBMITTING) == "unknown"
    assert status_word(JobStatus.SUBMITTING, in_use=True) == "in_flight"
    assert status_word("skipped_budget") == "skipped_budget"
    assert type(status_word(JobStatus.FAILED)) is str
