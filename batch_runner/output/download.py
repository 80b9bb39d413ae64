"""``run --download DIR``: save each finished video, resumably, under a safe file name.

Each video is fetched by output/transfer.py (through ``DIR/.<file>.part``,
resumed with ``Range``, so a file with its final name is always whole); a
job's saved file is found by job, not by name (output/saved_videos.py), and
used instead of the network while it is whole.

File names come from a template (default ``{name}-{variant}-{job_id}.mp4``)
with the job's fields and the manifest's own columns (output/file_names.py).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batch_runner.errors import DownloadError, TransportError
from batch_runner.journal import JobRecord, JobStatus, Journal
from batch_runner.logs import event, retry_logger
from batch_runner.output.file_names import DEFAULT_TEMPLATE
from batch_runner.output.saved_videos import NameTaken, SavedVideos, file_sha256
from batch_runner.output.transfer import part_path, save
from batch_runner.run.retry import download_retrying
from batch_runner.transport import Transport

__all__ = ["DownloadOptions", "Downloader"]


@dataclass
class DownloadOptions:
    """Where and how videos are saved. ``max_bytes``: size cap per video;
    ``attempts``: tries per video; ``timeout_s``: longest wait for data;
    ``concurrency``: videos saved at once; ``backoff_base_s``: first retry wait;
    ``trusted_hosts``: hosts allowed although local (the providers' own, e.g. a
    simulator on 127.0.0.1; see urls.check_video_url); ``gone``: says why a
    video URL cannot work any more (e.g. a simulator that stopped with an
    earlier run), or None: such a video fails at once with that reason, no
    request sent. ``refresh``: asks the job's provider for a fresh URL (free;
    run/url_refresh.py), awaited before the first byte when the recorded URL
    has expired and once when the URL answers 403/404/410; it returns the new
    URL or raises DownloadError saying why there is none."""

    directory: Path
    template: str = DEFAULT_TEMPLATE
    max_bytes: int = 500 * 2**20
    attempts: int = 5
    timeout_s: float = 60.0
    concurrency: int = 4
    backoff_base_s: float = 1.0
    trusted_hosts: frozenset[str] = frozenset()
    gone: Callable[[str], str | None] | None = None
    refresh: Callable[[Transport, JobRecord, bool], Awaitable[str | None]] | None = None


@dataclass
class Downloader(SavedVideos):
    """Saves the videos of succeeded jobs as they finish (``offer``) and, at the
    end, those of earlier runs not saved yet (``finish``). ``names``: job_id ->
    file name (file_names.assign_file_names). Set ``transport`` before the first offer.

    Counters after ``finish``: ``saved`` (fetched), ``renamed`` (the job's saved
    file moved to its new name in the same folder), ``copied`` (copied from
    another folder), ``kept`` (already there); ``failed``: job_id -> message.
    A job whose new name is taken by another file fails without touching either file.
    ``on_saved`` is awaited for every video saved or found whole.

    A file already at a job's name is its video only when the journal says
    this job wrote it, or started to (an intent recorded before the first
    byte, so a crash before the download's record still finds it); any other
    file there (another campaign's, a symlink) is left untouched and the
    video goes to a free name beside it (``elsewhere``, ``elsewhere_line``).
    """

    options: DownloadOptions
    journal: Journal
    names: dict[str, str]
    transport: Transport | None = None
    #: called with (record, path, sha256) for each video saved or found whole (QA: output/video_qa.py)
    on_saved: Callable[[JobRecord, Path, str], Awaitable[Any]] | None = None
    saved: int = 0
    renamed: int = 0
    copied: int = 0
    kept: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    #: job_id -> (its file name, the name used instead): the first held a file this journal did not write
    elsewhere: dict[str, tuple[Path, Path]] = field(default_factory=dict)
    _started: set[str] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _waiting: dict[str, JobRecord] = field(default_factory=dict)  # new name still another job's file
    _gate: asyncio.Semaphore | None = None

    def offer(self, record: JobRecord) -> None:
        """Start saving this journal record's video if it succeeded and is not saved."""
        job_id = record.job_id
        if record.status != JobStatus.SUCCEEDED or not record.video_url or job_id not in self.names:
            return
        if job_id in self._started:
            return
        self._started.add(job_id)
        task = asyncio.get_running_loop().create_task(self._one(record))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def finish(self, records: Iterable[JobRecord]) -> None:
        """Offer every record (earlier runs' too) and wait for all saves."""
        for record in records:
            self.offer(record)
        while self._tasks:
            await asyncio.gather(*list(self._tasks))
        waiting, self._waiting = self._waiting, {}
        for record in waiting.values():  # the other job's file has moved away by now, unless names swap
            await self._one(record, last=True)

    async def aclose(self) -> None:
        """Stop the saves still running (their ``.part`` files stay for the next run)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def elsewhere_line(self) -> str | None:
        """The summary's line on videos saved under another name than theirs, or None."""
        if not self.elsewhere:
            return None
        name, other = next(iter(self.elsewhere.values()))
        n = len(self.elsewhere)
        return (f"  downloads: {n} video{'s' if n != 1 else ''} under a free name: its name held a file "
                f"this journal did not write (another campaign's, or a symlink), left untouched "
                f"(e.g. {name.name} -> {other.name})")

    def _fail(self, job_id: str, dest: Path, message: str) -> None:
        self.failed[job_id] = message
        event("download_failed", "video of job %s not saved: %s", job_id, message, level=logging.WARNING,
              job_id=job_id, path=str(dest), error_message=message)
    async def _one(self, record: JobRecord, *, last: bool = False) -> None:
        """Save one job's video; ``last``: its new name was another job's file a moment ago."""
        opts, job_id, url = self.options, record.job_id, record.video_url or ""
        dest = opts.directory.resolve() / self.names[job_id]  # the folder resolved, never a symlink at the name
        try:
            saved = self.journal.download(job_id)
            taken = os.path.lexists(dest) or os.path.lexists(part_path(dest))
            if taken and not self._ours(job_id, dest, saved) and not self.journal.download_owner(str(dest)):
                other = await self._elsewhere(job_id, dest, saved)
                self.elsewhere[job_id] = (dest, other)
                dest = other
            outcome, lost = await self._reuse(job_id, url, dest)
        except NameTaken as exc:
            if not last:
                self._waiting[job_id] = record  # tried again at the end of ``finish``
            else:
                self._fail(job_id, dest, str(exc))
            return
        except (DownloadError, OSError) as exc:
            self._fail(job_id, dest, str(exc))
            return
        if outcome:
            self.kept += outcome == "kept"
            self.renamed += outcome == "renamed"
            self.copied += outcome == "copied"
            saved = self.journal.download(job_id)
            if saved is not None:
                await self._after_saved(record, dest, str(saved["sha256"]))
            return
        why_gone = opts.gone(url) if opts.gone is not None else None
        if why_gone:
            self._fail(job_id, dest, why_gone)
            return
        if lost:
            event("download_lost", "%s: fetching the video of job %s again", lost, job_id,
                  level=logging.WARNING, job_id=job_id, path=str(dest))
        self._gate = self._gate or asyncio.Semaphore(opts.concurrency)
        assert self.transport is not None
        try:
            self.journal.record_download_intent(job_id, str(dest))  # before the first byte: this file is ours
            async with self._gate:
                if opts.refresh is not None:  # an expired URL: a fresh one first (None: not expired)
                    url = await opts.refresh(self.transport, record, False) or url
                try:
                    size = await self._fetch(job_id, url, dest)
                except DownloadError as exc:
                    if not (exc.url_gone and opts.refresh is not None):
                        raise
                    url = await opts.refresh(self.transport, record, True) or url  # 403/404: ask once
                    size = await self._fetch(job_id, url, dest)
        except (DownloadError, TransportError, OSError) as exc:  # OSError: the folder's disk is full, say
            message = (exc.provider_message if isinstance(exc, TransportError) else
                       _disk_problem(exc, opts.directory) if isinstance(exc, OSError) else str(exc))
            if lost:
                message = (f"{lost} and its URL no longer works ({message}): the video cannot be fetched again "
                           "(the job itself succeeded)")
            self._fail(job_id, dest, message)
            return
        sha = await asyncio.to_thread(file_sha256, dest)
        self._record(job_id, dest, size, sha, url)
        self.saved += 1
        event("video_saved", "saved %s (%d bytes)", dest, size, job_id=job_id, path=str(dest), bytes=size, sha256=sha)
        await self._after_saved(record, dest, sha)

    async def _fetch(self, job_id: str, url: str, dest: Path) -> int:
        """``save`` with the retry policy of a download (run/retry.py); returns bytes."""
        opts = self.options
        assert self.transport is not None
        async for attempt in download_retrying(opts.attempts, base_s=opts.backoff_base_s,
                                               before_sleep=retry_logger(job_id, "download")):
            with attempt:
                return await save(self.transport, url, dest, max_bytes=opts.max_bytes,
                                  timeout_s=opts.timeout_s, trusted_hosts=opts.trusted_hosts)
        raise AssertionError("unreachable: download_retrying reraises")

    async def _after_saved(self, record: JobRecord, dest: Path, sha: str) -> None:
        """The ``on_saved`` hook (video QA and its poster); a file it cannot write
        (a full disk) is a warning: the video itself is saved."""
        if self.on_saved is None:
            return
        try:
            await self.on_saved(record, dest, sha)
        except OSError as exc:
            event("video_check_failed", "job %s: its video is saved, but not checked: %s", record.job_id,
                  _disk_problem(exc, dest.parent), level=logging.WARNING, job_id=record.job_id, path=str(dest))


def _disk_problem(exc: OSError, folder: Path) -> str:
    """What a failed write in the download folder means, and what to do."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return (f"no space left in {folder}: free some space and run the same command again "
                "(the video is fetched again, not paid again)")
    return f"cannot write in {folder}: {exc.strerror or exc}"
