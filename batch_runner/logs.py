"""Logs for people and for cron: text lines, or one JSON object per event.

``setup_logging(fmt, quiet=, verbose=)`` sends the ``batch_runner`` logger to
stderr. Every record carries an ``event`` name:

- ``job_submitted`` (job_id, row, job_name, variant, provider, task_id),
- ``job_finished`` (a job succeeded: + cost_usd, cost_credits, elapsed_s),
- ``job_failed`` (failed or unknown: + status, error_code, error_message),
- ``retry`` (a submit or download tried again: + attempt, wait_s, error),
- ``video_saved`` / ``download_failed`` (``run --download``: + path, bytes, sha256),
- ``video_qa`` / ``video_qa_failed`` (a saved video's QA: + qa_status, qa_problems, path),
- ``manifest_warning``, ``progress``, ``summary`` (totals), and ``log`` for the rest.

``--log-format json`` writes each record as one JSON object (python-json-logger)
with ``time`` (ISO 8601 UTC), ``level``, ``event``, ``message`` and the fields
above. The text format hides the per-job events (``JOB_EVENTS``) unless
``--verbose``; ``--quiet`` keeps only warnings, errors and the summary, in
either format. Messages never carry API keys (provider errors are redacted).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from batch_runner.keys import redact

__all__ = ["JOB_EVENTS", "event", "job_event", "retry_event", "retry_logger", "setup_logging"]

log = logging.getLogger("batch_runner")
JOB_EVENTS = frozenset({"job_submitted", "job_finished", "retry", "video_saved", "video_qa"})
_HANDLER_MARK = "_batch_runner_handler"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record comes (click's test
    runner and pytest swap it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


class _EventFilter(logging.Filter):
    def __init__(self, quiet: bool, job_events: bool):
        super().__init__()
        self.quiet, self.job_events = quiet, job_events

    def filter(self, record: logging.LogRecord) -> bool:
        name = getattr(record, "event", None) or "log"
        record.event = name
        if self.quiet:
            return record.levelno >= logging.WARNING or name == "summary"
        return self.job_events or name not in JOB_EVENTS


def setup_logging(fmt: str = "text", *, quiet: bool = False, verbose: bool = False) -> None:
    """Send batch_runner's log records to stderr as ``text`` or ``json`` lines.

    Replaces the handler an earlier call installed (each CLI command calls it).
    """
    handler = _StderrHandler()
    if fmt == "json":
        formatter: logging.Formatter = JsonFormatter(
            "{asctime}{levelname}{event}{message}", style="{", datefmt="%Y-%m-%dT%H:%M:%SZ",
            rename_fields={"asctime": "time", "levelname": "level"}, json_ensure_ascii=False,
        )
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s", datefmt="%Y-%m-%dT%H:%M:%SZ")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_EventFilter(quiet, verbose or fmt == "json"))
    setattr(handler, _HANDLER_MARK, True)
    for old in [h for h in log.handlers if getattr(h, _HANDLER_MARK, False)]:
        log.removeHandler(old)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    # psycopg_pool logs each failed reconnect (pages of them when the journal's server stops);
    # the run says it once, in its own words: those lines only with --verbose
    logging.getLogger("psycopg.pool").setLevel(logging.WARNING if verbose else logging.CRITICAL)


def event(name: str, message: str, *args: Any, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event: ``message % args`` plus ``fields`` (None values left out).

    Field names must not be LogRecord attributes (use ``job_name``, ``path``).
    """
    log.log(level, message, *args, extra={"event": name, **{k: v for k, v in fields.items() if v is not None}})


def job_event(job: Any, record: Any) -> None:
    """``job_finished`` or ``job_failed`` for a job that reached a final state
    (``job``: a jobs.expand.Job; ``record``: its journal.JobRecord)."""
    status = str(record.status)
    common = {"job_id": job.job_id, "row": job.row, "job_name": job.name or None, "variant": job.variant,
              "provider": record.provider or job.provider, "task_id": record.task_id}
    if status == "succeeded":
        elapsed = None
        if record.submitted_at and record.finished_at:
            elapsed = round(record.finished_at - record.submitted_at, 3)
        event("job_finished", "job %s (row %s) succeeded on %s", job.job_id, job.row, common["provider"],
              **common, status=status, cost_usd=record.cost_usd,
              cost_credits=record.cost_credits, elapsed_s=elapsed)
    else:
        event("job_failed", "job %s (row %s) %s on %s: %s %s", job.job_id, job.row, status, common["provider"],
              record.error_code or "", record.error_message or "", level=logging.WARNING,
              **common, status=status, error_code=record.error_code,
              error_message=record.error_message)


def retry_event(job_id: str, what: str, attempt: int, wait_s: float, error: BaseException | None) -> None:
    """Log a ``retry`` event: try ``attempt`` of ``what`` failed; the next in ``wait_s`` seconds."""
    text = redact(str(error))
    event("retry", "job %s: %s try %d failed (%s); trying again in %.1f s", job_id, what, attempt, text, wait_s,
          job_id=job_id, action=what, attempt=attempt, wait_s=round(wait_s, 3), error=text)


def retry_logger(job_id: str, what: str, tries_before: int = 0) -> Any:
    """A tenacity ``before_sleep`` that logs a ``retry`` event for ``what``
    (e.g. "submit to apiframe", "download"); ``tries_before``: tries made
    before this tenacity loop started (counted in ``attempt``)."""

    def before_sleep(state: Any) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        retry_event(job_id, what, tries_before + state.attempt_number, wait, exc)

    return before_sleep
