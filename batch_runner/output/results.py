"""The results CSV (one row per job, manifest order) and the end-of-run summary.

Columns are listed in RESULT_COLUMNS and documented in the manual, docs/results.md. The file is
UTF-8 with a byte-order mark (what Excel needs to read it as UTF-8), written
with the ``csv`` module to a temporary name and renamed (output/atomic.py), so
a crash leaves the last complete file.

Safe to open in a spreadsheet (OWASP "CSV Injection"): every text cell and
column name that starts with ``= + - @``, tab, carriage return or NUL gets a
leading ``'`` (a plain number such as ``-5`` is left alone: it is no formula),
every text cell is quoted (so a separator inside a cell cannot start a new
cell in a spreadsheet set to another separator), and numeric columns stay
unquoted numbers.
"""

from __future__ import annotations

import csv
import itertools
import math
import os
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batch_runner.catalog.facts import catalog
from batch_runner.catalog.prices import describe_usd
from batch_runner.output.atomic import write_atomically
from batch_runner.output.results_table import RESULT_COLUMNS, Columns, result_row, safe_cell, table_rows

if TYPE_CHECKING:
    import pandas as pd

from batch_runner.journal import JobRecord, JobStatus
from batch_runner.words import count

__all__ = ["RESULT_COLUMNS", "Summary", "result_row", "result_table", "results_frame", "safe_cell", "summarize",
           "write_results"]

_BOM = "\ufeff"  # UTF-8 byte-order mark: Excel reads the file as UTF-8
_CHUNK = 1 << 20  # characters of rows gathered before one write

