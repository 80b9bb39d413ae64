"""The journal in PostgreSQL: one database holds many campaigns, several workers share one.

``run --journal postgresql://USER@HOST/DB`` keeps a campaign's records in
PostgreSQL (psycopg 3, a psycopg_pool pool) with the guarantees of the SQLite
journal: the intent to submit, the task id and the job's end are each committed
(``synchronous_commit`` on: on the server's disk) before the runner goes on.
The tables are the SQLite journal's (``journal._SCHEMA`` and
``journal._ADDED_COLUMNS``, read through an in-memory SQLite database, so a
column added there is added here too), each with a ``campaign`` column first:
one database holds many campaigns.

Several workers (``batch-runner run`` processes, on one host or several) work on
one campaign together. Each job is claimed before it is worked on
(``SELECT ... FOR UPDATE SKIP LOCKED``, then a lease: ``claimed_by``,
``lease_until``, unix seconds of the database's clock), and the worker renews
its leases every third of ``lease_s`` (``heartbeat``, also in table
``workers``). A submit's intent is recorded only while the worker still holds
the job's claim (else ClaimLostError: nothing is sent). A worker killed loses
its leases after ``lease_s``; another then claims its jobs: a job with a task id
is polled, a job found ``submitting`` becomes ``unknown`` (the SQLite journal's rules, sqlite.py).

The limits of a key hold across every worker and campaign of the database
(table ``key_limits``, one row per provider and key id): ``next_send`` hands out
submit times ``interval_s`` apart with one atomic UPDATE ... RETURNING, and
``take_place`` counts a key's tasks in flight in ``jobs`` (column
``limit_key``) under that row's lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import os
import random
import re
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
from urllib.parse import urlsplit, urlunsplit

from batch_runner.defaults import DEFAULT_LEASE_S
from batch_runner.errors import ConfigError
from batch_runner.journal.records import FINAL_STATUSES, Capture, JobRecord, JobStatus, Push
from batch_runner.journal.sqlite import (
    _ADDED_COLUMNS,
    _ARCHIVE,
    _CLEARED,
    _DELIVERED,
    _EARLIER,
    _SCHEMA,
    ClaimLostError,
    Journal,
    JournalError,
    _job_json,
    _record_columns,
)

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

    from batch_runner.jobs.model import Job

__all__ = ["DEFAULT_LEASE_S", "PgJournal", "Worker", "is_database_url", "open_journal", "safe_url"]


INSTALL_HINT = "pip install 'batch-runner[postgresql]'"
_NOW = "extract(epoch from clock_timestamp())"  # the database's clock, the same for every host
#: one placeholder per final status (journal.FINAL_STATUSES), for "status NOT IN (...)"
_FINAL = ", ".join(["%s"] * len(FINAL_STATUSES))
_TYPES = {"TEXT": "TEXT", "REAL": "DOUBLE PRECISION", "INTEGER": "BIGINT"}
#: columns only the shared journal has: insertion order, the claim, the in-flight place, the budget held
_PG_JOB_COLUMNS = (("seq", "BIGSERIAL"), ("claimed_by", "TEXT"), ("lease_until", "DOUBLE PRECISION"),
                   ("limit_key", "TEXT"), ("reserved_usd", "DOUBLE PRECISION"),
                   ("reserved_credits", "DOUBLE PRECISION"))
_P = ParamSpec("_P")
_R = TypeVar("_R")
#: SQLSTATEs PostgreSQL asks a client to run the transaction again for: deadlock_detected
#: (40P01) and serialization_failure (40001); "Applications ... should be prepared to retry
#: transactions due to deadlock" (https://www.postgresql.org/docs/current/explicit-locking.html)
_RETRY_SQLSTATES = {"40P01", "40001"}
_RETRIES = 5


def _retrying(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``fn`` (one transaction, or statements each committed on its own that can
    be run again) again, up to ``_RETRIES`` times after 10-80 ms (random), when
    PostgreSQL ends its transaction as a deadlock's victim or a serialization
    failure: the transaction was rolled back whole, so running it again is safe.
    Other errors propagate at once."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        for attempt in range(_RETRIES + 1):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                if getattr(exc, "sqlstate", None) not in _RETRY_SQLSTATES or attempt == _RETRIES:
                    raise
                time.sleep(random.uniform(0.01, 0.08) * (attempt + 1))
        raise AssertionError("unreachable")

    return wrapper


_PG_TABLES = """
CREATE TABLE IF NOT EXISTS workers (
    campaign TEXT NOT NULL, worker TEXT NOT NULL, host TEXT NOT NULL, pid BIGINT NOT NULL,
    started_at DOUBLE PRECISION NOT NULL, heartbeat_at DOUBLE PRECISION NOT NULL,
    lease_s DOUBLE PRECISION NOT NULL, stopped_at DOUBLE PRECISION, PRIMARY KEY (campaign, worker));
CREATE TABLE IF NOT EXISTS key_limits (
    provider TEXT NOT NULL, key_id TEXT NOT NULL, next_send_at DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (provider, key_id));
