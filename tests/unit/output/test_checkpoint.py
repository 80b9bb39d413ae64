"""The results file a run writes again every 30 s: the bytes of a full write, from a
reader connection of its own, only the changed jobs made into rows again."""

from __future__ import annotations

import dataclasses
import threading

from batch_runner.jobs.model import Job
from batch_runner.journal import JobStatus, Journal
from batch_runner.output.checkpoint import Checkpoint
from batch_runner.output.results import write_results


def job(i: int, **extras: object) -> Job:
    return Job(job_id=f"{i:016x}", index=i, row=2 + i, name=f"shot {i}", variant=1, provider="gccai",
               model="hailuo-2.3", scene="t2v", prompt=["a shot", "=1+2", "@x"][i % 3], image=None, end_image=None,
               duration=6, resolution="768P", extras=extras or {"sku": f"SKU{i}"})


def full_write(journal: Journal, path, order: list[str]) -> bytes:
    """What write_results writes from the same records, in the manifest's order."""
    by_id = {r.job_id: r for r in journal.records()}
    write_results(path, [by_id[j] for j in order if j in by_id], manifest_ids=set(order))
    return path.read_bytes()


async def test_each_checkpoint_is_the_full_write_and_makes_only_the_changed_rows(tmp_path):
    out, same = tmp_path / "results.csv", tmp_path / "full.csv"
    jobs = [job(i) for i in range(40)]
    order = [j.job_id for j in reversed(jobs)]  # the manifest's order is not the journal's
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.add_jobs(jobs)
        checkpoint = Checkpoint(out, journal, order)
        checkpoint.write()
        assert out.read_bytes() == full_write(journal, same, order)
        assert out.read_bytes().startswith(b"\xef\xbb\xbf\"job_id\"")  # Excel's UTF-8 mark, then the header
        checkpoint.write()
        assert checkpoint.made == 0  # nothing changed: no row made again
        await succeed(journal, jobs[3])  # columns get their first costs and times: every line again, once
        checkpoint.write()
        assert checkpoint.made == 1 + 40
        assert out.read_bytes() == full_write(journal, same, order)
        await succeed(journal, jobs[7])  # the same kinds of values: only its line is made
        checkpoint.write()
        assert checkpoint.made == 1
        assert out.read_bytes() == full_write(journal, same, order)
        await journal.mark_submitting(jobs[5].job_id, "gccai", "gccai")  # a credits cost among blanks
        journal.finish(jobs[5].job_id, JobStatus.FAILED, error_code="content_policy", cost=(2, None))
        checkpoint.write()
        assert out.read_bytes() == full_write(journal, same, order)
        assert b',2.0,' in out.read_bytes()  # a column of numbers with blanks holds floats, as ever


async def succeed(journal: Journal, one: Job) -> None:
    await journal.mark_submitting(one.job_id, "gccai", "gccai")
    await journal.mark_submitted(one.job_id, f"task-{one.index}", 1000.0)
    journal.finish(one.job_id, JobStatus.SUCCEEDED, video_url=f"https://cdn.example/{one.index}.mp4",
                   cost=(None, 0.29), finished_at=1090.5)


async def test_a_removed_row_that_may_have_cost_money_comes_after_the_manifest_rows(tmp_path):
    out, same = tmp_path / "results.csv", tmp_path / "full.csv"
    jobs = [job(i) for i in range(6)] + [job(9, colour="red")]
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.add_jobs(jobs)
        await journal.mark_submitting(jobs[-1].job_id, "gccai", "gccai")
        await journal.mark_submitted(jobs[-1].job_id, "task-9", 1000.0)  # paid, perhaps: listed
        order = [j.job_id for j in jobs[:6]]
        Checkpoint(out, journal, order).write()
        by_id = {r.job_id: r for r in journal.records()}
        write_results(same, [by_id[j] for j in order] + [by_id[jobs[-1].job_id]], manifest_ids=set(order))
        assert out.read_bytes() == same.read_bytes()
        assert b'"colour"' in out.read_bytes().splitlines()[0] and b'"no"' in out.read_bytes().splitlines()[-1]


async def test_a_checkpoint_reads_on_its_own_connection_while_the_run_writes(tmp_path):
    out = tmp_path / "results.csv"
    jobs = [job(i) for i in range(200)]
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.add_jobs(jobs)
        checkpoint = Checkpoint(out, journal, [j.job_id for j in jobs])
        errors: list[BaseException] = []

        def writes() -> None:
            try:
                for _ in range(5):
                    checkpoint.write()
            except BaseException as exc:  # the test reports it
                errors.append(exc)

        thread = threading.Thread(target=writes)
        thread.start()
        for j in jobs[:100]:  # the run goes on writing the journal meanwhile
            journal.finish(j.job_id, JobStatus.FAILED, error_code="timeout")
        thread.join()
        assert not errors
        checkpoint.write()
        assert out.read_bytes().count(b'"timeout"') == 100
        checkpoint.close()
        journal.finish(jobs[150].job_id, JobStatus.FAILED, error_code="timeout")
        checkpoint.write()  # closed: the run's last write is the last one
        assert out.read_bytes().count(b'"timeout"') == 100


def test_a_record_is_hashable_and_equal_by_its_fields():
    record = dataclasses.replace(_any_record(), cost_usd=0.3)
    assert hash(record) == hash(dataclasses.replace(record)) and record != dataclasses.replace(record, attempts=2)


def _any_record():
    from batch_runner.journal import JobRecord

    return JobRecord(job_id="a", job='{"row": 2}', status=JobStatus.SUCCEEDED)
