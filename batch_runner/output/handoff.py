"""Hand a run's work to the team: delivery, notifications and metrics in one object.

``Handoff.prepare`` checks ``--deliver`` (opens and probes the storage: deliver.py),
``--notify`` (apprise knows each URL: notify.py) and ``--metrics-file`` (a file in
an existing folder) before anything is sent; the run then calls ``after_qa`` (the
downloader's ``on_saved``), ``on_record`` (each job's end), ``start`` / ``stop``
(the metrics file every minute), ``deliver_files`` (results, report, contact sheet)
and ``end`` (the last metrics and the digest).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from batch_runner.errors import ConfigError
from batch_runner.journal import JobRecord, JobStatus, Journal
from batch_runner.output.deliver import Deliverer, Target, after_qa, delivery_target
from batch_runner.output.metrics import EVERY_S, write_metrics, writing_every
from batch_runner.output.notify import Digest, Notifier, spent

__all__ = ["Handoff"]

log = logging.getLogger(__name__)


class Handoff:
    """The delivery, notifications and metrics of one run (each optional).

    ``target``: the checked ``--deliver`` storage (None: no delivery); ``notifier``:
    None without ``--notify``; ``metrics_file``: None without ``--metrics-file``."""

    def __init__(self, target: Target | None, notifier: Notifier | None, metrics_file: Path | None,
                 *, deliver_qa_failed: bool = False, deliver_approved_only: bool = False) -> None:
        self.target, self.notifier, self.metrics_file = target, notifier, metrics_file
        self.deliver_qa_failed = deliver_qa_failed
        self.deliver_approved_only = deliver_approved_only
        self.deliverer: Deliverer | None = None
        self._ticking: asyncio.Task[None] | None = None
        self._started = time.monotonic()

    @classmethod
    def prepare(cls, *, deliver: str | None = None, download: Path | None = None, deliver_qa_failed: bool = False,
                deliver_approved_only: bool = False, notify: Sequence[str] = (), notify_on: str = "always",
                metrics_file: Path | None = None) -> Handoff:
        """Check the options before anything is sent. Raises ConfigError (DeliveryError for
        the storage): a URL apprise does not know, a metrics file's folder missing, a
        storage that cannot be written (probed: a marker object written and deleted)."""
        if metrics_file is not None and (metrics_file.is_dir() or not metrics_file.parent.is_dir()):
            raise ConfigError(f"--metrics-file {metrics_file}: not a file in an existing folder")
        notifier = Notifier(notify, notify_on) if notify else None
        if notifier is not None and notifier.unreadable:
            raise ConfigError(f"--notify {notifier.unreadable[0]}: not a notification URL apprise knows "
                              "(e.g. slack://..., mailto://..., json://host:port/path; "
                              "https://github.com/caronc/apprise/wiki)")
        target = delivery_target(deliver, download)
        if notifier is not None:
            notifier.arm()
        return cls(target, notifier, metrics_file, deliver_qa_failed=deliver_qa_failed,
                   deliver_approved_only=deliver_approved_only)

    @property
    def failed(self) -> bool:
        """Whether a delivery failed in this run (the exit status says so: 1)."""
        return bool(self.deliverer and self.deliverer.failed)

    def after_qa(self, check: Callable[[JobRecord, Path, str], Awaitable[Any]], journal: Journal,
                 download: Path) -> Callable[[JobRecord, Path, str], Awaitable[Any]]:
        """The downloader's ``on_saved``: QA's ``check``, then the video's delivery."""
        if self.target is not None:
            self.deliverer = Deliverer(self.target, journal, download, qa_failed=self.deliver_qa_failed,
                                       approved_only=self.deliver_approved_only)
        return after_qa(check, self.deliverer, journal)

    def on_record(self, record: JobRecord) -> None:
        """A job ended: a budget cap that stops submits is told once."""
        if self.notifier is not None and record.status == JobStatus.SKIPPED_BUDGET:
            self.notifier.alert("budget cap", f"a budget cap stopped submits (first job held back: {record.job_id}, "
                                              "skipped_budget); raise --max-cost / --max-credits and run again")

    def start(self, campaign: str, records: Callable[[], Iterable[JobRecord]]) -> None:
        """Write the metrics file now and every minute while the run goes (until ``stop``)."""
        if self.metrics_file is None:
            return
        path = self.metrics_file

        def write() -> None:
            write_metrics(path, campaign, records(), duration_s=time.monotonic() - self._started)

        try:
            write()
        except OSError as exc:
            log.warning("metrics file not written: %s", exc)
        self._ticking = asyncio.get_running_loop().create_task(writing_every(write, EVERY_S))

    async def stop(self) -> None:
        """Stop rewriting the metrics file."""
        if self._ticking is not None:
            self._ticking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticking
            self._ticking = None

    async def deliver_files(self, files: Mapping[str, Path | None]) -> None:
        """Deliver the run's files that exist (kind -> path: results, report, contact_sheet).
        The journal is closed by then: each is compared with the store's copy (sha256)."""
        if self.target is None:
            return
        if self.deliverer is None:
            self.deliverer = Deliverer(self.target, None)
        self.deliverer.journal = None
        for kind, path in files.items():
            if path is not None and path.is_file():
                await self.deliverer.file(path, kind)

    def lines(self) -> list[str]:
        """The run summary's lines of the delivery."""
        return self.deliverer.lines() if self.deliverer is not None else []

    async def end(self, status: int, campaign: str, records: list[JobRecord], *, since: float,
                  plan_s: float | None, alerts: Iterable[tuple[str, str]] = ()) -> None:
        """The run ended with exit ``status``: the last metrics, then the alerts not sent yet
        and the digest. ``records``: the campaign's; ``since``: the run's start (unix seconds)."""
        await self.stop()
        wall_s = time.monotonic() - self._started
        if self.metrics_file is not None:
            try:
                write_metrics(self.metrics_file, campaign, records, duration_s=wall_s, exit_status=status)
            except OSError as exc:
                log.warning("metrics file not written: %s", exc)
        if self.notifier is None:
            return
        by_status: dict[str, int] = {}
        for r in records:
            by_status[str(r.status)] = by_status.get(str(r.status), 0) + 1
        links = dict(self.deliverer.urls) if self.deliverer is not None else {}
        if self.target is not None:
            links = {"delivered to": self.target.url, **links}
        digest = Digest(campaign, status, by_status, spent(records, since), spent(records),
                        qa_failed=sum(r.qa_status == "failed" for r in records),
                        unknown=by_status.get(JobStatus.UNKNOWN, 0), plan_s=plan_s, wall_s=wall_s, links=links)
        await self.notifier.finish(digest, alerts)
