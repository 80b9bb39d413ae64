"""``batch-runner journal copy SRC DST``: a campaign's journal from SQLite to PostgreSQL or back.

Every record is copied as it is: the jobs (status, task ids, costs, attempt
generations, idempotency keys...), their downloads, the captures of unreadable
answers, the QA of saved videos and the journal's own facts (``meta``: where its tasks live). The
columns copied are those both journals have (journal._SCHEMA's, whatever has
been added there); a shared journal's claims are not copied (a copy starts
with no worker). The destination campaign must hold no job yet: a copy never
merges two journals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from batch_runner.errors import ConfigError
from batch_runner.journal.postgres import PgJournal, is_database_url, open_journal, safe_url
from batch_runner.journal.sqlite import Journal

__all__ = ["TABLES", "copy_journal", "default_campaign", "insert_rows"]

TABLES = ("jobs", "downloads", "download_intents", "qa", "attempts", "deliveries", "reviews", "captures", "meta")
"""The tables copied, in this order (a download refers to its job)."""

_NOT_COPIED = frozenset({"campaign", "seq", "claimed_by", "lease_until", "limit_key", "reserved_usd",
                         "reserved_credits", "id"})
_ORDER = {"jobs": ("rowid", "seq"), "captures": ("id", "id"), "attempts": ("id", "id")}


def default_campaign(path: str | Path) -> str:
    """The campaign name of an SQLite journal file: its manifest's file name
    (``launch.yaml.journal.sqlite`` -> ``launch.yaml``), as ``run`` names it."""
    name = Path(path).name
    return name.removesuffix(".sqlite").removesuffix(".journal") or name


def _columns(journal: Journal, table: str) -> list[str]:
    if isinstance(journal, PgJournal):
        rows = journal._rows("SELECT column_name FROM information_schema.columns WHERE table_name=%s "
                             "ORDER BY ordinal_position", (table,))
        return [r["column_name"] for r in rows]
    return [r[1] for r in journal.db.execute(f"PRAGMA table_info({table})")]


def _read(journal: Journal, table: str, cols: list[str]) -> list[tuple[Any, ...]]:
    listed = ", ".join(cols)
    sqlite_order, pg_order = _ORDER.get(table, ("", ""))
    if isinstance(journal, PgJournal):
        order = f" ORDER BY {pg_order}" if pg_order else ""
        rows = journal._rows(f"SELECT {listed} FROM {table} WHERE campaign=%s{order}", (journal.campaign,))
        return [tuple(r[c] for c in cols) for r in rows]
    order = f" ORDER BY {sqlite_order}" if sqlite_order else ""
    return [tuple(r) for r in journal.db.execute(f"SELECT {listed} FROM {table}{order}")]


def insert_rows(journal: Journal, table: str, cols: list[str], rows: list[tuple[Any, ...]]) -> None:
    """Insert ``rows`` (values in the order of ``cols``) into ``table`` of ``journal``
    (SQLite, or a PostgreSQL campaign), in one transaction."""
    if not rows:
        return
    if isinstance(journal, PgJournal):
        listed = ", ".join(["campaign", *cols])
        marks = ", ".join(["%s"] * (len(cols) + 1))
        with journal.pool.connection() as db, db.transaction(), db.cursor() as cur:
            cur.executemany(f"INSERT INTO {table} ({listed}) VALUES ({marks})",
                            [(journal.campaign, *row) for row in rows])
        return
    marks = ", ".join(["?"] * len(cols))
    with journal.db:
        journal.db.execute("BEGIN")
        journal.db.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", rows)


def _name(target: str | Path, campaign: str) -> str:
    return f"{safe_url(str(target))} (campaign {campaign})" if is_database_url(target) else str(target)


def copy_journal(src: str | Path, dst: str | Path, campaign: str | None = None,
                 to_campaign: str | None = None) -> dict[str, int]:
    """Copy the journal ``src`` into ``dst`` (each an SQLite file or a
    postgresql:// URL); ``campaign``: the source campaign in a database (None:
    its only one); ``to_campaign``: the destination's (None: the source's name,
    or the SQLite file's manifest name). Returns the rows copied per table.
    Raises ConfigError when ``src`` is no journal, or ``dst`` already holds jobs."""
    if not is_database_url(src) and not Path(src).is_file():
        raise ConfigError(f"journal copy: no journal at {src}")
    if str(src) == str(dst):
        raise ConfigError("journal copy: SRC and DST are the same journal")
    with open_journal(src, campaign, lock=False) as source:
        name = to_campaign or (source.campaign if isinstance(source, PgJournal) else default_campaign(src))
        with open_journal(dst, name, lock=not is_database_url(dst)) as dest:
            held = sum(dest.counts().values())
            if held:
                raise ConfigError(f"journal copy: {_name(dst, name)} already holds {held} jobs; copy into a new "
                                  "file, or another campaign (--to-campaign NAME)")
            copied = {}
            for table in TABLES:
                theirs = set(_columns(dest, table))
                cols = [c for c in _columns(source, table) if c in theirs and c not in _NOT_COPIED]
                rows = _read(source, table, cols)
                insert_rows(dest, table, cols, rows)
                copied[table] = len(rows)
    return copied
