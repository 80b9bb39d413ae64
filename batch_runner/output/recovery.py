"""What a run leaves when its journal file was deleted, moved or replaced under it.

The run still holds the journal open (journal.Journal.check_file noticed the
file at its path is no longer that one): its records are copied to a file
beside the results (SQLite's online backup of the open connection), and the one
line the command prints names what happened, where the copy is and what to do.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from batch_runner.errors import JournalLostError
from batch_runner.journal import JobStatus, Journal

__all__ = ["lost_journal", "recovery_path"]


def recovery_path(journal: Path, output: Path, now: float | None = None) -> Path:
    """Where the copy of a lost journal goes: beside the results ``output``,
    ``<journal name>.recovered-<UTC time>.sqlite`` (``now``: unix seconds, default now)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    return output.parent / f"{journal.name}.recovered-{stamp}.sqlite"


def lost_journal(journal: Journal, output: Path) -> JournalLostError:
    """Save a copy of the records of ``journal`` (whose file was lost: ``journal.lost``
    says how) beside the results ``output``, which the caller has written; return
    the error to raise: one line naming what happened, the copy, and what to do."""
    records = list(journal.records())
    tasks = sum(1 for r in records if r.task_id)
    flying = sum(1 for r in records if r.status == JobStatus.SUBMITTED)
    what = (f"the journal {journal.path} was {journal.lost} during the run: no job was submitted after that "
            f"was noticed")
    copy = recovery_path(journal.path, output)
    for n in range(2, 10):
        if not copy.exists():
            break
        copy = copy.with_name(f"{copy.stem}-{n}.sqlite")
    try:
        journal.save_copy(copy)
    except (OSError, sqlite3.Error) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return JournalLostError(f"{what}; its records could not be copied to {copy} ({why}), but the results "
                                f"{output} list its {tasks} task ids: rebuild the journal from them with "
                                f"batch-runner journal rebuild {output} --journal {journal.path}, then run the "
                                "same command again (its tasks are polled, not paid again)")
    return JournalLostError(f"{what}. Its records ({tasks} task ids, {flying} still in flight) are saved in {copy} "
                            f"and the results in {output}: put the copy back (mv {copy} {journal.path}) and run "
                            "the same command again (its tasks are polled, not paid again)")
