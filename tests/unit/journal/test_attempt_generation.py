"""The journal's attempt generation and idempotency key: a journal made before
they existed gains the columns, and a submit's generation follows the job's fate."""

from __future__ import annotations

import sqlite3

from batch_runner.jobs.model import Job
from batch_runner.journal import JobRecord, JobStatus, Journal

OLD_SCHEMA = """
CREATE TABLE jobs (job_id TEXT PRIMARY KEY, job TEXT NOT NULL, provider TEXT NOT NULL, status TEXT NOT NULL,
    task_id TEXT, attempts INTEGER NOT NULL DEFAULT 0, submitted_at REAL, finished_at REAL, video_url TEXT,
    url_expires_at REAL, cost_credits REAL, cost_usd REAL, error_code TEXT, provider_code TEXT,
    error_message TEXT, providers_tried TEXT, updated_at REAL NOT NULL);
INSERT INTO jobs (job_id, job, provider, status, attempts, error_code, updated_at)
    VALUES ('lost', '{}', 'apiframe', 'unknown', 1, 'unknown', 1.0);
"""


def job(job_id: str) -> Job:
    return Job(job_id=job_id, index=0, row=2, name="shot", variant=1, provider="apiframe", model="hailuo-2.3",
               scene="t2v", prompt="a shot", image=None, end_image=None, duration=6, resolution="768P")


def stored(journal: Journal, job_id: str) -> JobRecord:
    """The job's record in the journal (the test fails when there is none)."""
    record = journal.get(job_id)
    assert record is not None, f"no record of {job_id!r} in the journal"
    return record


def test_a_journal_from_before_the_columns_gains_them_and_keeps_its_records(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    db.close()
    with Journal(path) as journal:
        record = journal.get("lost")
        assert record is not None and record.status is JobStatus.UNKNOWN
        assert (record.generation, record.idempotency_key, record.submit_generation) == (0, None, 0)
    with Journal(path) as journal:  # opening it again changes nothing
        assert stored(journal, "lost").generation == 0


async def test_the_generation_stays_for_an_unknown_resend_and_grows_for_a_new_attempt(tmp_path):
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.add_jobs([job("a")])
        assert stored(journal, "a").submit_generation == 0  # never sent
        await journal.mark_submitting("a", "apiframe", generation=0, idempotency_key="k0")
        assert stored(journal, "a").submit_generation == 0  # a retry within the run: the same key
        journal.finish("a", JobStatus.UNKNOWN)
        assert stored(journal, "a").submit_generation == 0  # its answer lost: sent again with the same key
        await journal.mark_submitting("a", "apiframe", generation=0, idempotency_key="k0")
        journal.finish("a", JobStatus.FAILED, error_code="task_failed")
        assert stored(journal, "a").submit_generation == 1  # --retry-failed: a new attempt
        await journal.mark_submitting("a", "apiframe", generation=1, idempotency_key="k1")
        record = stored(journal, "a")
        assert (record.generation, record.idempotency_key, record.attempts) == (1, "k1", 3)
        journal.finish("a", JobStatus.SUCCEEDED, video_url="https://cdn.example/v.mp4")
        assert stored(journal, "a").submit_generation == 2  # a re-roll of a finished job: a new attempt too
