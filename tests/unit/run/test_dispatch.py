"""prepare: which jobs a run submits, polls again, or leaves; the Runner
sends nothing new once asked to stop."""

from __future__ import annotations

import dataclasses

from batch_runner.catalog.settings import ProviderSettings
from batch_runner.jobs.model import Job
from batch_runner.journal import JobStatus, Journal
from batch_runner.keys import Secret
from batch_runner.run.dispatch import Runner, RunOptions, prepare


def job(job_id: str, provider: str = "gccai") -> Job:
    return Job(job_id=job_id, index=0, row=2, name=job_id, variant=1, provider=provider, model="hailuo-2.3",
               scene="t2v", prompt="a shot", image=None, end_image=None, duration=6, resolution="768P")


SETTINGS = {n: ProviderSettings(name=n, base_url="http://127.0.0.1:9", api_key=Secret("k"), rpm=600,
                                max_in_flight=2, poll_interval_s=10.0, timeout_s=5.0)
            for n in ("gccai", "apiframe", "minimax")}
#: the provider of each job of ``journal_of`` (gccai by default): apiframe and gccai
#: dedupe by idempotency key, minimax does not
PROVIDER_OF = {"lost-idem": "apiframe", "lost": "minimax", "killed": "minimax"}


async def journal_of(tmp_path) -> Journal:
    """A journal an earlier run left: one job per state."""
    journal = Journal(tmp_path / "j.sqlite", lock=False)
    ids = ["new", "flying", "late", "failed", "lost", "lost-idem", "done", "skipped", "killed"]
    journal.add_jobs([job(i, PROVIDER_OF.get(i, "gccai")) for i in ids])
    for i in ids[1:]:
        await journal.mark_submitting(i, PROVIDER_OF.get(i, "gccai"))
    for i in ("flying", "late", "done"):
        await journal.mark_submitted(i, f"task-{i}", 1000.0)
    journal.finish("late", JobStatus.FAILED, error_code="timeout")
    journal.finish("failed", JobStatus.FAILED, error_code="task_failed")
    journal.finish("lost", JobStatus.UNKNOWN, error_code="unknown")
    journal.finish("lost-idem", JobStatus.UNKNOWN, error_code="unknown")
    journal.finish("done", JobStatus.SUCCEEDED, video_url="https://cdn.example/v.mp4")
    journal.finish("skipped", JobStatus.SKIPPED_BUDGET, error_code="budget")
    return journal  # "killed" is left submitting


def ids(work):
    return ([j.job_id for j, _ in work.resume], [j.job_id for j in work.fresh], [j.job_id for j in work.done])


async def test_prepare_sorts_jobs_by_what_an_earlier_run_left(tmp_path):
    journal = await journal_of(tmp_path)
    jobs = [job(r.job_id, r.provider) for r in journal.records()]
    with journal:
        work = prepare(journal, jobs, SETTINGS, RunOptions())
        resume, fresh, done = ids(work)
        assert resume == ["flying", "late"]  # a task id to poll again
        assert [r.task_id for _, r in work.resume] == ["task-flying", "task-late"]
        # apiframe dedupes by idempotency key: its unknown job is sent again (minimax's is not)
        assert fresh == ["new", "lost-idem", "skipped"]
        assert done == ["failed", "lost", "done", "killed"]  # killed mid-submit: now unknown
        killed = journal.get("killed")
        assert killed is not None and killed.status is JobStatus.UNKNOWN
        again = ids(prepare(journal, jobs, SETTINGS, RunOptions(retry_failed=True, resubmit_unknown=True)))
        assert again[1] == ["new", "failed", "lost", "lost-idem", "skipped", "killed"]


async def test_a_stopped_runner_submits_nothing_and_leaves_the_jobs_pending(tmp_path):
    sent = []

    class Transport:
        async def send(self, provider, request, timeout_s):
            sent.append(request)
            raise AssertionError("nothing is sent")

    with Journal(tmp_path / "j.sqlite", lock=False) as journal:
        jobs = [job("a"), job("b"), dataclasses.replace(job("c"), fallbacks=("apiframe",))]
        runner = Runner(prepare(journal, jobs, SETTINGS, RunOptions()), SETTINGS, journal, Transport())
        runner.request_stop()
        await runner.run()
        assert sent == [] and {r.status for r in journal.records()} == {JobStatus.PENDING}
