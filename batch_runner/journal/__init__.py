"""The journal: every job's state, durably, so no paid task is lost or paid twice.

``sqlite.py`` is the embedded journal (one file beside the manifest, one run at a
time) and holds the records every journal shares (JobRecord, JobStatus,
Capture); ``postgres.py`` keeps a named campaign in PostgreSQL for several
workers (claims, leases, limits shared per key); ``copy.py`` copies a campaign
between the two (``batch-runner journal copy``). The names below are the SQLite
journal's, imported from here by the later stages.
"""

from batch_runner.journal.sqlite import (
    FINAL_STATUSES,
    RESUMABLE_FAILURES,
    Capture,
    ClaimLostError,
    JobRecord,
    JobStatus,
    Journal,
    JournalError,
    Push,
    journal_in_use,
    lock_path,
    status_word,
)

__all__ = ["FINAL_STATUSES", "RESUMABLE_FAILURES", "Capture", "ClaimLostError", "JobRecord", "JobStatus", "Journal",
           "JournalError", "Push", "journal_in_use", "lock_path", "status_word"]
