"""What checking the journal file's identity costs: one os.stat per durable commit batch.

    python bench/journal_identity.py        # a few seconds
    python bench/journal_identity.py --smoke  # 30 jobs, 2 rounds (CI)

A run's SQLite journal checks, at each group commit of its durable writes (a
submit's intent, a task id), that the file at its path is still the one it
opened (device and inode: journal.Journal.check_file). This times N durable
writes (mark_submitting then mark_submitted, each its own FULL-sync commit, as
in a run that submits one job at a time) with the check and without it (the
journal's identity cleared), in alternating rounds, and one os.stat alone.
Prints the median time per commit of each and the difference.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from batch_runner.jobs.model import Job  # noqa: E402
from batch_runner.journal import Journal  # noqa: E402

JOBS = 300
ROUNDS = 10


def job(i: int) -> Job:
    return Job(job_id=f"j{i}", index=i, row=i + 2, name="", variant=1, provider="gccai", model="hailuo-2.3",
               scene="text-to-video", prompt=f"shot {i}", image=None, end_image=None, duration=6,
               resolution="768P")


async def commits(journal: Journal, start: int) -> float:
    """Seconds per durable commit over JOBS jobs (two commits each)."""
    t = time.perf_counter()
    for i in range(start, start + JOBS):
        await journal.mark_submitting(f"j{i}", "gccai", key_id="key1:00000000")
        await journal.mark_submitted(f"j{i}", f"task-{i}", time.time())
    return (time.perf_counter() - t) / (2 * JOBS)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.journal.sqlite"
        with Journal(path) as journal:
            journal.add_jobs([job(i) for i in range(2 * JOBS * ROUNDS)])
            identity = journal._identity
            checked, unchecked = [], []
            for r in range(ROUNDS):
                for on in (r % 2 == 0, r % 2 == 1):
                    journal._identity = identity if on else None
                    (checked if on else unchecked).append(await commits(journal, len(checked + unchecked) * JOBS))
            journal._identity = identity
            n = 20000
            t = time.perf_counter()
            for _ in range(n):
                journal.check_file()
            stat_s = (time.perf_counter() - t) / n
    on, off = statistics.median(checked), statistics.median(unchecked)
    print(f"durable commit, with the identity check:    {on * 1e3:8.3f} ms (median of {ROUNDS} rounds of {2 * JOBS})")
    print(f"durable commit, without it:                 {off * 1e3:8.3f} ms")
    print(f"difference:                                 {(on - off) * 1e3:+8.3f} ms ({(on - off) / off:+.1%})")
    print(f"one check alone (os.stat + compare):        {stat_s * 1e6:8.2f} µs ({stat_s / off:.2%} of a commit)")


if __name__ == "__main__":
    if "-h" in sys.argv[1:] or "--help" in sys.argv[1:]:
        print(__doc__)
        sys.exit(0)
    if "--smoke" in sys.argv[1:]:
        JOBS, ROUNDS = 30, 2
    asyncio.run(main())
