"""The journal: every job's state in SQLite, so no paid task is lost or paid twice.

One row per job_id (stdlib sqlite3, WAL mode). The runner records a submit's
intent (``submitting``) before sending it and its task id (``submitted``)
before doing anything else with it: those two writes are committed with
``synchronous=FULL`` (on disk, even through a power cut). A job's end
(succeeded / failed) is committed with ``synchronous=NORMAL`` (safe against a
crash of the process; a power cut may lose it, and the next run then polls the
task again from its recorded task id: nothing is paid twice). A job found
``submitting`` when a run starts is ``unknown``: possibly submitted, task id
not received.

Job statuses: pending (not yet sent) -> submitting -> submitted (task id known,
in flight) -> succeeded | failed; unknown; skipped_budget (not sent: over a
budget cap; submitted by a later run whose budget allows it). The journal file is
locked for the life of a run (``fcntl.flock`` on ``<journal>.lock``): a second
run on the same journal raises StateLockedError at once.

A run's journal remembers the file it opened (device and inode) and checks it
at each durable commit batch (``check_file``, one ``os.stat``): once the file at
its path is gone or another one, no submit intent is recorded any more (the
submit is not sent), task ids still are (into the open file), and the run saves
a copy of the records (``save_copy``) and stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batch_runner.errors import ConfigError, JournalLostError, StateLockedError
from batch_runner.journal.records import (
    Capture,
    JobRecord,
    JobStatus,
    Push,
    record_maker,
)

if TYPE_CHECKING:
    from batch_runner.jobs.model import Job
    from batch_runner.journal.coordination import Coordination

__all__ = ["ClaimLostError", "Journal", "JournalError", "journal_in_use", "lock_path", "status_word"]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    job TEXT NOT NULL,            -- the job's fields as JSON (results can be rebuilt from here)
    provider TEXT NOT NULL,
    status TEXT NOT NULL,
    task_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    submitted_at REAL,            -- unix seconds
    finished_at REAL,
    video_url TEXT,
    url_expires_at REAL,
    cost_credits REAL,
    cost_usd REAL,
    error_code TEXT,
    provider_code TEXT,
    error_message TEXT,
    providers_tried TEXT,
    updated_at REAL NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0,  -- deliberate new attempts (--retry-failed, a re-roll)
    idempotency_key TEXT,         -- the Idempotency-Key header of the last submit sent (None: none sent)
    key_id TEXT                   -- the pool key of the last submit sent: label:fingerprint, never the key
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS downloads (  -- run --download: one saved video per job
    job_id TEXT PRIMARY KEY,
    local_path TEXT NOT NULL,     -- absolute path of the complete file
    bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    url TEXT,
    saved_at REAL NOT NULL        -- unix seconds
);
CREATE TABLE IF NOT EXISTS download_intents (  -- run --download: a video this job started writing
    job_id TEXT PRIMARY KEY,
    local_path TEXT NOT NULL,     -- absolute path it is written to (through .<name>.part), before the first byte
    started_at REAL NOT NULL      -- unix seconds
);
CREATE TABLE IF NOT EXISTS attempts (  -- a job's earlier tasks, replaced by a later submit (re-roll, retry)
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    generation INTEGER NOT NULL,
    provider TEXT NOT NULL,
    task_id TEXT NOT NULL,
    key_id TEXT,
    status TEXT NOT NULL,         -- the job's status when the task was replaced
    error_code TEXT,
    cost_usd REAL,                -- NULL: not charged, or (paid = 1) its USD price unknown
    cost_credits REAL,
    paid INTEGER NOT NULL,        -- 1: the task succeeded or was charged
    submitted_at REAL,
    finished_at REAL,
    replaced_at REAL NOT NULL     -- unix seconds
);
CREATE TABLE IF NOT EXISTS qa (  -- QA of each job's saved video (output/qa.py); re-rolls of QA failures
    job_id TEXT PRIMARY KEY,
    status TEXT,                  -- passed, failed, warning, skipped; NULL: not checked (yet, or since a re-roll)
    problems TEXT,                -- problem codes joined by ';'
    details TEXT,                 -- one line per problem, joined by newlines
    width INTEGER,                -- px
    height INTEGER,               -- px
    duration_s REAL,
    codec TEXT,
    fps REAL,
    sha256 TEXT,                  -- the file checked
    checked_at REAL,              -- unix seconds
    rerolls INTEGER NOT NULL DEFAULT 0,  -- QA-failed videos replaced by a new generation (run --reroll-qa-failed)
    rerolled_usd REAL NOT NULL DEFAULT 0,      -- what the replaced videos cost, USD
    rerolled_credits REAL NOT NULL DEFAULT 0   -- ... and in the provider's credits
);
CREATE TABLE IF NOT EXISTS deliveries (  -- run --deliver: each file copied to the team's storage (output/deliver.py)
    url TEXT PRIMARY KEY,         -- where the copy is: the --deliver URL + its name (never a credential)
    job_id TEXT,                  -- the job whose video or poster it is; NULL: a file of the run (results, report)
    kind TEXT NOT NULL,           -- video, poster, results, report, contact_sheet
    bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,         -- of the file delivered (also the object's sha256 metadata)
    delivered_at REAL NOT NULL    -- unix seconds
);
CREATE TABLE IF NOT EXISTS reviews (  -- a person's verdict on a job's video (batch-runner review, output/review.py)
    job_id TEXT NOT NULL,
    task_key TEXT NOT NULL,       -- the task judged: its task id ('' for none); a new submit's video starts unjudged
    verdict TEXT,                 -- approved, rejected; NULL: none (only a note)
    note TEXT,                    -- review_note; 'prompt: ...' gives a re-roll's replacement prompt
    prompt TEXT,                  -- the job's prompt when the verdict was recorded
    recorded_at REAL NOT NULL,    -- unix seconds
    PRIMARY KEY (job_id, task_key)
);
CREATE TABLE IF NOT EXISTS captures (  -- answers an adapter could not read (run/captures.py)
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    captured_at REAL NOT NULL,    -- unix seconds
    request TEXT NOT NULL,        -- the request's summary as JSON (keys redacted)
    status INTEGER NOT NULL,      -- the answer's HTTP status
    headers TEXT NOT NULL,        -- the answer's headers as JSON
    body TEXT NOT NULL,           -- the answer's body excerpt (redacted, bounded)
    reason TEXT NOT NULL,         -- what the adapter found wrong
    file TEXT                     -- the capture file's path, when written
);
CREATE TABLE IF NOT EXISTS pushes (  -- callback pushes a `batch-runner receive` service accepted (run/callbacks.py)
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,     -- the attempt generation its callback path names
    body TEXT NOT NULL,           -- the push's raw body (at most 256 KiB; a hint: only a task id is read)
    signature TEXT,               -- its x-webhook-signature header (apiframe), checked by the worker
    received_at REAL NOT NULL     -- unix seconds (a shared journal: the database's clock)
);
"""
#: Columns added since the first journals: (name, SQL type and default), added to an
#: older journal's ``jobs`` table when it is opened (ALTER TABLE ADD COLUMN).
_ADDED_COLUMNS = (
    ("generation", "INTEGER NOT NULL DEFAULT 0"),
    ("idempotency_key", "TEXT"),
    ("key_id", "TEXT"),
    ("file_id", "TEXT"),  # MiniMax / gpt.ge: files/retrieve turns it into a fresh video URL
)
#: what a JobRecord reads besides ``jobs.*``: its saved video and that video's QA
#: (every journal selects these, joined on the job: the PostgreSQL one too)
_RECORD_COLUMNS = ("downloads.local_path, downloads.bytes, downloads.sha256, qa.status AS qa_status, "
                   "qa.problems AS qa_problems, qa.details AS qa_details, qa.width AS video_width, "
                   "qa.height AS video_height, qa.duration_s AS video_duration_s, qa.codec AS video_codec, "
                   "qa.fps AS video_fps, qa.rerolls AS rerolls, qa.rerolled_usd AS rerolled_usd, "
                   "qa.rerolled_credits AS rerolled_credits, earlier.earlier_attempts, earlier.earlier_paid, "
                   "earlier.earlier_usd, earlier.earlier_unknown_usd, earlier.earlier_credits, "
                   "earlier.earlier_task_ids, {review} AS review, {note} AS review_note, "
                   "(SELECT COUNT(*) FROM reviews r2 WHERE r2.job_id = jobs.job_id{same_r2} "
                   "AND r2.verdict = 'rejected' AND r2.task_key <> COALESCE(jobs.task_id, '')) AS review_rerolls")
