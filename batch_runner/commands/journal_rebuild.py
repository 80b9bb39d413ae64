"""A journal built from a results file (``batch-runner journal rebuild RESULTS``, commands/journal.py).

For a campaign whose journal was deleted or lost while its results file (CSV or
workbook) survived: every task id the results list goes back into a new journal,
so the next ``run`` polls those tasks instead of submitting, and paying for, the
jobs again. A row in flight (``submitted`` or ``submitting`` with a task id)
becomes ``submitted`` on its provider, with the key id that made it (its task
is polled with that key); a succeeded row keeps its video URL, cost and times;
a failed row keeps its error (``--retry-failed`` decides, as ever); a row whose
submit answer was lost stays ``unknown``; a row never sent is left out (the run
adds it as new). A saved video whose file is still there, of the recorded size,
is recorded as saved.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from batch_runner.errors import ConfigError
from batch_runner.journal import JobStatus
from batch_runner.journal.copy import insert_rows
from batch_runner.journal.postgres import is_database_url, open_journal, safe_url
from batch_runner.output.readback import read_results, shown
from batch_runner.output.results import RESULT_COLUMNS

__all__ = ["default_journal", "rebuild_journal"]

_NEEDED = ("job_id", "status", "task_id", "provider")
_JOB_FIELDS = ("row", "name", "variant", "provider", "model", "scene", "prompt", "image", "duration", "resolution")
_WHOLE = ("row", "variant", "duration")
_RESULTS_SUFFIX = ".results.csv"


def default_journal(results: Path) -> Path:
    """The journal ``run`` uses for the results ``results`` written by default
    (``campaign.csv.results.csv`` -> ``campaign.csv.journal.sqlite``, beside it).
    Raises ConfigError for another name: the journal must then be named."""
    if not results.name.endswith(_RESULTS_SUFFIX) or results.name == _RESULTS_SUFFIX:
        raise ConfigError(f"{results}: not named like a default results file (<manifest>{_RESULTS_SUFFIX}): "
                          "name the journal the run uses with --journal PATH (by default the manifest's "
                          "<manifest>.journal.sqlite)")
    return results.with_name(results.name.removesuffix(_RESULTS_SUFFIX) + ".journal.sqlite")


def _number(text: str, whole: bool = False) -> Any:
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if whole else value


def _unix(text: str) -> float | None:
    """Unix seconds of a results time cell (ISO 8601 UTC, ``...Z``), None when blank or not a time."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else None
    except ValueError:
        return None


def _status(row: dict[str, str]) -> JobStatus | None:
    """The journal status a results row comes back as (None: never sent, left out:
    the run adds it as new)."""
    word, task_id = row["status"], row["task_id"]
    if word in ("succeeded", "failed"):
        return JobStatus(word)
    if task_id:
        return JobStatus.SUBMITTED
    if word in ("unknown", "submitting"):
        return JobStatus.UNKNOWN
    return None


def _job_row(index: int, row: dict[str, str], status: JobStatus, now: float) -> dict[str, Any]:
    """The ``jobs`` columns of one results row."""
    fields: dict[str, Any] = {"job_id": row["job_id"], "index": index, "end_image": None}
    for name in _JOB_FIELDS:
        value = row.get(name, "")
        fields[name] = _number(value, whole=True) if name in _WHOLE else (value or None if name == "image" else value)
    fields["extras"] = {k: v for k, v in row.items() if k not in RESULT_COLUMNS}
    number = {k: _number(row.get(k, "")) for k in ("cost_credits", "cost_usd", "attempts")}
    done = status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.UNKNOWN)
    return {
        "job_id": row["job_id"], "job": json.dumps(fields, ensure_ascii=False), "provider": row["provider"],
        "status": str(status), "task_id": row["task_id"] or None,
        "attempts": int(number["attempts"] or (1 if row["task_id"] else 0)),
        "submitted_at": _unix(row.get("submitted_at", "")),
        "finished_at": _unix(row.get("finished_at", "")) if done else None,
        "video_url": row.get("video_url") or None, "url_expires_at": _unix(row.get("url_expires_at", "")),
        "cost_credits": number["cost_credits"], "cost_usd": number["cost_usd"],
        "error_code": (row.get("error_code") or None) if done else None,
        "provider_code": (row.get("provider_code") or None) if done else None,
        "error_message": (row.get("error_message") or None) if done else None,
        "providers_tried": row.get("providers_tried") or None, "updated_at": now,
        "key_id": row.get("key_id") or None,
    }


def _download_row(row: dict[str, str], now: float) -> tuple[Any, ...] | None:
    """The ``downloads`` row of a results row whose saved video is still there, whole; else None."""
    path, size, sha = row.get("local_path", ""), _number(row.get("bytes", ""), whole=True), row.get("sha256", "")
    if not (path and size is not None and sha) or not Path(path).is_file() or Path(path).stat().st_size != size:
        return None
    return row["job_id"], str(Path(path).resolve()), size, sha, row.get("video_url") or None, now


def rebuild_journal(results: Path, target: str | None = None,
                    campaign: str | None = None) -> tuple[str, dict[str, int]]:
    """Build the journal ``target`` (an SQLite file, or a postgresql:// URL and its
    ``campaign``; None: default_journal(results)) from the results file ``results``.
    Returns (the journal's name, jobs recorded per status, ``saved`` videos). Raises
    ConfigError when the results cannot be read, hold no task id, or the journal
    already holds jobs; StateLockedError when a run holds it."""
    if not results.is_file():
        raise ConfigError(f"{results}: no such results file")
    rows = [{k: shown(v).strip() for k, v in r.items()} for r in read_results(results, _NEEDED)]
    where = target if target is not None else str(default_journal(results))
    if is_database_url(where) and campaign is None:
        campaign = default_journal(results).name.removesuffix(".journal.sqlite")
    now = time.time()
    jobs, downloads, seen = [], [], set()
    for index, row in enumerate(rows):
        status = _status(row)
        if status is None or not row["job_id"] or row["job_id"] in seen:
            continue
        seen.add(row["job_id"])
        jobs.append(_job_row(index, row, status, now))
        if status == JobStatus.SUCCEEDED and (saved := _download_row(row, now)) is not None:
            downloads.append(saved)
    if not any(j["task_id"] for j in jobs):
        raise ConfigError(f"{results}: lists no task id: nothing was submitted, a run needs no rebuilt journal")
    name = safe_url(where) if is_database_url(where) else where
    with open_journal(where, campaign, lock=not is_database_url(where)) as journal:
        held = sum(journal.counts().values())
        if held:
            raise ConfigError(f"journal rebuild: {name} already holds {held} jobs: a rebuild never merges; "
                              "name a new journal with --journal PATH")
        cols = list(jobs[0])
        insert_rows(journal, "jobs", cols, [tuple(j[c] for c in cols) for j in jobs])
        insert_rows(journal, "downloads", ["job_id", "local_path", "bytes", "sha256", "url", "saved_at"], downloads)
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job["status"]] = counts.get(job["status"], 0) + 1
    counts["saved"] = len(downloads)
    return name, counts