def result_table(records: Iterable[JobRecord],
                 manifest_ids: Collection[str] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The results as ``(columns, rows)``: RESULT_COLUMNS, then the manifest's
    extra columns (first seen first); one tuple of cells per record, in order.

    Cells are what the CSV holds: text made inert (``safe_cell``) outside the
    numeric columns, None where a value is missing. A column typed as pandas
    would type it keeps the file as it has always been: a column of numbers
    with a blank or a fraction holds floats (``5.0``), ``bytes`` whole numbers.
    """
    rows = list(table_rows(records, manifest_ids))
    columns = Columns()
    for row in rows:
        columns.add(row)
    return columns.header(), [tuple(columns.cells(row)) for row in rows]


def results_frame(records: Iterable[JobRecord]) -> pd.DataFrame:
    """The results table as a pandas DataFrame (the cells of ``result_table``;
    ``bytes`` as nullable Int64)."""
    import pandas as pd

    columns, cells = result_table(records)
    frame = pd.DataFrame(cells, columns=columns)
    frame["bytes"] = frame["bytes"].astype("Int64")
    return frame


def write_results(path: str | Path, records: Iterable[JobRecord],
                  manifest_ids: Collection[str] | None = None, *, make_posters: bool = True) -> int:
    """Write the results CSV atomically (output/atomic.py); returns the number
    of rows (jobs). UTF-8 with a byte-order mark, so Excel shows prompts such
    as ``[推进]`` as written (without one it reads the file in the system's code
    page). Text cells are quoted, numbers not, a blank is ``""``; lines end
    with the platform's line ending. ``manifest_ids``: the job ids of the
    manifest's rows (column ``in_manifest``; None: not known). Raises OSError.

    A ``path`` ending in ``.xlsx`` gets the same rows as an Excel workbook
    instead (output/workbook.py: posters, hyperlinks, a Summary sheet; missing
    posters made unless ``make_posters`` is False)."""
    if Path(path).suffix.lower() == ".xlsx":
        from batch_runner.output.workbook import write_workbook

        records = list(records)
        header, cells = result_table(records, manifest_ids)
        cost = summarize(records)
        usd = {p: c["usd"] if cost.known_usd.get(p) or not cost.unknown_usd.get(p) else None
               for p, c in cost.cost.items()}  # None: every paid attempt's USD price unknown
        return write_workbook(path, header, cells, usd=usd, unknown_usd=dict(cost.unknown_usd),
                              make_posters=make_posters)
    if iter(records) is records:  # an iterator: read once, so kept for the second pass
        records = list(records)
    columns = Columns()
    for row in table_rows(records, manifest_ids):  # pass 1: the kinds of each column's values
        columns.add(row)
    lines: list[str] = []
    writer = csv.writer(_Lines(lines), quoting=csv.QUOTE_NONNUMERIC, lineterminator=os.linesep)

    def chunks() -> Iterator[str]:  # pass 2: row by row, about a megabyte a write
        writer.writerow(columns.header())
        size = 0
        for row in table_rows(records, manifest_ids):
            writer.writerow(columns.cells(row))
            size += len(lines[-1])
            if size > _CHUNK:
                yield "".join(lines)
                lines.clear()
                size = 0
        yield "".join(lines)

    write_atomically(path, itertools.chain([_BOM], chunks()))
    return columns.rows


class _Lines:
    """A csv.writer's file that keeps each line it is given (one ``write`` a row)."""

    def __init__(self, lines: list[str]) -> None:
        self.write = lines.append


@dataclass
class Summary:
    """Counts by status, actual cost per provider (``videos``, ``usd``,
    ``credits``; ``unknown_usd`` / ``known_usd``: paid attempts (each job's
    last and earlier ones) whose USD price is unknown / known) and
    wall time (seconds), beside the plan's ``estimate`` (a plan.Plan of every
    job) and ``estimate_wall_s`` (this run's estimated time, seconds);
    ``unknown_submits``: per provider, when each ``unknown`` job's submit was
    sent (unix seconds, as near as the journal knows; None: not recorded)."""

    by_status: dict[str, int] = field(default_factory=dict)
    cost: dict[str, dict[str, float]] = field(default_factory=dict)
    unknown_usd: dict[str, int] = field(default_factory=dict)
    known_usd: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    estimate: Any = None
    estimate_wall_s: float | None = None
    unknown_submits: dict[str, list[float | None]] = field(default_factory=dict)
    #: provider -> key id -> {"videos", "usd", "credits", "unknown", "known"} of its paid jobs
    #: ("unknown" / "known": how many of them have no / a USD price)
    by_key: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Number of jobs."""
        return sum(self.by_status.values())

    @property
    def all_succeeded(self) -> bool:
        """True when every job succeeded."""
        return self.by_status.get("succeeded", 0) == self.total

    def cost_json(self) -> dict[str, Any]:
        """The actual cost, JSON-ready (the ``summary`` event of ``--log-format json``):
        ``{"providers": {name: {...}}, "total": {...}}``, each with ``videos``,
        ``credits``, ``usd`` and ``usd_unknown_jobs``. ``usd`` (USD, rounded to
        the micro-dollar) sums the known prices, and is null when no paid job's
        USD price is known: an unknown price is never 0.0."""
        def one(c: dict[str, float], unknown: int, known: int) -> dict[str, Any]:
            return {"videos": int(c["videos"]), "credits": round(c["credits"], 6),
                    "usd": round(c["usd"], 6) if known or not unknown else None, "usd_unknown_jobs": unknown}

        providers = {p: one(c, self.unknown_usd.get(p, 0), self.known_usd.get(p, 0)) for p, c in self.cost.items()}
        total = {k: sum(c[k] for c in self.cost.values()) for k in ("videos", "usd", "credits")}
        return {"providers": providers,
                "total": one(total, sum(self.unknown_usd.values()), sum(self.known_usd.values()))}

    def by_key_json(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Provider -> key id -> ``videos``, ``credits``, ``usd`` (null when no paid job's
        USD price is known) of the providers that used more than one key."""
        return {p: {k: {"videos": int(c["videos"]), "credits": round(c["credits"], 6),
                        "usd": round(c["usd"], 6) if c["known"] or not c["unknown"] else None}
                    for k, c in keys.items()}
                for p, keys in self.by_key.items() if len(keys) > 1}

    def lines(self) -> list[str]:
        """The summary as printable lines: counts, then actual cost per provider
        and in total, each with the plan's estimate beside it, then one line per
        provider with ``unknown`` jobs saying what to do next (unknown_line)."""
        parts = ", ".join(f"{n} {s}" for s, n in sorted(self.by_status.items()))
        planned = f" (plan: {self.estimate_wall_s:.1f} s)" if self.estimate_wall_s else ""
        out = [f"{count(self.total, 'job')}: {parts} in {self.wall_s:.1f} s{planned}"]
        plans = self.estimate.providers if self.estimate is not None else {}
        for provider in sorted(set(self.cost) | set(plans)):
            c = self.cost.get(provider, {"videos": 0, "usd": 0.0, "credits": 0.0})
            unknown = self.unknown_usd.get(provider, 0)
            actual = _cost_text(c["usd"], unknown, unknown + self.known_usd.get(provider, 0), c["credits"])
            out.append(f"  {provider}: {count(c['videos'], 'video')}, {actual}{_planned(plans.get(provider))}")
            keys = self.by_key.get(provider, {})
            if len(keys) > 1:  # a pool of keys: what each key made and cost
                for key_id, k in sorted(keys.items()):
                    out.append(f"    key {key_id}: {count(k['videos'], 'video')}, "
                               f"{_cost_text(k['usd'], int(k['unknown']), k['unknown'] + k['known'], k['credits'])}")
        if len(self.cost) > 1 or len(plans) > 1:
            usd = sum(c["usd"] for c in self.cost.values())
            credits = sum(c["credits"] for c in self.cost.values())
            videos = int(sum(c["videos"] for c in self.cost.values()))
            unknown = sum(self.unknown_usd.values())
            actual = _cost_text(usd, unknown, unknown + sum(self.known_usd.values()), credits)
            out.append(f"  total: {count(videos, 'video')}, {actual}{_planned(self.estimate)}")
        out.extend(unknown_line(p, times) for p, times in sorted(self.unknown_submits.items()))
        return out


def unknown_line(provider: str, times: list[float | None]) -> str:
    """The summary line for ``provider``'s ``unknown`` jobs (submit sent, answer
    lost: possibly submitted, possibly paid) whose submits were sent around
    ``times`` (unix seconds; None: not recorded): check the provider's dashboard
    around those times (UTC); if nothing is there, ``--resubmit-unknown``. A
    provider that takes an idempotency key (data/providers.yaml) is sent the
    job again by the next run under the same key: nothing to check."""
    n = len(times)
    stamps = [_utc(t) for t in sorted(t for t in times if t is not None)]
    sent = ", ".join(stamps) if len(stamps) <= 3 else f"{stamps[0]} to {stamps[-1]}"
    when = f"submit{'s' if n > 1 else ''} sent around {sent}" if stamps else "submit time not recorded"
    head = f"  unknown: {n} {provider} job{'s' if n > 1 else ''} ({when})"
    info = catalog().get(provider)
    if info is not None and info.idempotency_key:
        return (f"{head}: the next run sends {'them' if n > 1 else 'it'} again under the same "
                f"idempotency key, so {provider} makes no second task")
    return (f"{head}: check {provider}'s dashboard for {'tasks' if n > 1 else 'a task'} made around then; "
            "if nothing is there, run again with --resubmit-unknown")


def _utc(ts: float) -> str:
    """``ts`` (unix seconds) as ``2026-11-02 12:03:41 UTC``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _submit_time(record: JobRecord) -> float | None:
    """When an ``unknown`` job's submit was sent, as near as the journal knows:
    its record's last change (``updated_at``), which is the time the runner gave
    the answer up (at most the submit timeout and its retries after the send),
    or, for a submit a killed run left behind, the time its intent was recorded
    just before sending. (``submitted_at`` and ``finished_at`` may be an earlier
    try's.) None when the record has no time."""
    for value in (record.updated_at, record.finished_at):
        if isinstance(value, int | float) and value > 0 and math.isfinite(value):
            return float(value)
    return None


def _cost_text(usd: float, unknown: int, videos: float, credits: float) -> str:
    text = describe_usd(usd, unknown, videos, named=True)
    return text + (f", {credits:g} credits" if credits else "")


def _planned(plan: Any) -> str:
    """`` (plan: N jobs, $X, C credits)`` for a plan.ProviderPlan or plan.Plan."""
    if plan is None:
        return ""
    return f"  (plan: {count(plan.jobs, 'job')}, {_cost_text(plan.usd, plan.unknown_usd, plan.jobs, plan.credits)})"


def summarize(records: Iterable[JobRecord], wall_s: float = 0.0, estimate: Any = None,
              estimate_wall_s: float | None = None, *, removed: Iterable[JobRecord] = ()) -> Summary:
    """A Summary of journal records, beside the plan's ``estimate`` (a
    plan.Plan) when given. Cost counts every paid attempt: succeeded jobs,
    failed ones the provider charged (a cost recorded), and each job's earlier
    paid attempts (re-rolls, retries: JobRecord.earlier_*); ``removed``: the
    records of rows no longer in the manifest (edited or removed), whose cost
    counts too (not their status)."""
    s = Summary(wall_s=wall_s, estimate=estimate, estimate_wall_s=estimate_wall_s)
    for r in records:
        status = str(r.status)
        s.by_status[status] = s.by_status.get(status, 0) + 1
        if r.status == JobStatus.UNKNOWN:
            s.unknown_submits.setdefault(r.provider, []).append(_submit_time(r))
        _count_cost(s, r)
    for r in removed:
        _count_cost(s, r, videos=False)
    return s


def _count_cost(s: Summary, r: JobRecord, *, videos: bool = True) -> None:
    """Add what ``r``'s paid attempts cost to ``s`` (its videos too, unless not ``videos``)."""
    succeeded = r.status == JobStatus.SUCCEEDED
    now = succeeded or r.charged
    if not now and not r.earlier_paid:
        return
    c = s.cost.setdefault(r.provider, {"videos": 0, "usd": 0.0, "credits": 0.0})
    c["videos"] += 1 if succeeded and videos else 0
    c["credits"] += (r.cost_credits or 0) + r.earlier_credits
    unknown = r.earlier_unknown_usd + (now and r.cost_usd is None)
    known = r.earlier_paid - r.earlier_unknown_usd + (now and r.cost_usd is not None)
    usd = r.earlier_usd + (r.cost_usd or 0.0)
    if r.key_id:  # None: recorded before key pools
        k = s.by_key.setdefault(r.provider, {}).setdefault(
            r.key_id, {"videos": 0, "usd": 0.0, "credits": 0.0, "unknown": 0, "known": 0})
        k["videos"] += 1 if succeeded and videos else 0
        k["credits"] += (r.cost_credits or 0) + r.earlier_credits
        k["usd"] += usd
        k["unknown"] += unknown
        k["known"] += known
    c["usd"] += usd
    if unknown:
        s.unknown_usd[r.provider] = s.unknown_usd.get(r.provider, 0) + unknown
    if known:
        s.known_usd[r.provider] = s.known_usd.get(r.provider, 0) + known