#: a column of the verdict on a job's current task (table ``reviews``); ``{same}``: a shared journal's campaign
_REVIEW_OF = ("(SELECT rv.{column} FROM reviews rv WHERE rv.job_id = jobs.job_id{same} "
              "AND rv.task_key = COALESCE(jobs.task_id, ''))")


def _record_columns(same: str) -> str:
    """_RECORD_COLUMNS with the review subqueries; ``same``: how a shared journal
    keeps them to the job's campaign (a condition on ``{t}.campaign``)."""
    return _RECORD_COLUMNS.format(
        review=_REVIEW_OF.format(column="verdict", same=same.format(t="rv")),
        note=_REVIEW_OF.format(column="note", same=same.format(t="rv")), same_r2=same.format(t="r2"))


#: a job's earlier attempts (table ``attempts``) summed, joined as ``earlier``: ``{keys}`` the
#: grouping columns, ``{task_ids}`` the ``;``-joined task ids oldest first, ``{source}`` the rows
_EARLIER = ("SELECT {keys}, COUNT(*) AS earlier_attempts, CAST(SUM(paid) AS INTEGER) AS earlier_paid, "
            "SUM(CASE WHEN paid=1 THEN cost_usd END) AS earlier_usd, "
            "CAST(SUM(CASE WHEN paid=1 AND cost_usd IS NULL THEN 1 ELSE 0 END) AS INTEGER) AS earlier_unknown_usd, "
            "SUM(CASE WHEN paid=1 THEN cost_credits END) AS earlier_credits, {task_ids} AS earlier_task_ids "
            "FROM {source} GROUP BY {keys}")
