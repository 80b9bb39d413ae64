"""A run's numbers for cron monitoring (``run --metrics-file PATH.prom``), with prometheus-client.

The file is in the Prometheus text format that node_exporter's textfile collector
reads (https://github.com/prometheus/node_exporter#textfile-collector), written
atomically (prometheus_client.write_to_textfile: a temporary file renamed over
it) every minute while the run goes and once at its end. Its metrics, each about
the campaign's journal as it stands (``campaign`` label):

- ``batch_runner_jobs{status, provider}``: jobs per status and provider;
- ``batch_runner_videos{provider}``: videos saved (run --download);
- ``batch_runner_spend_usd{provider}`` / ``batch_runner_spend_credits{provider}``:
  what the campaign's jobs were charged, every attempt (re-rolls) counted;
- ``batch_runner_qa_failed``: saved videos QA failed;
- ``batch_runner_unknown_jobs``: jobs possibly submitted, task id unknown (a person must look);
- ``batch_runner_run_duration_seconds``: this run's wall time so far;
- ``batch_runner_running``: 1 while the run goes, 0 once it ended;
- ``batch_runner_last_exit_status``: the exit status of the run (absent while it goes);
- ``batch_runner_last_success_timestamp_seconds``: when a run last ended with exit
  status 0 (unix seconds; carried over from the file by a run that fails, so an
  alert can say "no success for a day").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["EVERY_S", "LAST_SUCCESS", "last_success", "write_metrics", "writing_every"]

log = logging.getLogger(__name__)

EVERY_S = 60.0  # the file is rewritten this often while the run goes (seconds)
LAST_SUCCESS = "batch_runner_last_success_timestamp_seconds"


def last_success(path: Path) -> float | None:
    """The last success time recorded in the metrics file at ``path`` (unix seconds), or None."""
    try:
        text = path.read_text(encoding="utf-8")
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == LAST_SUCCESS:
                    return float(sample.value)
    except (OSError, ValueError):
        return None
    return None


def write_metrics(path: Path, campaign: str, records: Iterable[Any], *, duration_s: float,
                  exit_status: int | None = None, now: float | None = None) -> None:
    """Write the metrics of ``records`` (the campaign's JobRecords) to ``path`` atomically.
    ``duration_s``: this run's wall time; ``exit_status``: None while the run goes.
    Raises OSError when the file cannot be written."""
    registry = CollectorRegistry()
    labels = ["campaign"]

    def gauge(name: str, doc: str, *extra: str) -> Gauge:
        return Gauge(name, doc, [*labels, *extra], registry=registry)

    jobs = gauge("batch_runner_jobs", "Jobs of the campaign per status and provider.", "status", "provider")
    videos = gauge("batch_runner_videos", "Videos saved (run --download), per provider.", "provider")
    usd = gauge("batch_runner_spend_usd", "USD charged for the campaign's jobs, every attempt counted.", "provider")
    credits = gauge("batch_runner_spend_credits", "Provider credits charged, every attempt counted.", "provider")
    by_status: Counter[tuple[str, str]] = Counter()
    qa_failed = unknown = 0
    for r in records:
        by_status[(str(r.status), r.provider)] += 1
        if r.local_path:
            videos.labels(campaign, r.provider).inc()
        usd.labels(campaign, r.provider).inc((r.cost_usd or 0.0) + (r.rerolled_usd or 0.0))
        credits.labels(campaign, r.provider).inc((r.cost_credits or 0.0) + (r.rerolled_credits or 0.0))
        qa_failed += r.qa_status == "failed"
        unknown += str(r.status) == "unknown"
    for (status, provider), n in by_status.items():
        jobs.labels(campaign, status, provider).set(n)
    gauge("batch_runner_qa_failed", "Saved videos that failed QA.").labels(campaign).set(qa_failed)
    gauge("batch_runner_unknown_jobs", "Jobs possibly submitted whose task id is unknown.").labels(campaign).set(
        unknown)
    gauge("batch_runner_run_duration_seconds", "Wall time of this run so far.").labels(campaign).set(duration_s)
    gauge("batch_runner_running", "1 while the run goes, 0 once it ended.").labels(campaign).set(
        exit_status is None)
    if exit_status is not None:
        gauge("batch_runner_last_exit_status", "Exit status of the last run.").labels(campaign).set(exit_status)
    success = (now or time.time()) if exit_status == 0 else last_success(path)
    if success is not None:
        gauge(LAST_SUCCESS, "When a run last ended with exit status 0 (unix seconds).").labels(campaign).set(success)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)


async def writing_every(write: Callable[[], None], every_s: float = EVERY_S) -> None:
    """Call ``write()`` every ``every_s`` seconds until cancelled; a failed write is a warning."""
    while True:
        await asyncio.sleep(every_s)
        try:
            write()
        except Exception as exc:  # a metrics file never stops a run
            log.warning("metrics file not written: %s", exc)
