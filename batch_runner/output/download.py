"""``run --download DIR``: save each finished video, resumably, under a safe file name.

A succeeded job's ``video_url`` is streamed (transport.py) into
``DIR/.<file>.part`` and renamed to ``DIR/<file>`` once complete, so a file with
its final name is always whole. An interrupted transfer (connection cut, timeout,
killed run) keeps its ``.part``: the next try (a tenacity retry, or the next run)
asks only for the rest with ``Range: bytes=N-``, and starts over when the server
sends the whole file instead. The size cap applies to the announced and to the
received length. The journal records each saved file (path, bytes, SHA-256); a
later run skips a job whose file is still there at its recorded size.

File names come from a template (default ``{name}-{variant}-{job_id}.mp4``)
with the job's fields and the manifest's own columns (output/file_names.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batch_runner.errors import DownloadError, TransportError
from batch_runner.journal import JobRecord, JobStatus, Journal
from batch_runner.logs import event, retry_logger
from batch_runner.output.file_names import DEFAULT_TEMPLATE
from batch_runner.providers.url_safety import (
    UnsafeUrlError,
    check_video_url,
    refuse_redirect,
)
from batch_runner.run.retry import download_retrying
from batch_runner.transport import Transport

__all__ = ["DownloadOptions", "Downloader", "save"]

_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


@dataclass
class DownloadOptions:
    """Where and how videos are saved. ``max_bytes``: size cap per video;
    ``attempts``: tries per video; ``timeout_s``: longest wait for data;
    ``concurrency``: videos saved at once; ``backoff_base_s``: first retry wait;
    ``trusted_hosts``: hosts allowed although local (the providers' own, e.g. a
    simulator on 127.0.0.1; see urls.check_video_url)."""

    directory: Path
    template: str = DEFAULT_TEMPLATE
    max_bytes: int = 500 * 2**20
    attempts: int = 5
    timeout_s: float = 60.0
    concurrency: int = 4
    backoff_base_s: float = 1.0
    trusted_hosts: frozenset[str] = frozenset()


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n} bytes"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


async def save(transport: Transport, url: str, dest: Path, *, max_bytes: int, timeout_s: float = 60.0,
               trusted_hosts: frozenset[str] = frozenset()) -> int:
    """One try at saving ``url`` as ``dest`` (resuming its ``.part``); returns bytes.

    The URL must pass urls.check_video_url (http(s), no local address but
    ``trusted_hosts``) and is fetched without following redirects.
    Raises DownloadError (``retryable`` for 5xx, 429, a short body; not for a
    refused URL or a redirect) and TransportError (connection refused or cut,
    timeout: the part is kept).
    """
    try:
        check_video_url(url, trusted_hosts=trusted_hosts)
    except UnsafeUrlError as exc:
        raise DownloadError(str(exc)) from None
    part = dest.with_name(f".{dest.name}.part")
    have = part.stat().st_size if part.is_file() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    async with transport.stream("download", url, headers=headers, timeout_s=timeout_s,
                                allow_redirects=False) as resp:
        status, content_range = resp.status, resp.headers.get("content-range", "")
        try:
            refuse_redirect(status, resp.headers.get("location"))
        except UnsafeUrlError as exc:
            raise DownloadError(str(exc)) from None
        found = _RANGE.match(content_range)
        if status == 416 and have:
            if content_range.rpartition("/")[2] != str(have):  # else: the part is the whole file
                part.unlink()
                raise DownloadError("the saved part does not fit the file: starting over", retryable=True)
        elif status == 206:
            if not found or int(found.group(1)) != have:
                part.unlink(missing_ok=True)
                raise DownloadError("the server sent another part of the file: starting over", retryable=True)
            total = int(found.group(3)) if found.group(3).isdigit() else None
            await _write(resp, part, "ab" if have else "wb", have, total, max_bytes)
        elif status == 200:
            if resp.headers.get("content-type", "").startswith("text/html"):
                raise DownloadError("answered a web page, not a video (has the URL expired?)")
            await _write(resp, part, "wb", 0, resp.length, max_bytes)
        else:
            gone = " (URL expired or gone)" if status in (403, 404, 410) else ""
            raise DownloadError(f"HTTP {status}{gone}", retryable=status in (408, 429) or status >= 500)
    size = part.stat().st_size
    os.replace(part, dest)
    return size


async def _write(resp: Any, part: Path, mode: str, have: int, total: int | None, max_bytes: int) -> None:
    """Append (``ab``) or write (``wb``) the body to ``part``; ``have``: bytes
    already there; ``total``: the whole file's size when known."""
    if total is not None and total > max_bytes:
        raise DownloadError(f"is {_size(total)}, over the {_size(max_bytes)} cap (--download-max-mb)")
    with part.open(mode) as fh:
        async for chunk in resp.chunks():
            have += len(chunk)
            if have > max_bytes:
                fh.close()
                part.unlink()
                raise DownloadError(f"is over the {_size(max_bytes)} cap (--download-max-mb)")
            fh.write(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    if total is not None and have != total:
        raise DownloadError(f"got {have} of {total} bytes", retryable=True)


@dataclass
class Downloader:
    """Saves the videos of succeeded jobs as they finish (``offer``) and, at the
    end, those of earlier runs not saved yet (``finish``). ``names``: job_id ->
    file name (file_names.assign_file_names). Set ``transport`` before the first offer."""

    options: DownloadOptions
    journal: Journal
    names: dict[str, str]
    transport: Transport | None = None
    saved: int = 0
    kept: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    _started: set[str] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
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

    async def aclose(self) -> None:
        """Stop the saves still running (their ``.part`` files stay for the next run)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _complete(self, record: JobRecord, dest: Path) -> bool:
        if not dest.is_file():
            return False
        size = dest.stat().st_size
        if record.local_path == str(dest):
            return record.size_bytes == size  # else changed since: saved again
        # a whole file from an earlier run (names are only given to complete files)
        self.journal.record_download(record.job_id, str(dest), size, _sha256(dest), record.video_url or "")
        return True

    async def _one(self, record: JobRecord) -> None:
        opts, job_id, url = self.options, record.job_id, record.video_url or ""
        dest = (opts.directory / self.names[job_id]).resolve()
        if self._complete(record, dest):
            self.kept += 1
            return
        self._gate = self._gate or asyncio.Semaphore(opts.concurrency)
        assert self.transport is not None
        try:
            async with self._gate:
                async for attempt in download_retrying(opts.attempts, base_s=opts.backoff_base_s,
                                                       before_sleep=retry_logger(job_id, "download")):
                    with attempt:
                        size = await save(self.transport, url, dest, max_bytes=opts.max_bytes,
                                          timeout_s=opts.timeout_s, trusted_hosts=opts.trusted_hosts)
        except (DownloadError, TransportError) as exc:
            message = exc.provider_message if isinstance(exc, TransportError) else str(exc)
            self.failed[job_id] = message
            event("download_failed", "video of job %s not saved: %s", job_id, message, level=logging.WARNING,
                  job_id=job_id, path=str(dest), error_message=message)
            return
        sha = _sha256(dest)
        self.journal.record_download(job_id, str(dest), size, sha, url)
        self.saved += 1
        event("video_saved", "saved %s (%d bytes)", dest, size, job_id=job_id, path=str(dest), bytes=size, sha256=sha)