#: a job's delivered video (run --deliver), the latest copy: the ``delivered_url`` of its record
_DELIVERED = ("(SELECT d.url FROM deliveries d WHERE d.job_id = jobs.job_id AND d.kind = 'video'{same} "
              "ORDER BY d.delivered_at DESC LIMIT 1) AS delivered_url")
_SELECT = (f"SELECT jobs.*, {_record_columns('')}, {_DELIVERED.format(same='')} FROM jobs "
           "LEFT JOIN downloads USING (job_id) LEFT JOIN qa USING (job_id) LEFT JOIN ("
           + _EARLIER.format(keys="job_id", task_ids="group_concat(task_id, ';')",
                             source="(SELECT * FROM attempts ORDER BY id)")
           + ") AS earlier USING (job_id)")
#: before a new submit: the job's task so far becomes a row of ``attempts`` (params: now, job_id[, more])
_ARCHIVE = ("INSERT INTO attempts (job_id, generation, provider, task_id, key_id, status, error_code, cost_usd, "
            "cost_credits, paid, submitted_at, finished_at, replaced_at) SELECT job_id, generation, provider, "
            "task_id, key_id, status, error_code, cost_usd, cost_credits, CASE WHEN status='succeeded' OR "
            "cost_usd IS NOT NULL OR cost_credits IS NOT NULL THEN 1 ELSE 0 END, submitted_at, finished_at, {mark} "
            "FROM jobs WHERE job_id={mark} AND task_id IS NOT NULL")
#: what a new submit clears of the task it replaces (kept in ``attempts``)
_CLEARED = "task_id=NULL, video_url=NULL, url_expires_at=NULL, cost_usd=NULL, cost_credits=NULL"

def _job_json(job: Job) -> str:
    data = dict(job.__dict__)
    return json.dumps(data, ensure_ascii=False, default=str)


def _identity(path: Path) -> tuple[int, int]:
    """The (device, inode) of the file at ``path``; raises OSError."""
    st = os.stat(path)
    return st.st_dev, st.st_ino


def lock_path(path: str | Path) -> str:
    """The lock file of the journal at ``path``: ``<journal>.lock`` beside it."""
    return f"{path}.lock"


