"""Which file in the download folder is a job's video, as the journal says: ``SavedVideos``.

A job's saved file is found by job, not by name: the journal records it (path,
bytes, SHA-256), and a later run uses it instead of the network while its size
and SHA-256 still match. A new ``--download-name`` renames it (same folder); a
new ``--download`` folder gets a copy of it; either way no request is sent, so
an expired URL does no harm. A recorded file that is gone or changed is fetched
again; when its URL no longer works either, the job's download fails saying so.

``SavedVideos`` is the part of output/download.py's ``Downloader`` that asks
the journal; it never fetches.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

from batch_runner.errors import DownloadError
from batch_runner.journal import Journal
from batch_runner.logs import event
from batch_runner.output.posters import poster_path
from batch_runner.output.transfer import part_path

__all__ = ["NameTaken", "SavedVideos", "file_sha256"]


class SavedVideos:
    """What the journal says about the files in the download folder: which
    is a job's video (``_ours``), the name to use beside another's file
    (``_elsewhere``), the job's saved file used instead of the network
    (``_reuse``). Mixed into ``Downloader``, which sets ``journal``."""

    journal: Journal

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
                    and (path.is_file() or part_path(path).is_file())):
                return path
        n = 2
        while True:
            path = dest.with_name(f"{dest.stem}-{n}{dest.suffix}")
            if not (os.path.lexists(path) or os.path.lexists(part_path(path)) or os.path.lexists(poster_path(path))
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
            raise NameTaken(f"{dest} is the saved video of job {owner} (do two jobs swap names?); rename one "
                         "of the files by hand or pick another --download-name")
        if saved is None:
            if dest.is_file() and not dest.is_symlink() and self.journal.download_intent(job_id) == str(dest):
                # whole (only complete files get their name), written by this job: a crash before its record
                self._record(job_id, dest, dest.stat().st_size, await asyncio.to_thread(file_sha256, dest), url)
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


def file_sha256(path: Path) -> str:
    """The SHA-256 of the file at ``path`` (hex), read 1 MiB at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class NameTaken(DownloadError):
    """A job's new file name is still the recorded file of another job."""


async def _matches(path: Path, saved: dict[str, Any]) -> bool:
    """Whether ``path`` is the recorded file: its size, then its SHA-256 (read in a thread)."""
    try:
        if not path.is_file() or path.stat().st_size != saved["bytes"]:
            return False
    except OSError:
        return False
    return bool(await asyncio.to_thread(file_sha256, path) == saved["sha256"])


def _copy(source: Path, dest: Path) -> None:
    """Copy ``source`` to ``dest`` through ``.<dest>.part`` (so ``dest`` is always whole)."""
    part = part_path(dest)
    shutil.copyfile(source, part)
    os.replace(part, dest)
