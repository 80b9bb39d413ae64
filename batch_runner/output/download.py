"""``run --download DIR``: save each finished video, resumably, under a safe file name.

A succeeded job's ``video_url`` is streamed (transport.py) into
``DIR/.<file>.part`` and renamed to ``DIR/<file>`` once complete, so a file with
its final name is always whole. An interrupted transfer (connection cut, timeout,
killed run) keeps its ``.part``: the next try (a tenacity retry, or the next run)
asks only for the rest with ``Range: bytes=N-``, and starts over when the server
sends the whole file instead. The size cap applies to the announced and to the
received length.

A job's saved file is found by job, not by name: the journal records it (path,
bytes, SHA-256), and a later run uses it instead of the network while its size
and SHA-256 still match. A new ``--download-name`` renames it (same folder); a
new ``--download`` folder gets a copy of it; either way no request is sent, so
an expired URL does no harm. A recorded file that is gone or changed is fetched
again; when its URL no longer works either, the job's download fails saying so.

File names come from a template (default ``{name}-{variant}-{job_id}.mp4``)
with the job's fields and the manifest's own columns (output/file_names.py).
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import os
import re
import shutil
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batch_runner.errors import DownloadError, TransportError
from batch_runner.journal import JobRecord, JobStatus, Journal
from batch_runner.logs import event, retry_logger
from batch_runner.output.file_names import DEFAULT_TEMPLATE
from batch_runner.output.posters import poster_path
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
    part = _part(dest)
    if part.is_symlink():  # never written through
        part.unlink()
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
            raise DownloadError(f"HTTP {status}{gone}", retryable=status in (408, 429) or status >= 500,
                                url_gone=bool(gone))
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

    def _record(self, job_id: str, dest: Path, nbytes: int, sha: str, url: str) -> None:
        self.journal.record_download(job_id, str(dest), nbytes, sha, url)

    def _ours(self, job_id: str, dest: Path, saved: dict[str, Any] | None) -> bool:
        """Whether the journal says ``dest`` is this job's file: its saved video,
        or the file it started writing (a crash may have come before its record).
        A symlink is never ours."""
        if dest.is_symlink():
            return False
        return ((saved is not None and Path(saved["local_path"]) == dest)
                or self.journal.download_intent(job_id) == str(dest))

    async def _elsewhere(self, job_id: str, dest: Path, saved: dict[str, Any] | None) -> Path:
        """The name to use instead of ``dest``, which holds a file (or a part, or a
        symlink) the journal does not say is this job's: the job's saved file or
        the file it started writing beside ``dest`` when still there, else the first
        free ``<stem>-N<suffix>`` (no file, no part, no poster, no other job's record).
        ``dest`` itself is never touched."""
        intent = self.journal.download_intent(job_id)
        for candidate in (saved and saved["local_path"], intent):
            path = Path(candidate) if candidate else None
            if (path is not None and path != dest and path.parent == dest.parent and not path.is_symlink()
                    and (path.is_file() or _part(path).is_file())):
                return path
        n = 2
        while True:
            path = dest.with_name(f"{dest.stem}-{n}{dest.suffix}")
            if not (os.path.lexists(path) or os.path.lexists(_part(path)) or os.path.lexists(poster_path(path))
                    or self.journal.download_owner(str(path))):
                return path
            n += 1

    async def _reuse(self, job_id: str, url: str, dest: Path) -> tuple[str | None, str]:
        """Use the job's saved file instead of the network when it is whole.

        Returns (outcome, lost): outcome ``kept`` (``dest`` is the job's file),
        ``renamed`` / ``copied`` (the recorded file moved / was copied to
        ``dest``), or None (fetch it; ``lost`` then says what happened to the
        recorded file, "" when there was none). A file at ``dest`` is taken as
        the job's video only when the journal says this job wrote it (or
        started to: ``record_download_intent``); ``_one`` has moved ``dest``
        off any other file first. Raises DownloadError when ``dest`` is taken
        by another job's saved video.
        """
        saved = self.journal.download(job_id)
        owner = self.journal.download_owner(str(dest)) if dest.is_file() else None
        if owner and owner != job_id:
            raise _Taken(f"{dest} is the saved video of job {owner} (do two jobs swap names?); rename one "
                         "of the files by hand or pick another --download-name")
        if saved is None:
            if dest.is_file() and not dest.is_symlink() and self.journal.download_intent(job_id) == str(dest):
                # whole (only complete files get their name), written by this job: a crash before its record
                self._record(job_id, dest, dest.stat().st_size, await asyncio.to_thread(_sha256, dest), url)
                return "kept", ""
            return None, ""
        old = Path(saved["local_path"])
        if dest.is_file():
            if await _matches(dest, saved):
                if old != dest:
                    self._record(job_id, dest, saved["bytes"], saved["sha256"], saved["url"] or url)
                return "kept", ""
            if old == dest:
                return None, f"{dest} has changed since it was saved (size or SHA-256)"
            raise DownloadError(f"{dest} already exists and is not this job's video (its size or SHA-256 "
                                f"differs from {old}'s); move it away or pick another --download-name")
        # the folder itself renamed or reached another way: the recorded name in this folder
        for source in dict.fromkeys((old, dest.parent / old.name)):
            if source != dest and not source.is_symlink() and await _matches(source, saved):
                same = source.parent.is_dir() and os.path.samefile(source.parent, dest.parent)
                if same:
                    os.rename(source, dest)
                    if poster_path(source).is_file():  # its poster follows it (output/posters.py)
                        os.replace(poster_path(source), poster_path(dest))
                else:
                    await asyncio.to_thread(_copy, source, dest)
                self._record(job_id, dest, saved["bytes"], saved["sha256"], saved["url"] or url)
                outcome = "renamed" if same else "copied"
                event(f"video_{outcome}", "%s %s to %s", outcome, source, dest, job_id=job_id,
                      path=str(dest), source=str(source))
                return outcome, ""
        if old.is_file():
            return None, f"{old} has changed since it was saved (size or SHA-256)"
        self.journal.forget_download(job_id)  # the results no longer point at a missing file
        return None, f"{old} is gone"

    async def _one(self, record: JobRecord, *, last: bool = False) -> None:
        """Save one job's video; ``last``: its new name was another job's file a moment ago."""
        opts, job_id, url = self.options, record.job_id, record.video_url or ""
        dest = opts.directory.resolve() / self.names[job_id]  # the folder resolved, never a symlink at the name
        try:
            saved = self.journal.download(job_id)
            taken = os.path.lexists(dest) or os.path.lexists(_part(dest))
            if taken and not self._ours(job_id, dest, saved) and not self.journal.download_owner(str(dest)):
                other = await self._elsewhere(job_id, dest, saved)
                self.elsewhere[job_id] = (dest, other)
                dest = other
            outcome, lost = await self._reuse(job_id, url, dest)
        except _Taken as exc:
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
        sha = await asyncio.to_thread(_sha256, dest)
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


class _Taken(DownloadError):
    """A job's new file name is still the recorded file of another job."""


async def _matches(path: Path, saved: dict[str, Any]) -> bool:
    """Whether ``path`` is the recorded file: its size, then its SHA-256 (read in a thread)."""
    try:
        if not path.is_file() or path.stat().st_size != saved["bytes"]:
            return False
    except OSError:
        return False
    return bool(await asyncio.to_thread(_sha256, path) == saved["sha256"])


def _part(dest: Path) -> Path:
    """The partial file ``dest`` is written through: ``.<name>.part`` beside it."""
    return dest.with_name(f".{dest.name}.part")


def _copy(source: Path, dest: Path) -> None:
    """Copy ``source`` to ``dest`` through ``.<dest>.part`` (so ``dest`` is always whole)."""
    part = _part(dest)
    shutil.copyfile(source, part)
    os.replace(part, dest)
