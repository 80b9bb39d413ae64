"""The journal: every job's state, durably, so no paid task is lost or paid twice.

``records.py`` holds the records every journal shares (JobStatus, JobRecord,
Capture, Push); ``sqlite.py`` is the embedded journal (one file beside the
manifest, one run at a time); ``postgres.py`` keeps a named campaign in PostgreSQL
for several workers (claims, leases, limits shared per key), the
``coordination.py`` Protocol that run/ works through; ``copy.py`` copies a campaign
between the two (``batch-runner journal copy``). The names below are imported
from here by the later stages.
"""

from batch_runner.journal.records import (
    FINAL_STATUSES,
    RESUMABLE_FAILURES,
    Capture,
    JobRecord,
    JobStatus,
    Push,
)
from batch_runner.journal.sqlite import (
    ClaimLostError,
    Journal,
    JournalError,
    journal_in_use,
    lock_path,
    status_word,
)

__all__ = ["FINAL_STATUSES", "RESUMABLE_FAILURES", "Capture", "ClaimLostError", "JobRecord", "JobStatus", "Journal",
           "JournalError", "Push", "journal_in_use", "lock_path", "status_word"]
