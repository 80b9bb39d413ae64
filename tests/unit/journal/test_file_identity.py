"""A run's journal notices when the file at its path is no longer the one it opened:
no submit intent is recorded after that, task ids still are, and a copy keeps them."""

from __future__ import annotations

import os
import sqlite3

import pytest

from batch_runner.errors import JournalLostError
from batch_runner.jobs.model import Job
from batch_runner.journal import JobStatus, Journal


def job(job_id: str) -> Job:
    return Job(job_id=job_id, index=0, row=2, name="shot", variant=1, provider="gccai", model="hailuo-2.3",
               scene="t2v", prompt="a shot", image=None, end_image=None, duration=6, resolution="768P")


async def test_a_deleted_journal_records_no_intent_but_keeps_task_ids_for_its_copy(tmp_path):
    path = tmp_path / "j.sqlite"
    with Journal(path) as journal:
        journal.add_jobs([job("a"), job("b")])
        await journal.mark_submitting("a", "gccai")
        assert journal.check_file() is None
        for name in os.listdir(tmp_path):  # rm j.sqlite*
            os.unlink(tmp_path / name)
        await journal.mark_submitted("a", "task-a", 1000.0)  # a submit already on its way: its task id is kept
        with pytest.raises(JournalLostError, match="deleted or moved away"):
            await journal.mark_submitting("b", "gccai")
        b = journal.get("b")
        assert b is not None and b.status is JobStatus.PENDING and b.attempts == 0
        journal.save_copy(tmp_path / "copy.sqlite")
    with sqlite3.connect(tmp_path / "copy.sqlite") as db:
        assert db.execute("SELECT job_id, status, task_id FROM jobs ORDER BY job_id").fetchall() == [
            ("a", "submitted", "task-a"), ("b", "pending", None)]
    assert oct((tmp_path / "copy.sqlite").stat().st_mode & 0o777) == "0o600"


def test_a_journal_replaced_by_another_file_is_noticed_and_a_reader_never_checks(tmp_path):
    path = tmp_path / "j.sqlite"
    with Journal(path) as journal:
        (tmp_path / "other").write_bytes(path.read_bytes())
        os.replace(tmp_path / "other", path)
        assert journal.check_file() == "replaced by another file"
    with Journal(path, lock=False) as reader:
        os.replace(path, tmp_path / "moved.sqlite")
        assert reader.check_file() is None