CREATE INDEX IF NOT EXISTS jobs_limit_key ON jobs (limit_key) WHERE limit_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS pushes_received ON pushes (campaign, received_at);
"""
_SELECT = (f"SELECT jobs.*, {_record_columns(' AND {t}.campaign = jobs.campaign')}, "
           f"{_DELIVERED.format(same=' AND d.campaign = jobs.campaign')} FROM jobs "
           "LEFT JOIN downloads USING (campaign, job_id) "
           "LEFT JOIN qa USING (campaign, job_id) LEFT JOIN ("
           + _EARLIER.format(keys="campaign, job_id", task_ids="string_agg(task_id, ';' ORDER BY id)",
                             source="attempts")
           + ") AS earlier USING (campaign, job_id) WHERE jobs.campaign = %s")


def is_database_url(text: str | os.PathLike[str] | None) -> bool:
    """Whether a ``--journal`` value names a PostgreSQL database, not a file."""
    return str(text or "").startswith(("postgresql://", "postgres://"))


def safe_url(url: str) -> str:
    """``url`` with its password, if any, shown as ``***`` (for messages and logs)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (a bad port raises here)
    except ValueError:  # not a URL ("postgresql://[bad"): hide whatever sits between ':' and '@'
        return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[2]}"))


def pg_schema() -> list[str]:
    """The shared journal's DDL: SQLite's tables (read from an in-memory
    database built from ``journal._SCHEMA`` and ``_ADDED_COLUMNS``), each with
    ``campaign`` first, every column also added IF NOT EXISTS (an older
    database gains the columns added since), then the shared-only tables."""
    mem = sqlite3.connect(":memory:")
    mem.executescript(_SCHEMA)
    have = {r[1] for r in mem.execute("PRAGMA table_info(jobs)")}
    for name, decl in _ADDED_COLUMNS:
        if name not in have:
            mem.execute(f"ALTER TABLE jobs ADD COLUMN {name} {decl}")
    out = []
    tables = [r[0] for r in mem.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                        "AND name NOT LIKE 'sqlite_%' ORDER BY rowid")]
    for table in tables:
        cols, keys = [], []
        for _, name, decl, notnull, default, pk in mem.execute(f"PRAGMA table_info({table})"):
            kind = _TYPES.get(str(decl).upper(), "TEXT")
            if pk and kind == "BIGINT":  # an AUTOINCREMENT id: one sequence for the whole database
                cols.append(f"{name} BIGSERIAL")
                keys = [name]
                continue
            if pk and keys != ["id"]:
                keys.append(name)
            cols.append(f"{name} {kind}{' NOT NULL' if notnull else ''}"
                        f"{f' DEFAULT {default}' if default is not None else ''}")
        extra = [f"{n} {d}" for n, d in _PG_JOB_COLUMNS] if table == "jobs" else []
        key = ", ".join(keys if keys == ["id"] else ["campaign", *keys])
        out.append(f"CREATE TABLE IF NOT EXISTS {table} (campaign TEXT NOT NULL, "
                   f"{', '.join(cols + extra)}, PRIMARY KEY ({key}))")
        out += [f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {c}" for c in cols + extra if not c.endswith("SERIAL")]
    mem.close()
    return out + [s.strip() for s in _PG_TABLES.split(";") if s.strip()]


class Worker:
    """One worker of a campaign as ``workers`` records it: ``worker`` id
    (host:pid:random), ``host``, ``pid``, ``started_at`` / ``heartbeat_at`` /
    ``stopped_at`` (unix seconds, the database's clock), ``lease_s``, ``leases``
    (jobs it holds, not final) and ``alive`` (its last heartbeat is less than
    ``lease_s`` old and it has not stopped)."""

    def __init__(self, row: Mapping[str, Any], now: float):
        self.worker, self.host, self.pid = str(row["worker"]), str(row["host"]), int(row["pid"])
        self.started_at, self.heartbeat_at = float(row["started_at"]), float(row["heartbeat_at"])
        self.lease_s, self.stopped_at = float(row["lease_s"]), row["stopped_at"]
        self.leases = int(row["leases"])
        self.age_s = max(0.0, now - self.heartbeat_at)
        self.alive = self.stopped_at is None and self.age_s < self.lease_s

    def line(self) -> str:
        """One line for ``status``."""
        state = "alive" if self.alive else ("stopped" if self.stopped_at is not None else "dead (lease over)")
        return (f"  worker {self.worker}: {state}, {self.leases} lease(s), last heartbeat "
                f"{self.age_s:.1f} s ago (lease {self.lease_s:g} s)")


class PgJournal(Journal):
    """A campaign's journal in PostgreSQL at ``url`` (see the module docstring).

    The same methods as the SQLite Journal (it overrides every one of them),
    plus the claims and shared limits. ``campaign``: the campaign's name in the
    database; ``local``: the file whose ``.captures`` folder keeps unreadable
    answers (the manifest: ``<manifest>.captures`` beside it); ``lock``: this process is a worker (it
    registers in ``workers``; False: reading for ``status`` / ``results``).
    Raises ConfigError naming ``pip install 'batch-runner[postgresql]'`` when
    psycopg is missing, JournalError when the database cannot be reached.
    """

    def __init__(self, url: str, campaign: str, *, local: Path | None = None, lock: bool = True,
                 lease_s: float = DEFAULT_LEASE_S):
        try:
            from psycopg.rows import dict_row
            from psycopg_pool import ConnectionPool
        except ImportError:
            raise ConfigError(f"--journal {safe_url(url)}: PostgreSQL journals need psycopg: "
                              f"{INSTALL_HINT}") from None
        import psycopg

        self.url, self.campaign, self.lease_s = url, campaign, lease_s
        self.coordination = self  # it coordinates the campaign's workers itself (journal/coordination.py)
        self.path = local or Path(f"{campaign}.journal")
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._registered = False
        self._lock_fd = None
        try:
            psycopg.connect(url, connect_timeout=10).close()  # a refusal's own message, at once
            self.pool: ConnectionPool[Any] = ConnectionPool(
                url, min_size=1, max_size=8, open=True, timeout=10.0, name="batch-runner",
                kwargs={"autocommit": True, "row_factory": dict_row,
                        "options": "-c synchronous_commit=on -c lock_timeout=10000"})
            self.pool.wait(timeout=10.0)
            self._create_tables()
            if lock:
                self._register()
        except (psycopg.Error, OSError) as exc:
            self.close()
            text = str(exc).replace(url, safe_url(url)).strip().splitlines()
            raise JournalError(f"{safe_url(url)}: cannot use the journal database: "
                               f"{text[0] if text else type(exc).__name__}") from None
        except Exception as exc:  # psycopg_pool.PoolTimeout: the server did not answer
            self.close()
            raise JournalError(f"{safe_url(url)}: cannot reach the journal database "
                               f"({type(exc).__name__})") from None

    @_retrying
    def _create_tables(self) -> None:
        """Create the tables, or add the columns a newer version brought, once per
        schema: the DDL (``ALTER TABLE`` takes each table's ACCESS EXCLUSIVE lock) runs
        only when ``batch_runner_schema`` names another schema than this version's, so
        a worker starting beside running ones never locks tables they write (two
        workers starting together had one end as a deadlock's victim)."""
        statements = pg_schema()
        digest = hashlib.sha256("\n".join(statements).encode()).hexdigest()
        current = "SELECT 1 FROM batch_runner_schema WHERE id=1 AND digest=%s"
        with self.pool.connection() as db:
            exists = db.execute("SELECT to_regclass('batch_runner_schema') IS NOT NULL AS x").fetchone()
            if exists and exists["x"] and db.execute(current, (digest,)).fetchone():
                return
            with db.transaction():
                db.execute("SELECT pg_advisory_xact_lock(726354)")  # two workers creating the tables at once
                db.execute("CREATE TABLE IF NOT EXISTS batch_runner_schema (id INTEGER PRIMARY KEY, digest TEXT)")
                if db.execute(current, (digest,)).fetchone():
                    return
                for ddl in statements:
                    db.execute(ddl)
                db.execute("INSERT INTO batch_runner_schema (id, digest) VALUES (1, %s) "
                           "ON CONFLICT (id) DO UPDATE SET digest=excluded.digest", (digest,))

    def __repr__(self) -> str:
        return f"PgJournal({safe_url(self.url)!r}, campaign={self.campaign!r})"

    @property
    def where(self) -> str:
        """The journal as messages name it: its URL (no password) and campaign."""
        return f"{safe_url(self.url)} (campaign {self.campaign})"

    # -- plumbing -------------------------------------------------------------
    @_retrying
    def _exec(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one statement in its own committed transaction; returns its row count."""
        with self.pool.connection() as db:
            return int(db.execute(sql, tuple(params)).rowcount)

    @_retrying
    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        with self.pool.connection() as db:
            return list(db.execute(sql, tuple(params)).fetchall())

    def _register(self) -> None:
        self._exec(f"INSERT INTO workers (campaign, worker, host, pid, started_at, heartbeat_at, lease_s) "
                   f"VALUES (%s, %s, %s, %s, {_NOW}, {_NOW}, %s)",
                   (self.campaign, self.worker, socket.gethostname(), os.getpid(), self.lease_s))
        self._registered = True

    def close(self) -> None:
        """Mark this worker stopped, give its claims on unfinished jobs back, close the pool."""
        pool = getattr(self, "pool", None)
        if pool is None:
            return
        try:
            if self._registered:
                self._exec(f"UPDATE workers SET stopped_at={_NOW} WHERE campaign=%s AND worker=%s",
                           (self.campaign, self.worker))
                self._exec("UPDATE jobs SET claimed_by=NULL, lease_until=NULL WHERE campaign=%s AND claimed_by=%s "
                           "AND status IN (%s, %s)", (self.campaign, self.worker, JobStatus.PENDING,
                                                      JobStatus.SUBMITTED))
                self._registered = False
        except Exception:  # the server is gone (psycopg's errors, a pool timeout): the run's own
            pass            # error says so; this worker's leases run out by themselves
        finally:
            pool.close()
            self.pool = None  # type: ignore[assignment]

    def _release(self) -> None:
        self.close()

    # -- writing --------------------------------------------------------------
    @_retrying
    def add_jobs(self, jobs: Iterable[Job]) -> None:
        """Record new jobs as pending; jobs already recorded keep their state
        but take the manifest's current row fields."""
        now = time.time()
        rows = [(self.campaign, j.job_id, _job_json(j), j.provider, JobStatus.PENDING, now) for j in jobs]
        with self.pool.connection() as db, db.transaction(), db.cursor() as cur:
            cur.executemany("INSERT INTO jobs (campaign, job_id, job, provider, status, updated_at) "
                            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (campaign, job_id) "
                            "DO UPDATE SET job=excluded.job", rows)

    def _update(self, job_id: str, **fields: Any) -> None:
        """Set columns of one job and commit (Journal.finish's writes come here):
        a job that ends gives back its in-flight place and its lease
        (``claimed_by`` still says which worker ended it)."""
        if fields.get("status") in FINAL_STATUSES:
            fields.update(limit_key=None, lease_until=None)
        fields["updated_at"] = time.time()
        cols = ", ".join(f"{k}=%s" for k in fields)
        self._exec(f"UPDATE jobs SET {cols} WHERE campaign=%s AND job_id=%s",
                   (*fields.values(), self.campaign, job_id))

    def mark_pending(self, job_id: str) -> None:
        """Journal.mark_pending; its claim and in-flight place are given back."""
        self._update(job_id, status=JobStatus.PENDING, finished_at=None, error_code=None, provider_code=None,
                     error_message=None, limit_key=None, claimed_by=None, lease_until=None)

    async def mark_submitting(self, job_id: str, provider: str, providers_tried: str | None = None, *,
                              generation: int | None = None, idempotency_key: str | None = None,
                              key_id: str | None = None) -> None:
        """Journal.mark_submitting, committed before the request is sent, and
        only while this worker holds the job's claim: raises ClaimLostError
        (send nothing) when another worker took it."""
        now = time.time()

        @_retrying
        def write() -> None:  # the task so far kept in ``attempts`` (Journal.mark_submitting), in one transaction
            with self.pool.connection() as db, db.transaction():
                db.execute(_ARCHIVE.format(mark="%s").replace("SELECT job_id,", "SELECT campaign, job_id,")
                           .replace("INSERT INTO attempts (", "INSERT INTO attempts (campaign, ")
                           + " AND campaign=%s AND claimed_by=%s", (now, job_id, self.campaign, self.worker))
                n = db.execute(
                    "UPDATE jobs SET status=%s, provider=%s, providers_tried=COALESCE(%s, providers_tried), "
                    "attempts=attempts+1, generation=COALESCE(%s, generation), idempotency_key=%s, key_id=%s, "
                    f"{_CLEARED}, updated_at=%s WHERE campaign=%s AND job_id=%s AND claimed_by=%s",
                    (JobStatus.SUBMITTING, provider, providers_tried, generation, idempotency_key, key_id, now,
                     self.campaign, job_id, self.worker)).rowcount
                if n != 1:
                    raise ClaimLostError(job_id)  # rolls the transaction back

        await asyncio.to_thread(write)

    async def mark_submitted(self, job_id: str, task_id: str, submitted_at: float) -> None:
        """Journal.mark_submitted: the task id committed before anything else is done with it."""
        await asyncio.to_thread(
            self._exec,
            "UPDATE jobs SET status=%s, task_id=%s, submitted_at=%s, error_code=NULL, provider_code=NULL, "
            "error_message=NULL, updated_at=%s WHERE campaign=%s AND job_id=%s",
            (JobStatus.SUBMITTED, task_id, submitted_at, time.time(), self.campaign, job_id))

    def record_download(self, job_id: str, local_path: str, nbytes: int, sha256: str, url: str) -> None:
        """Journal.record_download."""
        self._exec("INSERT INTO downloads (campaign, job_id, local_path, bytes, sha256, url, saved_at) "
                   "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (campaign, job_id) DO UPDATE SET "
                   "local_path=excluded.local_path, bytes=excluded.bytes, sha256=excluded.sha256, "
                   "url=excluded.url, saved_at=excluded.saved_at",
                   (self.campaign, job_id, local_path, nbytes, sha256, url, time.time()))

    def record_qa(self, job_id: str, result: Any, sha256: str | None) -> None:
        """Journal.record_qa."""
        self._exec(
            "INSERT INTO qa (campaign, job_id, status, problems, details, width, height, duration_s, codec, fps, "
            "sha256, checked_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (campaign, job_id) DO UPDATE SET status=excluded.status, problems=excluded.problems, "
            "details=excluded.details, width=excluded.width, height=excluded.height, "
            "duration_s=excluded.duration_s, codec=excluded.codec, fps=excluded.fps, sha256=excluded.sha256, "
            "checked_at=excluded.checked_at",
            (self.campaign, job_id, result.status, ";".join(result.problems), "\n".join(result.details),
             result.width, result.height, result.duration_s, result.codec, result.fps, sha256, time.time()))

    def qa_checked(self, job_id: str) -> str | None:
        """Journal.qa_checked."""
        rows = self._rows("SELECT sha256 FROM qa WHERE campaign=%s AND job_id=%s AND status IS NOT NULL",
                          (self.campaign, job_id))
        return str(rows[0]["sha256"]) if rows and rows[0]["sha256"] else None

    @_retrying
    def start_reroll(self, record: JobRecord) -> None:
        """Journal.start_reroll, in one transaction."""
        with self.pool.connection() as db, db.transaction():
            db.execute("DELETE FROM downloads WHERE campaign=%s AND job_id=%s", (self.campaign, record.job_id))
            db.execute("DELETE FROM download_intents WHERE campaign=%s AND job_id=%s", (self.campaign, record.job_id))
            db.execute(
                "INSERT INTO qa (campaign, job_id, rerolls, rerolled_usd, rerolled_credits) VALUES (%s, %s, 1, %s, %s) "
                "ON CONFLICT (campaign, job_id) DO UPDATE SET status=NULL, problems=NULL, details=NULL, width=NULL, "
                "height=NULL, duration_s=NULL, codec=NULL, fps=NULL, sha256=NULL, checked_at=NULL, "
                "rerolls=qa.rerolls+1, rerolled_usd=qa.rerolled_usd+excluded.rerolled_usd, "
                "rerolled_credits=qa.rerolled_credits+excluded.rerolled_credits",
                (self.campaign, record.job_id, record.cost_usd or 0.0, record.cost_credits or 0.0))

    def add_capture(self, capture: Capture) -> None:
        """Journal.add_capture."""
        import json

        self._exec("INSERT INTO captures (campaign, job_id, provider, captured_at, request, status, headers, body, "
                   "reason, file) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                   (self.campaign, capture.job_id, capture.provider, capture.captured_at,
                    json.dumps(capture.request, ensure_ascii=False), capture.status,
                    json.dumps(capture.headers, ensure_ascii=False), capture.body, capture.reason, capture.file))

    def captures(self, job_id: str | None = None) -> list[Capture]:
        """Journal.captures."""
        import json

        rows = self._rows("SELECT * FROM captures WHERE campaign=%s AND (%s::text IS NULL OR job_id=%s) ORDER BY id",
                          (self.campaign, job_id, job_id))
        return [Capture(r["job_id"], r["provider"], r["captured_at"], json.loads(r["request"]), r["status"],
                        json.loads(r["headers"]), r["body"], r["reason"], r["file"]) for r in rows]

    def download(self, job_id: str) -> dict[str, Any] | None:
        """Journal.download."""
        rows = self._rows("SELECT * FROM downloads WHERE campaign=%s AND job_id=%s", (self.campaign, job_id))
        return {k: v for k, v in rows[0].items() if k != "campaign"} if rows else None

    def record_download_intent(self, job_id: str, local_path: str) -> None:
        """Journal.record_download_intent."""
        self._exec("INSERT INTO download_intents (campaign, job_id, local_path, started_at) VALUES (%s, %s, %s, %s) "
                   "ON CONFLICT (campaign, job_id) DO UPDATE SET local_path=excluded.local_path, "
                   "started_at=excluded.started_at", (self.campaign, job_id, local_path, time.time()))

    def download_intent(self, job_id: str) -> str | None:
        """Journal.download_intent."""
        rows = self._rows("SELECT local_path FROM download_intents WHERE campaign=%s AND job_id=%s",
                          (self.campaign, job_id))
        return str(rows[0]["local_path"]) if rows else None
    def record_delivery(self, url: str, job_id: str | None, kind: str, nbytes: int, sha256: str) -> None:
        """Journal.record_delivery."""
        self._exec("INSERT INTO deliveries (campaign, url, job_id, kind, bytes, sha256, delivered_at) "
                   "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (campaign, url) DO UPDATE SET "
                   "job_id=excluded.job_id, kind=excluded.kind, bytes=excluded.bytes, sha256=excluded.sha256, "
                   "delivered_at=excluded.delivered_at",
                   (self.campaign, url, job_id, kind, nbytes, sha256, time.time()))

    def record_review(self, job_id: str, task_id: str | None, verdict: str | None, note: str | None,
                      prompt: str | None) -> None:
        """Journal.record_review."""
        key = task_id or ""
        if verdict is None and not note:
            self._exec("DELETE FROM reviews WHERE campaign=%s AND job_id=%s AND task_key=%s",
                       (self.campaign, job_id, key))
            return
        self._exec("INSERT INTO reviews (campaign, job_id, task_key, verdict, note, prompt, recorded_at) "
                   "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (campaign, job_id, task_key) DO UPDATE SET "
                   "verdict=excluded.verdict, note=excluded.note, prompt=excluded.prompt, "
                   "recorded_at=excluded.recorded_at",
                   (self.campaign, job_id, key, verdict, note, prompt, time.time()))

    def delivery(self, url: str) -> dict[str, Any] | None:
        """Journal.delivery."""
        rows = self._rows("SELECT * FROM deliveries WHERE campaign=%s AND url=%s", (self.campaign, url))
        return {k: v for k, v in rows[0].items() if k != "campaign"} if rows else None

    def download_owner(self, local_path: str) -> str | None:
        """Journal.download_owner."""
        rows = self._rows("SELECT job_id FROM downloads WHERE campaign=%s AND local_path=%s",
                          (self.campaign, local_path))
        return str(rows[0]["job_id"]) if rows else None

    def forget_download(self, job_id: str) -> None:
        """Journal.forget_download."""
        self._exec("DELETE FROM downloads WHERE campaign=%s AND job_id=%s", (self.campaign, job_id))

    def recover_unknown(self) -> int:
        """Jobs left ``submitting`` by a worker whose lease is over (killed, or
        stopped mid-submit) become ``unknown``; a live worker's are left alone."""
        return self._exec(
            f"UPDATE jobs SET status=%s, error_code='unknown', error_message=%s, updated_at=%s, "
            f"limit_key=NULL WHERE campaign=%s AND status=%s AND (claimed_by IS NULL OR lease_until IS NULL "
            f"OR lease_until < {_NOW})",
            (JobStatus.UNKNOWN, "a submit was sent but its answer was not recorded: possibly submitted",
             time.time(), self.campaign, JobStatus.SUBMITTING))

    # -- reading --------------------------------------------------------------
    def get(self, job_id: str) -> JobRecord | None:
        """Journal.get."""
        rows = self._rows(f"{_SELECT} AND jobs.job_id=%s", (self.campaign, job_id))
        return JobRecord.from_row(rows[0]) if rows else None

    @contextlib.contextmanager
    def reader(self) -> Iterator[PgJournal]:
        """Journal.reader: this journal itself (its pool gives each read a connection of its own)."""
        yield self

    def records(self) -> Iterator[JobRecord]:
        """Every job's record of the campaign, in insertion order."""
        for row in self._rows(f"{_SELECT} ORDER BY jobs.seq", (self.campaign,)):
            yield JobRecord.from_row(row)

    def meta_items(self, prefix: str) -> list[tuple[str, str]]:
        """Journal.meta_items (of this campaign)."""
        rows = self._rows("SELECT key, value FROM meta WHERE campaign=%s AND key LIKE %s || '%%'",
                          (self.campaign, prefix))
        return [(r["key"], r["value"]) for r in rows]

    @_retrying
    def set_meta(self, items: dict[str, str]) -> None:
        """Journal.set_meta (of this campaign)."""
        if not items:
            return
        with self.pool.connection() as db, db.transaction(), db.cursor() as cur:
            cur.executemany("INSERT INTO meta (campaign, key, value) VALUES (%s, %s, %s) "
                            "ON CONFLICT (campaign, key) DO UPDATE SET value=excluded.value",
                            [(self.campaign, k, v) for k, v in items.items()])

    @_retrying
    def meta_setdefault(self, key: str, value: str) -> str:
        """Journal.meta_setdefault (of this campaign): INSERT ... ON CONFLICT DO NOTHING, then
        read back, so workers starting together all get the first one's value."""
        with self.pool.connection() as db:
            db.execute("INSERT INTO meta (campaign, key, value) VALUES (%s, %s, %s) "
                       "ON CONFLICT (campaign, key) DO NOTHING", (self.campaign, key, value))
            row = db.execute("SELECT value FROM meta WHERE campaign=%s AND key=%s", (self.campaign, key)).fetchone()
        return str(row["value"])

    def record_push(self, job_id: str, attempt: int, body: str, signature: str | None) -> None:
        """Journal.record_push (of this campaign), stamped with the database's clock."""
        self._exec(f"INSERT INTO pushes (campaign, job_id, attempt, body, signature, received_at) "
                   f"VALUES (%s, %s, %s, %s, %s, {_NOW})", (self.campaign, job_id, attempt, body, signature))

    def pushes(self, since: float) -> list[Push]:
        """Journal.pushes (of this campaign)."""
        rows = self._rows("SELECT id, job_id, attempt, body, signature, received_at FROM pushes "
                          "WHERE campaign=%s AND received_at >= %s ORDER BY id", (self.campaign, since))
        return [Push(int(r["id"]), r["job_id"], int(r["attempt"]), r["body"], r["signature"],
                     float(r["received_at"])) for r in rows]

    def clock(self) -> float:
        """The database's clock (unix seconds): what ``pushes`` stamps ``received_at`` with."""
        return float(self._rows(f"SELECT {_NOW} AS now")[0]["now"])

    def providers_with_tasks(self) -> set[str]:
        """Journal.providers_with_tasks."""
        rows = self._rows("SELECT DISTINCT provider FROM jobs WHERE campaign=%s AND "
                          "(task_id IS NOT NULL OR status IN (%s, %s))",
                          (self.campaign, JobStatus.SUBMITTING, JobStatus.UNKNOWN))
        return {r["provider"] for r in rows}

    def video_urls(self, provider: str | None = None, limit: int = 1) -> list[str]:
        """Journal.video_urls."""
        rows = self._rows("SELECT video_url FROM jobs WHERE campaign=%s AND (%s::text IS NULL OR provider=%s) "
                          "AND video_url IS NOT NULL LIMIT %s", (self.campaign, provider, provider, limit))
        return [r["video_url"] for r in rows]

    def counts(self) -> dict[str, int]:
        """Journal.counts."""
        rows = self._rows("SELECT status, COUNT(*) AS n FROM jobs WHERE campaign=%s GROUP BY status",
                          (self.campaign,))
        return {r["status"]: int(r["n"]) for r in rows}

    def campaigns(self) -> list[str]:
        """Every campaign the database holds, by name."""
        return [r["campaign"] for r in self._rows("SELECT DISTINCT campaign FROM jobs ORDER BY campaign")]

    def workers(self) -> list[Worker]:
        """The campaign's workers, the latest started first."""
        rows = self._rows(
            f"SELECT w.*, {_NOW} AS now, (SELECT COUNT(*) FROM jobs j WHERE j.campaign=w.campaign "
            f"AND j.claimed_by=w.worker AND j.status NOT IN ({_FINAL})) AS leases "
            f"FROM workers w WHERE w.campaign=%s ORDER BY w.started_at DESC",
            (*FINAL_STATUSES, self.campaign))
        return [Worker(r, float(r["now"])) for r in rows]

    # -- claims ---------------------------------------------------------------
    @_retrying
    def claim(self, job_id: str) -> JobRecord | None:
        """Claim one job for this worker (``SELECT ... FOR UPDATE SKIP LOCKED``,
        then a lease of ``lease_s``): its record as it now is, or None when
        another worker holds it (its lease not over, or its row locked now).
        A job its last holder left ``submitting`` becomes ``unknown`` here."""
        with self.pool.connection() as db, db.transaction():
            found = db.execute(
                f"SELECT status FROM jobs WHERE campaign=%s AND job_id=%s AND (claimed_by IS NULL OR "
                f"claimed_by=%s OR lease_until IS NULL OR lease_until < {_NOW}) FOR UPDATE SKIP LOCKED",
                (self.campaign, job_id, self.worker)).fetchone()
            if found is None:
                return None
            if found["status"] == JobStatus.SUBMITTING:
                db.execute("UPDATE jobs SET status=%s, error_code='unknown', error_message=%s, updated_at=%s, "
                           "limit_key=NULL WHERE campaign=%s AND job_id=%s AND claimed_by IS DISTINCT FROM %s",
                           (JobStatus.UNKNOWN, "its worker stopped after sending a submit whose answer was not "
                            "recorded: possibly submitted", time.time(), self.campaign, job_id, self.worker))
            db.execute(f"UPDATE jobs SET claimed_by=%s, lease_until={_NOW} + %s WHERE campaign=%s AND job_id=%s",
                       (self.worker, self.lease_s, self.campaign, job_id))
        return self.get(job_id)

    def held_by_others(self) -> set[str]:
        """Job ids of this campaign, not final, that a live lease of another worker holds."""
        rows = self._rows(f"SELECT job_id FROM jobs WHERE campaign=%s AND claimed_by IS NOT NULL AND "
                          f"claimed_by <> %s AND lease_until >= {_NOW} AND status NOT IN ({_FINAL})",
                          (self.campaign, self.worker, *FINAL_STATUSES))
        return {r["job_id"] for r in rows}

    def heartbeat(self) -> None:
        """Renew this worker's heartbeat and its leases on unfinished jobs."""
        self._exec(f"UPDATE workers SET heartbeat_at={_NOW} WHERE campaign=%s AND worker=%s",
                   (self.campaign, self.worker))
        self._exec(f"UPDATE jobs SET lease_until={_NOW} + %s WHERE campaign=%s AND claimed_by=%s "
                   f"AND status NOT IN ({_FINAL})", (self.lease_s, self.campaign, self.worker, *FINAL_STATUSES))

    # -- limits shared by every worker and campaign of the database -----------
    def next_send(self, provider: str, key_id: str, interval_s: float) -> float:
        """Take the key's next submit time, ``interval_s`` after the one taken
        before it (or now): returns the seconds to wait for it."""
        rows = self._rows(
            f"WITH t AS (SELECT {_NOW} AS now) "
            f"INSERT INTO key_limits AS k (provider, key_id, next_send_at) SELECT %s, %s, t.now + %s FROM t "
            f"ON CONFLICT (provider, key_id) DO UPDATE SET next_send_at = "
            f"GREATEST(k.next_send_at, (SELECT now FROM t)) + %s "
            f"RETURNING k.next_send_at - %s - (SELECT now FROM t) AS wait",
            (provider, key_id, interval_s, interval_s, interval_s))
        return max(0.0, float(rows[0]["wait"]))

    @_retrying
    def reserve_cost(self, job_id: str, provider: str, usd: float | None, credits: float | None,
                     max_usd: float | None, max_credits: float | None) -> str | None:
        """Hold a submit's cost (USD, ``provider``'s credits) against caps that
        cover every worker of the campaign: what its jobs cost (recorded) plus
        what the others hold (jobs in flight, unknown, or claimed by a live
        worker), counted under the campaign's lock. Returns why not, or None
        (held, until ``release_cost`` or the job's cost is recorded)."""
        with self.pool.connection() as db, db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"budget:{self.campaign}",))
            row = db.execute(
                f"SELECT COALESCE(SUM(COALESCE(cost_usd, CASE WHEN {_live()} THEN reserved_usd END)), 0) AS usd, "
                f"COALESCE(SUM(CASE WHEN provider=%s THEN COALESCE(cost_credits, CASE WHEN {_live()} "
                f"THEN reserved_credits END) END), 0) AS credits FROM jobs WHERE campaign=%s AND job_id<>%s",
                (provider, self.campaign, job_id)).fetchone()
            assert row is not None
            if max_usd is not None and usd is not None and float(row["usd"]) + usd > max_usd + 1e-9:
                return (f"would take the campaign's cost, all its workers together, to ${float(row['usd']) + usd:.2f}, "
                        f"over --max-cost ${max_usd:.2f}")
            if max_credits is not None and credits is not None and float(row["credits"]) + credits > max_credits + 1e-9:
                return (f"would take {provider} to {float(row['credits']) + credits:g} credits, all the campaign's "
                        f"workers together, over --max-credits {provider}={max_credits:g}")
            db.execute("UPDATE jobs SET reserved_usd=%s, reserved_credits=%s WHERE campaign=%s AND job_id=%s",
                       (usd, credits, self.campaign, job_id))
        return None

    def release_cost(self, job_id: str) -> None:
        """Give back a cost held by ``reserve_cost`` (the provider surely did not take the submit)."""
        self._exec("UPDATE jobs SET reserved_usd=NULL, reserved_credits=NULL WHERE campaign=%s AND job_id=%s",
                   (self.campaign, job_id))

    @_retrying
    def take_place(self, job_id: str, provider: str, key_id: str, cap: int) -> bool:
        """Take an in-flight place of the key for ``job_id`` if fewer than
        ``cap`` of its tasks are in flight in the whole database (counted under
        the key's row lock); True when taken (or already held)."""
        limit_key = f"{provider}:{key_id}"
        with self.pool.connection() as db, db.transaction():
            db.execute("INSERT INTO key_limits (provider, key_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                       (provider, key_id))
            db.execute("SELECT 1 FROM key_limits WHERE provider=%s AND key_id=%s FOR UPDATE", (provider, key_id))
            row = db.execute(
                f"SELECT COUNT(*) FILTER (WHERE NOT (campaign=%s AND job_id=%s)) AS n, "
                f"COUNT(*) FILTER (WHERE campaign=%s AND job_id=%s) AS mine FROM jobs "
                f"WHERE limit_key=%s AND (status IN (%s, %s) OR lease_until >= {_NOW})",
                (self.campaign, job_id, self.campaign, job_id, limit_key, JobStatus.SUBMITTING,
                 JobStatus.SUBMITTED)).fetchone()
            assert row is not None
            if row["mine"]:
                return True
            if int(row["n"]) >= cap:
                return False
            db.execute("UPDATE jobs SET limit_key=%s WHERE campaign=%s AND job_id=%s",
                       (limit_key, self.campaign, job_id))
        return True


def open_journal(target: str | Path, campaign: str | None = None, *, lock: bool = True, local: Path | None = None,
                 lease_s: float = DEFAULT_LEASE_S) -> Journal:
    """The journal ``target`` names: a PostgreSQL URL (PgJournal of ``campaign``;
    None: the database's only campaign) or an SQLite file (Journal). Raises
    ConfigError when ``campaign`` is None and the database holds none or several
    (the message lists them), JournalError / StateLockedError as the journals do."""
    if not is_database_url(target):
        return Journal(target, lock=lock)
    url = str(target)
    try:
        urlsplit(url).port  # noqa: B018  (a bad host or port raises here)
    except ValueError as exc:
        raise ConfigError(f"{safe_url(url)}: not a PostgreSQL URL ({exc}): write it as "
                          "postgresql://USER:PASSWORD@HOST:PORT/DATABASE (an IPv6 host in [brackets])") from None
    if campaign is None:
        probe = PgJournal(url, "", lock=False)
        try:
            names = probe.campaigns()
        finally:
            probe.close()
        if len(names) != 1:
            said = f"it holds {', '.join(names)}" if names else "it holds no campaign yet"
            raise ConfigError(f"{safe_url(url)}: name the campaign with --campaign NAME ({said})")
        campaign = names[0]
    return PgJournal(url, campaign, local=local, lock=lock, lease_s=lease_s)


def _live() -> str:
    """SQL: a job whose budget reservation still counts (possibly paid, or held by a live claim)."""
    return (f"(status IN ('{JobStatus.SUBMITTING}', '{JobStatus.SUBMITTED}', '{JobStatus.UNKNOWN}') "
            f"OR (claimed_by IS NOT NULL AND lease_until >= {_NOW}))")
