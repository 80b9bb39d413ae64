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
import io
import itertools
import math
import os
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batch_runner.catalog.facts import catalog
from batch_runner.catalog.prices import describe_usd
from batch_runner.output.atomic import write_atomically

if TYPE_CHECKING:
    import pandas as pd

from batch_runner.journal import JobRecord, JobStatus
from batch_runner.words import count

__all__ = ["RESULT_COLUMNS", "Summary", "result_table", "results_frame", "summarize", "write_results"]

RESULT_COLUMNS = [
    "job_id", "row", "name", "variant", "provider", "providers_tried", "key_id", "model", "scene", "prompt",
    "image", "duration", "resolution", "status", "task_id", "video_url",
    "cost_credits", "cost_usd", "attempts", "paid_attempts", "cost_all_attempts", "credits_all_attempts",
    "earlier_task_ids", "error_code", "provider_code",
    "error_message", "submitted_at", "finished_at", "elapsed_s", "url_expires_at",
    "local_path", "bytes", "sha256", "qa_status", "qa_problems", "video_width", "video_height",
    "video_duration_s", "video_codec", "video_fps", "delivered_url", "in_manifest", "review", "review_note",
]
_NUMERIC = {"row", "variant", "duration", "cost_credits", "cost_usd", "attempts", "paid_attempts",
            "cost_all_attempts", "credits_all_attempts", "elapsed_s", "bytes",
            "video_width", "video_height", "video_duration_s", "video_fps"}
