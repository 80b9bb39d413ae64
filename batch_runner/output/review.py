"""Read a person's verdicts back from a results file into the journal.

The results CSV and workbook (output/results.py, output/workbook.py) carry a
``review`` column (``approved``, ``rejected`` or blank) and a free-text
``review_note``. ``read_sheet`` reads them by header name (any column order;
rows sorted or filtered), ``import_reviews`` records each in the journal's
``reviews`` table by ``job_id`` against the task the row shows (its
``task_id``), never by row order. A row is not taken, and named, when its job
id is not in the journal, its prompt differs from the journal's (the row was
edited since), or its task is no longer the job's (a newer video was made
since that file was written). Every new results file shows the journal's
verdicts again, so none is lost when a file is rewritten.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batch_runner.errors import ConfigError
from batch_runner.journal import JobRecord, JobStatus, Journal
from batch_runner.logs import event
from batch_runner.output.results import safe_cell
from batch_runner.output.workbook import VERDICTS, is_results_workbook

__all__ = ["ReviewRow", "ReviewTaken", "has_reviews", "import_reviews", "read_sheet", "rejected_rerolls",
           "review_counts", "review_lines", "take_reviews", "would_reroll_rejected"]


@dataclass(frozen=True)
class ReviewRow:
    """One row of a results file: its ``line`` (the sheet's row number, header
    = 1), ``job_id``, ``task_id``, ``prompt``, ``verdict`` (approved, rejected,
    None: blank) and ``note`` (None: blank)."""

    line: int
    job_id: str
    task_id: str
    prompt: str
    verdict: str | None
    note: str | None


@dataclass
class ReviewTaken:
    """What ``import_reviews`` took: rows newly ``approved`` / ``rejected`` /
    ``cleared`` (verdict and note removed), ``noted`` (only the note changed),
    ``unchanged``; ``unmatched``: one line per row not taken, naming it and why."""

    approved: int = 0
    rejected: int = 0
    cleared: int = 0
    noted: int = 0
    unchanged: int = 0
    unmatched: list[str] = field(default_factory=list)

    def lines(self, where: str) -> list[str]:
        """What was taken, as printable lines (``where``: the file's name)."""
        head = (f"{where}: {self.approved} approved, {self.rejected} rejected, {self.unchanged} unchanged"
                + (f", {self.cleared} cleared" if self.cleared else "")
                + (f", {self.noted} notes changed" if self.noted else "")
                + (f"; {len(self.unmatched)} not matched:" if self.unmatched else ""))
        return [head, *(f"  {u}" for u in self.unmatched)]


def _text(value: Any) -> str:
    """A cell as text: blank for None, line endings as ``\\n``, outer spaces stripped."""
    if value is None:
        return ""
    return str(value).replace("\r\n", "\n").replace("\r", "\n").strip()


def _unguard(value: str) -> str:
    """A cell without the formula guard's leading ``'`` (results.safe_cell)."""
    return value[1:] if value.startswith("'") and safe_cell(value[1:]) == value else value


def _rows_of(path: Path) -> list[dict[str, Any]]:
    """The rows of a results file as dicts keyed by column name (CSV, or a workbook's first sheet)."""
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        if not is_results_workbook(path):
            raise ConfigError(f"{path}: not a results workbook (its first sheet's A1 is not job_id)")
        book = load_workbook(path, read_only=True, data_only=True)
        try:
            values = list(book.worksheets[0].iter_rows(values_only=True))
        finally:
            book.close()
        header = [_text(c) for c in values[0]] if values else []
        return [dict(zip(header, row, strict=False)) for row in values[1:]]
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def read_sheet(path: str | Path) -> list[ReviewRow]:
    """The rows of the results file at ``path`` (.csv or .xlsx) that have a
    job id. Raises ConfigError naming the file, row and value for a ``review``
    that is not approved, rejected or blank (any case), or a file without the
    ``job_id`` column; OSError when it cannot be read."""
    path = Path(path)
    try:
        rows = _rows_of(path)
    except (OSError, ConfigError):
        raise
    except Exception as exc:  # a damaged workbook, a file that is not one
        raise ConfigError(f"{path}: cannot read it as results ({exc})") from None
    if rows and "job_id" not in rows[0]:
        raise ConfigError(f"{path}: no job_id column: give a results file batch-runner wrote")
    out = []
    for line, row in enumerate(rows, start=2):
        job_id = _unguard(_text(row.get("job_id")))
        if not job_id:
            continue
        verdict = _unguard(_text(row.get("review"))).lower()
        if verdict and verdict not in VERDICTS:
            raise ConfigError(f"{path}: row {line} (job {job_id}): review {verdict!r} is not approved, rejected "
                              "or blank: fix the cell and run again")
        note = _unguard(_text(row.get("review_note")))
        out.append(ReviewRow(line, job_id, _unguard(_text(row.get("task_id"))), _unguard(_text(row.get("prompt"))),
                             verdict or None, note or None))
    return out


def has_reviews(rows: list[ReviewRow]) -> bool:
    """Whether any row carries a verdict or a note."""
    return any(r.verdict or r.note for r in rows)


def import_reviews(journal: Journal, rows: list[ReviewRow]) -> ReviewTaken:
    """Record the verdicts of ``rows`` (read_sheet) in ``journal``, by job id,
    each against the task its row shows; a blank verdict and note where the
    journal holds one clears it. Returns what was taken."""
    taken = ReviewTaken()
    known = journal.snapshot()
    for row in rows:
        record = known.get(row.job_id)
        where = f"row {row.line} (job {row.job_id})"
        if record is None:
            taken.unmatched.append(f"{where}: not in the journal {journal.where}")
            continue
        prompt = _text(record.job_fields().get("prompt"))
        if row.prompt != prompt and row.prompt != _unguard(prompt):
            taken.unmatched.append(f"{where}: its prompt was changed since (the journal has {prompt[:60]!r})")
            continue
        if row.task_id != (record.task_id or ""):
            taken.unmatched.append(f"{where}: the job has a newer video since (task {record.task_id or 'none'}, "
                                   f"the row shows {row.task_id or 'none'}): review the new results file")
            continue
        if (row.verdict, row.note) == (record.review, record.review_note):
            taken.unchanged += 1
            continue
        journal.record_review(row.job_id, record.task_id, row.verdict, row.note, prompt)
        if row.verdict == "approved" and record.review != "approved":
            taken.approved += 1
        elif row.verdict == "rejected" and record.review != "rejected":
            taken.rejected += 1
        elif row.verdict is None and row.note is None:
            taken.cleared += 1
        else:
            taken.noted += 1
    return taken


def take_reviews(journal: Journal, results: Path, *, quiet_when_none: bool = False) -> list[str]:
    """Record the verdicts of ``results`` in ``journal`` (output/review.py) and
    return the lines saying what was taken ([] when ``quiet_when_none`` and the
    file holds no verdict nor note). Raises ConfigError for a value that is not
    a verdict (nothing recorded), OSError when the file cannot be read."""
    rows = read_sheet(results)
    if quiet_when_none and not has_reviews(rows):
        return []
    return import_reviews(journal, rows).lines(f"review {results.name}")


def rejected_rerolls(journal: Journal, fresh: list[Any]) -> int:
    """How many jobs of ``fresh`` (a run's submits) are re-rolls of a rejected
    video (run --reroll-rejected); each is logged, with the replacement prompt it sends."""
    snapshot = journal.snapshot()
    n = 0
    for job in fresh:
        record = snapshot.get(job.job_id)
        if record is None or record.status != JobStatus.SUCCEEDED or record.review != "rejected":
            continue
        n += 1
        prompt = record.replacement_prompt
        event("job_reroll_rejected", "job %s: its video (task %s) was rejected: submitting it again%s", job.job_id,
              record.task_id, f" with the prompt {prompt!r}" if prompt else "", job_id=job.job_id,
              task_id=record.task_id, prompt=prompt)
    return n


def would_reroll_rejected(known: dict[str, JobRecord], results: Path, max_rerolls: int) -> list[str]:
    """The job ids ``run --reroll-rejected`` would submit again (a dry run:
    nothing recorded): those the journal holds rejected, with the verdicts of
    the results file ``results`` (if it exists) over them, where its rows match."""
    verdicts = {r.job_id: r.verdict for r in read_sheet(results)
                if r.job_id in known and r.task_id == (known[r.job_id].task_id or "")} if results.is_file() else {}
    return [job_id for job_id, r in known.items()
            if r.status == JobStatus.SUCCEEDED and r.review_rerolls < max_rerolls
            and verdicts.get(job_id, r.review) == "rejected"]


def review_counts(records: Iterable[JobRecord]) -> dict[str, dict[str, Any]]:
    """Per provider: ``approved``, ``rejected``, ``awaiting`` (succeeded, no
    verdict yet), ``usd`` (every paid attempt of the provider's jobs, earlier
    ones included; None when one's USD price is unknown) and ``usd_per_approved``
    (None: no approved video, or an unknown price)."""
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        c = out.setdefault(r.provider, {"approved": 0, "rejected": 0, "awaiting": 0, "usd": 0.0})
        if r.review in VERDICTS:
            c[r.review] += 1
        elif r.status == JobStatus.SUCCEEDED:
            c["awaiting"] += 1
        if r.paid_attempts:
            usd = r.usd_all_attempts
            c["usd"] = None if usd is None or c["usd"] is None else c["usd"] + usd
    for c in out.values():
        c["usd_per_approved"] = c["usd"] / c["approved"] if c["approved"] and c["usd"] is not None else None
    return out


def review_lines(records: Iterable[JobRecord]) -> list[str]:
    """The summary's review lines, once any job has a verdict: per provider,
    approved / rejected / awaiting review and USD per approved video."""
    counts = review_counts(records)
    if not any(c["approved"] or c["rejected"] for c in counts.values()):
        return []
    out = []
    for provider, c in sorted(counts.items()):
        per = c["usd_per_approved"]
        cost = f"${per:.4f} per approved video" if per is not None else (
            "no approved video yet" if not c["approved"] else "USD per approved video unknown")
        out.append(f"  review {provider}: {c['approved']} approved, {c['rejected']} rejected, "
                   f"{c['awaiting']} awaiting review; {cost}")
    return out