def journal_in_use(path: str | Path) -> bool:
    """Whether a run holds the journal at ``path`` now (its lock is taken)."""
    try:
        fd = os.open(lock_path(path), os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def status_word(status: str, *, in_use: bool = False) -> str:
    """A journal status (a JobStatus or its word) in the words ``status`` and
    ``run --dry-run`` print: ``submitted`` is ``in_flight``; ``submitting`` is
    ``unknown`` (possibly submitted), or ``in_flight`` while a run holds the
    journal (``in_use``); the others are their own word."""
    if status == JobStatus.SUBMITTED or (status == JobStatus.SUBMITTING and in_use):
        return "in_flight"
    return str(JobStatus.UNKNOWN if status == JobStatus.SUBMITTING else status)


class ClaimLostError(Exception):
    """A shared journal's job is now claimed by another worker (journal/postgres.py):
    this worker sends nothing more for it. Never raised by the SQLite journal."""


class JournalError(ConfigError):
    """A journal file that cannot be used: not a batch-runner journal, damaged,
    or not creatable / writable. The message names the path (exit status 2)."""


def _journal_error(path: Path, exc: sqlite3.Error | OSError) -> JournalError:
    """A clear message for a journal that SQLite or the file system refused."""
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
        return JournalError(f"{path}: cannot open the journal: {text}{where}")
    if "not a database" in text:
        return JournalError(f"{path}: not a batch-runner journal (not an SQLite file)")
    if "malformed" in text or "corrupt" in text:
        return JournalError(f"{path}: the journal is damaged ({text}); restore it from a backup "
                            "(a new journal would submit every job again)")
    return JournalError(f"{path}: cannot open the journal: {text}")


class Journal:
    """A run's durable state at ``path`` (SQLite). Use as a context manager.

    ``lock=False`` opens an existing journal to read it (``status``,
    ``results``): a file without the journal's tables is refused then.
    Raises StateLockedError when another process holds the journal, and
    JournalError when the file is not a journal, is damaged or cannot be
    created or written. ``shared``: several workers use it at once (its
    ``coordination``: journal.postgres.PgJournal), so each job is claimed before it
    is worked on.
    """

    #: claims, leases and limits shared with other workers (journal/coordination.py):
    #: None for a journal one run uses at a time
    coordination: Coordination | None = None
    #: why the file at ``path`` is no longer the journal opened (check_file); a database is never lost
    lost: str | None = None
    _identity: tuple[int, int] | None = None

    @property
    def shared(self) -> bool:
        """Whether several workers use this journal at once (it has a ``coordination``)."""
        return self.coordination is not None

    def __init__(self, path: str | Path, *, lock: bool = True):
        self.path = Path(path)
        self._lock_fd: int | None = None
        try:
            self._open(lock)
        except BaseException as exc:
            self._release()
            if isinstance(exc, (sqlite3.Error, OSError)):
                raise _journal_error(self.path, exc) from None
            raise
        self._pending: list[tuple[str, tuple[Any, ...], bool]] = []
        self._flushed: asyncio.Future[bool] | None = None
        self._identity = _identity(self.path) if lock else None

    def check_file(self) -> str | None:
        """Whether the file at ``path`` is still the journal this run opened (the
        same device and inode; one ``os.stat``): None when it is, else why not, in
        a few words (remembered: once lost, always lost). A journal opened without
        the lock (to read it) is never checked."""
        if self.lost is None and self._identity is not None:
            try:
                now = _identity(self.path)
            except FileNotFoundError:
                self.lost = "deleted or moved away"
            except OSError as exc:
                self.lost = f"no longer readable ({exc.strerror or exc})"
            else:
                if now != self._identity:
                    self.lost = "replaced by another file"
        return self.lost

    def save_copy(self, dest: Path) -> None:
        """Copy every record of the open journal to a new SQLite file ``dest``
        (SQLite's online backup, which reads the open connection: it works after
        the journal's file was deleted). ``dest`` is one file (rollback journal
        mode), created 0600. Raises OSError or sqlite3.Error when it cannot be written."""
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        target = sqlite3.connect(dest)
        try:
            self.db.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()

    def _open(self, lock: bool) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self._check(lock)  # before the lock file is made, so a wrong file gets none beside it
        if lock:
            self._lock()
        # Two connections to one WAL file: ``db`` (synchronous=NORMAL) for reads and
        # for writes a crash of the process cannot lose; ``_full`` (synchronous=FULL)
        # for the records that must survive a power cut. A FULL commit syncs the
        # whole WAL, earlier NORMAL frames included.
        self.db = self._connect("NORMAL")
        self.db.executescript(_SCHEMA)
        self._migrate()
        self._full = self._connect("FULL")

    def _check(self, lock: bool) -> None:
        """Raise JournalError unless the existing file is a journal (an empty
        file is one only for a run, ``lock``), sqlite3.DatabaseError if it is
        damaged."""
        db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "jobs" not in tables and (tables or not lock):  # someone else's database, or an empty file
                raise JournalError(f"{self.path}: not a batch-runner journal "
                                   "(empty, or an SQLite file without its jobs table)")
            bad = [r[0] for r in db.execute("PRAGMA quick_check")] if tables else ["ok"]
            if bad != ["ok"]:
                raise sqlite3.DatabaseError("database disk image is malformed: " + "; ".join(bad[:3]))
        finally:
            db.close()

    def _migrate(self) -> None:
        """Add the columns a journal made by an older version lacks (their defaults
        keep its records' meaning: generation 0, no idempotency key recorded)."""
        have = {r[1] for r in self.db.execute("PRAGMA table_info(jobs)")}
        for name, decl in _ADDED_COLUMNS:
            if name not in have:
                self.db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {decl}")

    def _connect(self, synchronous: str) -> sqlite3.Connection:
        with contextlib.suppress(FileExistsError):  # a new journal is private (0600); SQLite gives its WAL the same
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        return db

    def _lock(self) -> None:
        fd = os.open(lock_path(self.path), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StateLockedError(
                f"another batch-runner run is using {self.path} (lock held); "
                "wait for it to finish, or use another --journal"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def close(self) -> None:
        """Close the database and release the lock."""
        self._release()

    def _release(self) -> None:
        for name in ("_full", "db"):  # after a failed open, whichever connection exists
            if hasattr(self, name):
                getattr(self, name).close()
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing --------------------------------------------------------------
    def add_jobs(self, jobs: Iterable[Job]) -> None:
        """Record new jobs as pending; jobs already recorded keep their state but
        take the manifest's current row fields (name, extras, row number)."""
        now = time.time()
        with self.db:
            self.db.execute("BEGIN")
            for job in jobs:
                self.db.execute(
                    "INSERT INTO jobs (job_id, job, provider, status, updated_at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT(job_id) DO UPDATE SET job=excluded.job",
                    (job.job_id, _job_json(job), job.provider, JobStatus.PENDING, now),
                )

    def _update(self, job_id: str, **fields: Any) -> None:
        """Set columns of one job and commit (synchronous=NORMAL: safe against a
        crash of the process; the records a power cut must not lose go through
        ``mark_submitting`` / ``mark_submitted``)."""
        fields["updated_at"] = time.time()
        cols = ", ".join(f"{k}=?" for k in fields)
        self.db.execute(f"UPDATE jobs SET {cols} WHERE job_id=?", (*fields.values(), job_id))

    def finish(
        self,
        job_id: str,
        status: JobStatus,
        *,
        error_code: str | None = None,
        provider_code: str | None = None,
        error_message: str | None = None,
        video_url: str | None = None,
        url_expires_at: float | None = None,
        cost: tuple[float | None, float | None] | None = None,
        finished_at: float | None = None,
        file_id: str | None = None,
    ) -> JobRecord:
        """Record a job's end (``status``: succeeded, failed, unknown or
        skipped_budget) at ``finished_at`` (unix seconds, default now), with
        its error (None clears it), and for a succeeded job its ``video_url``,
        ``url_expires_at`` (unix seconds) and ``file_id`` (None: none known). ``cost``: (credits, USD) the
        provider charged, recorded as given; None leaves the recorded cost.
        Returns the job's record as it now is. Raises KeyError for a job not
        in the journal."""
        fields: dict[str, Any] = {
            "status": status, "finished_at": time.time() if finished_at is None else finished_at,
            "error_code": error_code,
            "provider_code": provider_code, "error_message": error_message,
        }
        if status == JobStatus.SUCCEEDED:
            fields.update(video_url=video_url, url_expires_at=url_expires_at, file_id=file_id)
        if cost is not None:
            fields.update(cost_credits=cost[0], cost_usd=cost[1])
        self._update(job_id, **fields)
        record = self.get(job_id)
        if record is None:
            raise KeyError(job_id)
        return record

    def record_url(self, job_id: str, video_url: str, url_expires_at: float | None) -> None:
        """Replace a succeeded job's video URL by a fresh one (``url_expires_at``:
        unix seconds, None: unknown), read again from its provider for free
        (run/url_refresh.py); its status, cost and download stay as they are."""
        self._update(job_id, video_url=video_url, url_expires_at=url_expires_at)

    def mark_pending(self, job_id: str) -> None:
        """Put a job back to ``pending`` (not sent: the next run submits it),
        its error and end time cleared."""
        self._update(job_id, status=JobStatus.PENDING, finished_at=None, error_code=None,
                     provider_code=None, error_message=None)

    def mark_not_sent(self, job_id: str) -> None:
        """A submit the provider answered with a refusal (or that never left):
        the job is ``pending`` again, nothing else changed (a shared journal's
        claim kept), so a kill before its next try leaves no ``unknown``."""
        self._update(job_id, status=JobStatus.PENDING)

    async def _durably(self, *statements: tuple[str, tuple[Any, ...]], intent: bool = False) -> bool:
        """Run ``statements`` (sql, params) in a FULL-sync commit shared with every
        other durable write of this event-loop tick (group commit); return once
        it is on disk. Each batch first checks that the journal file is still the
        one opened (check_file): when it is not, an ``intent`` (a submit about to
        be sent) is not recorded and True is returned (the caller must not send
        it); the other writes (task ids) still go to the open file."""
        self._pending.extend((sql, params, intent) for sql, params in statements)
        if self._flushed is None:
            self._flushed = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(self._flush)
        lost = await asyncio.shield(self._flushed)
        return lost and intent

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        done, self._flushed = self._flushed, None
        lost = self.check_file() is not None
        statements = [(sql, params) for sql, params, intent in pending if not (lost and intent)]
        try:
            if len(statements) == 1:  # a statement is its own transaction
                self._full.execute(*statements[0])
            elif statements:
                with self._full:
                    self._full.execute("BEGIN")
                    for sql, params in statements:
                        self._full.execute(sql, params)
        except Exception as exc:
            if done is not None:
                done.set_exception(exc)
            return
        if done is not None:
            done.set_result(lost)

    async def mark_submitting(self, job_id: str, provider: str, providers_tried: str | None = None, *,
                              generation: int | None = None, idempotency_key: str | None = None,
                              key_id: str | None = None) -> None:
        """Record the intent to submit, durably, before the request is sent:
        with the attempt ``generation`` it uses (None: unchanged), the
        ``idempotency_key`` header it carries (None: none sent) and the pool
        ``key_id`` that sends it. A task the job already has (an earlier
        attempt: a re-roll, a retry of a failed task) becomes a row of
        ``attempts`` in the same commit, with its cost, so no paid attempt is lost.
        Raises JournalLostError, with nothing recorded, when the journal file is
        no longer the one opened (the submit must not be sent)."""
        now = time.time()
        lost = await self._durably(
            (_ARCHIVE.format(mark="?"), (now, job_id)),
            ("UPDATE jobs SET status=?, provider=?, providers_tried=COALESCE(?, providers_tried), "
             f"attempts=attempts+1, generation=COALESCE(?, generation), idempotency_key=?, key_id=?, {_CLEARED}, "
             "updated_at=? WHERE job_id=?",
             (JobStatus.SUBMITTING, provider, providers_tried, generation, idempotency_key, key_id, now, job_id)),
            intent=True,
        )
        if lost:
            raise JournalLostError(f"{self.path}: the journal was {self.lost}")

    async def mark_submitted(self, job_id: str, task_id: str, submitted_at: float) -> None:
        """Record a task id durably: on disk before the caller does anything else."""
        await self._durably((
            "UPDATE jobs SET status=?, task_id=?, submitted_at=?, error_code=NULL, provider_code=NULL, "
            "error_message=NULL, updated_at=? WHERE job_id=?",
            (JobStatus.SUBMITTED, task_id, submitted_at, time.time(), job_id),
        ))

    def record_download(self, job_id: str, local_path: str, nbytes: int, sha256: str, url: str) -> None:
        """Record a job's video saved complete at ``local_path`` (``nbytes`` bytes)."""
        self.db.execute(
            "INSERT INTO downloads (job_id, local_path, bytes, sha256, url, saved_at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(job_id) DO UPDATE SET local_path=excluded.local_path, bytes=excluded.bytes, "
            "sha256=excluded.sha256, url=excluded.url, saved_at=excluded.saved_at",
            (job_id, local_path, nbytes, sha256, url, time.time()),
        )

    def record_download_intent(self, job_id: str, local_path: str) -> None:
        """Record, before its first byte is written, that ``job_id``'s video is
        being written to ``local_path`` (absolute): only a file the journal says
        this job started writing is ever taken as its video (output/download.py)."""
        self.db.execute("INSERT INTO download_intents (job_id, local_path, started_at) VALUES (?, ?, ?) "
                        "ON CONFLICT(job_id) DO UPDATE SET local_path=excluded.local_path, "
                        "started_at=excluded.started_at", (job_id, local_path, time.time()))

    def download_intent(self, job_id: str) -> str | None:
        """The path ``job_id``'s video was last started being written to, or None."""
        row = self.db.execute("SELECT local_path FROM download_intents WHERE job_id=?", (job_id,)).fetchone()
        return str(row[0]) if row else None
    def record_delivery(self, url: str, job_id: str | None, kind: str, nbytes: int, sha256: str) -> None:
        """Record a file copied whole to ``url`` (table ``deliveries``): ``kind``
        video / poster (of ``job_id``) or results / report / contact_sheet (``job_id`` None)."""
        self.db.execute(
            "INSERT INTO deliveries (url, job_id, kind, bytes, sha256, delivered_at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(url) DO UPDATE SET job_id=excluded.job_id, kind=excluded.kind, bytes=excluded.bytes, "
            "sha256=excluded.sha256, delivered_at=excluded.delivered_at",
            (url, job_id, kind, nbytes, sha256, time.time()),
        )

    def delivery(self, url: str) -> dict[str, Any] | None:
        """The delivery recorded at ``url`` (``job_id``, ``kind``, ``bytes``, ``sha256``,
        ``delivered_at``: unix seconds), or None."""
        row = self.db.execute("SELECT * FROM deliveries WHERE url=?", (url,)).fetchone()
        return dict(row) if row else None

    def add_capture(self, capture: Capture) -> None:
        """Record an answer an adapter could not read (table ``captures``)."""
        self.db.execute(
            "INSERT INTO captures (job_id, provider, captured_at, request, status, headers, body, reason, file) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (capture.job_id, capture.provider, capture.captured_at, json.dumps(capture.request, ensure_ascii=False),
             capture.status, json.dumps(capture.headers, ensure_ascii=False), capture.body, capture.reason,
             capture.file),
        )

    def captures(self, job_id: str | None = None) -> list[Capture]:
        """The captures recorded (of ``job_id``, or every one), oldest first."""
        rows = self.db.execute("SELECT * FROM captures WHERE (? IS NULL OR job_id=?) ORDER BY id",
                               (job_id, job_id)).fetchall()
        return [Capture(r["job_id"], r["provider"], r["captured_at"], json.loads(r["request"]), r["status"],
                        json.loads(r["headers"]), r["body"], r["reason"], r["file"]) for r in rows]

    def download(self, job_id: str) -> dict[str, Any] | None:
        """The saved video recorded for ``job_id`` (``local_path``: absolute path,
        ``bytes``, ``sha256``: hex digest, ``url``, ``saved_at``: unix seconds), or None."""
        row = self.db.execute("SELECT * FROM downloads WHERE job_id=?", (job_id,)).fetchone()
        return dict(row) if row else None

    def download_owner(self, local_path: str) -> str | None:
        """The job_id whose saved video is recorded at ``local_path`` (absolute), or None."""
        row = self.db.execute("SELECT job_id FROM downloads WHERE local_path=?", (local_path,)).fetchone()
        return str(row[0]) if row else None

    def record_qa(self, job_id: str, result: Any, sha256: str | None) -> None:
        """Record the QA of ``job_id``'s saved video: ``result`` has output/qa.py
        QaResult's attributes (status, problems and details as sequences of
        text, width, height, duration_s, codec, fps); ``sha256``: the file checked."""
        self.db.execute(
            "INSERT INTO qa (job_id, status, problems, details, width, height, duration_s, codec, fps, sha256, "
            "checked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(job_id) DO UPDATE SET "
            "status=excluded.status, problems=excluded.problems, details=excluded.details, width=excluded.width, "
            "height=excluded.height, duration_s=excluded.duration_s, codec=excluded.codec, fps=excluded.fps, "
            "sha256=excluded.sha256, checked_at=excluded.checked_at",
            (job_id, result.status, ";".join(result.problems), "\n".join(result.details), result.width,
             result.height, result.duration_s, result.codec, result.fps, sha256, time.time()),
        )

    def qa_checked(self, job_id: str) -> str | None:
        """The SHA-256 of the saved video of ``job_id`` that QA last checked, or None."""
        row = self.db.execute("SELECT sha256 FROM qa WHERE job_id=? AND status IS NOT NULL", (job_id,)).fetchone()
        return str(row[0]) if row and row[0] else None

    def start_reroll(self, record: JobRecord) -> None:
        """A QA-failed job is submitted again (a new generation): its saved
        video (and the intent to write it) and QA are forgotten, its re-roll counted and its cost so far kept
        in ``rerolled_usd`` / ``rerolled_credits``."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM downloads WHERE job_id=?", (record.job_id,))
            self.db.execute("DELETE FROM download_intents WHERE job_id=?", (record.job_id,))
            self.db.execute(
                "INSERT INTO qa (job_id, rerolls, rerolled_usd, rerolled_credits) VALUES (?, 1, ?, ?) "
                "ON CONFLICT(job_id) DO UPDATE SET status=NULL, problems=NULL, details=NULL, width=NULL, "
                "height=NULL, duration_s=NULL, codec=NULL, fps=NULL, sha256=NULL, checked_at=NULL, "
                "rerolls=rerolls+1, rerolled_usd=rerolled_usd+excluded.rerolled_usd, "
                "rerolled_credits=rerolled_credits+excluded.rerolled_credits",
                (record.job_id, record.cost_usd or 0.0, record.cost_credits or 0.0))

    def record_review(self, job_id: str, task_id: str | None, verdict: str | None, note: str | None,
                      prompt: str | None) -> None:
        """Record a person's ``verdict`` (approved, rejected, None: none) and
        ``note`` on ``job_id``'s task ``task_id`` (table ``reviews``; both None:
        the review is cleared), with the job's ``prompt`` at the time."""
        key = task_id or ""
        if verdict is None and not note:
            self.db.execute("DELETE FROM reviews WHERE job_id=? AND task_key=?", (job_id, key))
            return
        self.db.execute(
            "INSERT INTO reviews (job_id, task_key, verdict, note, prompt, recorded_at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(job_id, task_key) DO UPDATE SET verdict=excluded.verdict, note=excluded.note, "
            "prompt=excluded.prompt, recorded_at=excluded.recorded_at",
            (job_id, key, verdict, note, prompt, time.time()))

    def forget_download(self, job_id: str) -> None:
        """Drop the record of ``job_id``'s saved video (its file is gone)."""
        self.db.execute("DELETE FROM downloads WHERE job_id=?", (job_id,))

    def recover_unknown(self) -> int:
        """Jobs left ``submitting`` by a killed run become ``unknown``; returns how many."""
        cur = self.db.execute(
            "UPDATE jobs SET status=?, error_code='unknown', error_message=?, updated_at=? WHERE status=?",
            (JobStatus.UNKNOWN, "a submit was sent but its answer was not recorded: possibly submitted",
             time.time(), JobStatus.SUBMITTING),
        )
        return cur.rowcount

    # -- reading --------------------------------------------------------------
    def get(self, job_id: str) -> JobRecord | None:
        """One job's record (with its download, if saved), or None."""
        row = self.db.execute(f"{_SELECT} WHERE job_id=?", (job_id,)).fetchone()
        return JobRecord.from_row(row) if row else None

    def snapshot(self) -> dict[str, JobRecord]:
        """Every job's record by job_id (one query)."""
        return {r.job_id: r for r in self.records()}

    def records(self) -> Iterator[JobRecord]:
        """Every job's record, in insertion order."""
        yield from self._records(self.db)

    @staticmethod
    def _records(db: sqlite3.Connection) -> Iterator[JobRecord]:
        cursor = db.cursor()
        cursor.row_factory = None  # plain tuples, turned into records by position
        cursor.execute(f"{_SELECT} ORDER BY jobs.rowid")
        make = record_maker(tuple(d[0] for d in cursor.description))
        for row in cursor:
            yield make(row)

    @contextlib.contextmanager
    def reader(self) -> Iterator[Journal]:
        """A view of this journal on a connection of its own, for reading in another
        thread (``records()`` only) while this one writes; closed on leaving.
        Raises JournalError when the file cannot be opened."""
        view = object.__new__(Journal)
        try:
            view.db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
        except sqlite3.Error as exc:
            raise _journal_error(self.path, exc) from None
        try:
            yield view
        finally:
            view.db.close()

    def meta_items(self, prefix: str) -> list[tuple[str, str]]:
        """The journal's own facts (table ``meta``) whose key starts with ``prefix``."""
        return self.db.execute("SELECT key, value FROM meta WHERE key LIKE ? || '%'", (prefix,)).fetchall()

    def set_meta(self, items: dict[str, str]) -> None:
        """Record facts about the journal itself (key -> text), e.g. where its tasks live."""
        if items:
            with self.db:
                self.db.execute("BEGIN")
                self.db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", items.items())

    def meta_setdefault(self, key: str, value: str) -> str:
        """The value of ``meta`` ``key``, recorded as ``value`` first when there is none
        (atomic: of two processes that both try, both get the first one's)."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value))
        return str(self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()[0])

    def record_push(self, job_id: str, attempt: int, body: str, signature: str | None) -> None:
        """Record one accepted callback push (``batch-runner receive``), committed."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("INSERT INTO pushes (job_id, attempt, body, signature, received_at) "
                            "VALUES (?, ?, ?, ?, ?)", (job_id, attempt, body, signature, time.time()))

    def pushes(self, since: float) -> list[Push]:
        """The pushes recorded at or after ``since`` (unix seconds), oldest first."""
        rows = self.db.execute("SELECT id, job_id, attempt, body, signature, received_at FROM pushes "
                               "WHERE received_at >= ? ORDER BY id", (since,)).fetchall()
        return [Push(*tuple(r)) for r in rows]

    def clock(self) -> float:
        """The clock ``pushes`` stamps ``received_at`` with (unix seconds)."""
        return time.time()

    def providers_with_tasks(self) -> set[str]:
        """Providers that hold a task of this journal (a task id, or a submit that may have made one)."""
        rows = self.db.execute(
            "SELECT DISTINCT provider FROM jobs WHERE task_id IS NOT NULL OR status IN (?, ?)",
            (JobStatus.SUBMITTING, JobStatus.UNKNOWN)).fetchall()
        return {r[0] for r in rows}

    def video_urls(self, provider: str | None = None, limit: int = 1) -> list[str]:
        """Up to ``limit`` video URLs of finished tasks (of ``provider``, or of any)."""
        rows = self.db.execute(
            "SELECT video_url FROM jobs WHERE (? IS NULL OR provider=?) AND video_url IS NOT NULL LIMIT ?",
            (provider, provider, limit)).fetchall()
        return [r[0] for r in rows]

    @property
    def where(self) -> str:
        """The journal as messages name it: its file (a shared journal: its URL and campaign)."""
        return str(self.path)

    def counts(self) -> dict[str, int]:
        """Number of jobs per status."""
        return dict(self.db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall())