_WHOLE = {"bytes", "video_width", "video_height"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\0")
_INT64 = 2**63
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_BOM = "\ufeff"  # UTF-8 byte-order mark: Excel reads the file as UTF-8


def _iso(ts: Any) -> str:
    if ts is None or ts == "":
        return ""
    try:
        return datetime.fromtimestamp(float(ts), UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    except (TypeError, ValueError, OverflowError, OSError):
        return ""  # not a time: never stop writing the results for it


def safe_cell(value: Any) -> Any:
    """A text cell made inert for spreadsheets: formula-like text gets a ``'``;
    other values (and text that is a plain number) are returned unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def result_row(record: JobRecord, in_manifest: bool | None = None) -> dict[str, Any]:
    """One results row from a journal record (its ``job`` JSON + state columns);
    ``in_manifest``: whether the job's row is still in the manifest (None: not known,
    e.g. results rebuilt from the journal alone)."""
    job = record.job_fields()
    submitted, finished = record.submitted_at, record.finished_at
    elapsed = round(finished - submitted, 3) if submitted and finished else None
    row = {
        "job_id": record.job_id,
        "row": job.get("row"),
        "name": job.get("name", ""),
        "variant": job.get("variant"),
        "provider": record.provider or job.get("provider"),
        "providers_tried": record.providers_tried or "",
        "key_id": record.key_id or "",
        "model": job.get("model"),
        "scene": job.get("scene"),
        "prompt": job.get("prompt"),
        "image": job.get("image") or "",
        "duration": job.get("duration"),
        "resolution": job.get("resolution"),
        "status": str(record.status),
        "task_id": record.task_id or "",
        "video_url": record.video_url or "",
        "cost_credits": record.cost_credits,
        "cost_usd": record.cost_usd,
        "attempts": record.attempts or 0,
        "paid_attempts": record.paid_attempts,
        "cost_all_attempts": record.usd_all_attempts if record.paid_attempts else None,
        "credits_all_attempts": record.credits_all_attempts,
        "earlier_task_ids": record.earlier_task_ids or "",
        "error_code": record.error_code or "",
        "provider_code": record.provider_code or "",
        "error_message": record.error_message or "",
        "submitted_at": _iso(submitted),
        "finished_at": _iso(finished),
        "elapsed_s": elapsed,
        "url_expires_at": _iso(record.url_expires_at),
        "local_path": record.local_path or "",
        "bytes": record.size_bytes,
        "sha256": record.sha256 or "",
        **_qa_cells(record),
        "delivered_url": record.delivered_url or "",
        "in_manifest": "" if in_manifest is None else ("yes" if in_manifest else "no"),
        "review": record.review or "",
        "review_note": record.review_note or "",
    }
    for key, value in (job.get("extras") or {}).items():
        if key not in row:
            row[key] = value
    return row


def _qa_cells(record: JobRecord) -> dict[str, Any]:
    """The QA columns of a record: its verdict (``skipped`` for a succeeded job
    whose video was not saved; blank for a job without a video) and what the
    probe read."""
    status = record.qa_status or ("skipped" if record.status == JobStatus.SUCCEEDED and not record.local_path
                                  else "")
    return {"qa_status": status if record.status == JobStatus.SUCCEEDED else "",
            "qa_problems": record.qa_problems or "", "video_width": record.video_width,
            "video_height": record.video_height, "video_duration_s": record.video_duration_s,
            "video_codec": record.video_codec or "", "video_fps": record.video_fps}


def result_table(records: Iterable[JobRecord],
                 manifest_ids: Collection[str] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The results as ``(columns, rows)``: RESULT_COLUMNS, then the manifest's
    extra columns (first seen first); one tuple of cells per record, in order.

    Cells are what the CSV holds: text made inert (``safe_cell``) outside the
    numeric columns, None where a value is missing. A column typed as pandas
    would type it keeps the file as it has always been: a column of numbers
    with a blank or a fraction holds floats (``5.0``), ``bytes`` whole numbers.
    """
    rows = [result_row(r, None if manifest_ids is None else r.job_id in manifest_ids) for r in records]
    fixed = set(RESULT_COLUMNS)
    extras = [k for k in dict.fromkeys(itertools.chain.from_iterable(rows)) if k not in fixed]
    columns = RESULT_COLUMNS + extras
    by_column = [_column([r.get(c) for r in rows], numeric=c in _NUMERIC, whole=c in _WHOLE) for c in columns]
    return RESULT_COLUMNS + [safe_cell(c) for c in extras], list(zip(*by_column, strict=True))


def _column(values: list[Any], *, numeric: bool, whole: bool) -> list[Any]:
    """One column's cells: NaN to None (a blank); the numbers of a column of
    numbers with a blank or a fraction as floats (``whole``: as ints); text
    outside the ``numeric`` columns made inert (safe_cell)."""
    kinds = set(map(type, values))
    if float in kinds:
        values = [None if isinstance(v, float) and math.isnan(v) else v for v in values]
        kinds = set(map(type, values))
    present = kinds - {type(None)}
    if present and present <= {int, float}:
        if whole:
            return [None if v is None else int(v) for v in values]
        if float in present or len(present) < len(kinds):
            if int in present and any(type(v) is int and not -_INT64 <= v < _INT64 for v in values):
                return values  # too big for a float column: pandas kept such numbers as they are
            return [None if v is None else float(v) for v in values]
        return values
    if numeric or not any(issubclass(k, str) for k in present):
        return values
    guard = [i for i, v in enumerate(values) if isinstance(v, str) and v.startswith(_FORMULA_START)]
    for i in guard:
        values[i] = safe_cell(values[i])
    return values


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
        columns, cells = result_table(records, manifest_ids)
        cost = summarize(records)
        usd = {p: c["usd"] if cost.known_usd.get(p) or not cost.unknown_usd.get(p) else None
               for p, c in cost.cost.items()}  # None: every paid attempt's USD price unknown
        return write_workbook(path, columns, cells, usd=usd, unknown_usd=dict(cost.unknown_usd),
                              make_posters=make_posters)
    columns, cells = result_table(records, manifest_ids)
    buffer = io.StringIO()
    buffer.write(_BOM)
    writer = csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator=os.linesep)
    writer.writerow(columns)
    writer.writerows(cells)
    write_atomically(path, buffer.getvalue())
    return len(cells)


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
