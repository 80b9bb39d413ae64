"""Copy the run's videos, posters and files into the team's storage (``run --deliver URL``).

The storage is any fsspec URL: ``s3://bucket/prefix/`` (s3fs, ``batch-runner[s3]``),
``gs://`` (gcsfs, ``[gcs]``), ``az://`` (adlfs, ``[azure]``), ``file:///shared/videos/``.
Credentials come from each cloud's own chain (environment, profile, instance role);
an S3-compatible store is reached with ``AWS_ENDPOINT_URL`` (botocore >= 1.31).

``open_target`` checks the URL and ``probe`` writes and deletes a marker object
there (no money is spent): both raise DeliveryError, one line naming the URL and
the cause, before the run's first submit. ``Deliverer.video`` copies one saved,
QA-checked video and its poster (names: their path under the ``--download``
folder, so the download template's names); ``Deliverer.file`` one file of the
run (results, report, contact sheet). Each copy is recorded in the journal
(table ``deliveries``: URL, bytes, sha256, time) once it is whole, before it is
reported. A copy already recorded with the same sha256, or found in the store
with the same sha256, is not sent again. Objects get a content type and, on S3
and GCS, the file's sha256 as metadata (``sha256``): a multipart upload's ETag
is not a digest. A failed copy is a warning; the local file stays, and the next
run sends it again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import mimetypes
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from batch_runner.errors import ConfigError
from batch_runner.journal import JobRecord, Journal
from batch_runner.keys import redact
from batch_runner.keyscan import mask
from batch_runner.logs import event
from batch_runner.output.posters import poster_path

__all__ = ["Deliverer", "DeliveryError", "Target", "after_qa", "delivery_target", "open_target", "probe", "sha256_of"]

log = logging.getLogger(__name__)

#: the extra that brings each cloud's fsspec file system
_EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure", "abfss": "azure",
           "adl": "azure"}
#: the object metadata keyword of each file system's upload (S3: put_object's; GCS: gcsfs's)
_S3, _GCS = ("s3", "s3a"), ("gs", "gcs")
ATTEMPTS = 3  # tries of one copy (the file systems also retry their own throttling answers)


class DeliveryError(ConfigError):
    """The storage of ``--deliver`` cannot be used: one line naming the URL and the cause."""


def sha256_of(path: Path) -> str:
    """The hex SHA-256 of the file at ``path`` (read in 1 MiB blocks). Raises OSError."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def cause(exc: BaseException) -> str:
    """A failed storage call as a short cause, secrets masked (a botocore error names no key,
    but a URL may carry a SAS token or a password)."""
    name = type(exc).__name__
    text = str(exc).replace("\n", " ").strip()
    if "NoCredentials" in name or ("credentials" in text.lower() and "not" in text.lower()):
        why = "no credentials found (set them the cloud's usual way: environment, profile or instance role)"
    elif isinstance(exc, FileNotFoundError) or "NoSuchBucket" in text:
        why = f"the bucket or folder does not exist ({text})" if text else "the bucket or folder does not exist"
    elif isinstance(exc, PermissionError) or "AccessDenied" in text or "Forbidden" in text:
        why = f"access denied ({text})" if text else "access denied"
    elif "QuotaExceeded" in text or getattr(exc, "errno", None) == 28:
        why = f"the store is full ({text})"
    else:
        why = f"{name}: {text}" if text else name
    return mask(redact(why))[:400]


@dataclass
class Target:
    """Where copies go: ``url`` (as given, ending in ``/``), its file system ``fs``
    (an fsspec AbstractFileSystem) and ``root`` (the URL's path in ``fs``'s terms)."""

    url: str
    fs: Any
    root: str

    @property
    def protocol(self) -> str:
        """The URL's scheme (``file`` for a plain path)."""
        return urlsplit(self.url).scheme or "file"

    @property
    def local(self) -> bool:
        """Whether the target is a folder of this machine (``file://``)."""
        return self.protocol == "file"

    def url_of(self, name: str) -> str:
        """The URL of the object ``name`` (a relative path, ``/`` separated)."""
        return self.url + name

    def path_of(self, name: str) -> str:
        """The file system path of the object ``name``."""
        return f"{self.root.rstrip('/')}/{name}"


def open_target(url: str) -> Target:
    """The delivery target of ``url`` (no request sent). Raises DeliveryError:
    not a URL fsspec knows, or the extra of its cloud not installed."""
    import fsspec

    url = url if url.endswith("/") else url + "/"
    scheme = urlsplit(url).scheme
    if not scheme or len(scheme) == 1:  # a plain path (or a Windows drive letter): a typo of a URL?
        raise DeliveryError(f"--deliver {url}: not a URL; e.g. s3://bucket/prefix/, gs://bucket/prefix/, "
                            f"az://container/prefix/, or a folder as {Path(url).expanduser().resolve().as_uri()}/")
    try:
        fs, root = fsspec.core.url_to_fs(url, **({"auto_mkdir": True} if url.startswith("file:") else {}))
    except ImportError as exc:
        extra = _EXTRAS.get(scheme)
        hint = (f"install it with: pip install 'batch-runner[{extra}]'" if extra
                else f"install the fsspec file system of {scheme}://")
        raise DeliveryError(f"--deliver {url}: {scheme}:// needs a package that is not installed ({exc}); "
                            f"{hint}") from None
    except (ValueError, TypeError) as exc:
        raise DeliveryError(f"--deliver {url}: not a storage URL fsspec knows ({exc}); e.g. s3://bucket/prefix/, "
                            "gs://bucket/prefix/, az://container/prefix/ or file:///shared/videos/") from None
    return Target(url, fs, str(root))


def probe(target: Target) -> None:
    """Write and delete a small marker object in ``target`` (costs nothing at a
    provider): proves the bucket exists and the credentials may write there.
    Blocking. Raises DeliveryError naming the URL and the cause."""
    path = target.path_of(f".batch-runner-probe-{uuid.uuid4().hex}")
    try:
        if target.local:
            target.fs.makedirs(target.root, exist_ok=True)
        target.fs.pipe_file(path, b"batch-runner delivery probe\n")
        target.fs.rm_file(path)
    except Exception as exc:  # a cloud SDK's own errors (botocore, google-auth, azure-core) besides OSError
        raise DeliveryError(f"--deliver {target.url}: cannot write there: {cause(exc)}") from None


def delivery_target(url: str | None, download: Path | None) -> Target | None:
    """The checked target of ``run --deliver URL`` (None without one): opened and
    probed, before anything is sent. Raises DeliveryError (also without ``--download``:
    videos are delivered from the saved files)."""
    if url is None:
        return None
    if download is None:
        raise DeliveryError(f"--deliver {url}: needs --download DIR (the videos are delivered from the saved "
                            "files, as soon as each is saved and checked)")
    target = open_target(url)
    probe(target)
    return target


def after_qa(check: Callable[[JobRecord, Path, str], Awaitable[Any]], deliverer: Deliverer | None,
             journal: Journal) -> Callable[[JobRecord, Path, str], Awaitable[Any]]:
    """The downloader's ``on_saved``: ``check`` (VideoQa.check: QA and poster), then,
    with a ``deliverer``, the delivery of the video by its QA verdict in ``journal``."""
    if deliverer is None:
        return check

    async def saved(record: JobRecord, path: Path, sha: str) -> Any:
        result = await check(record, path, sha)
        now = journal.get(record.job_id)
        await deliverer.video(record.job_id, path, sha, now.qa_status if now else None,
                              now.review if now else None)
        return result

    return saved


def _upload_kwargs(target: Target, content_type: str, sha: str) -> dict[str, Any]:
    if target.protocol in _S3:
        return {"ContentType": content_type, "Metadata": {"sha256": sha}}
    if target.protocol in _GCS:
        return {"content_type": content_type, "metadata": {"sha256": sha}}
    return {}


def _stored_sha(target: Target, name: str, nbytes: int) -> str | None:
    """The sha256 of the object ``name`` already in the store: its metadata (S3,
    GCS), or the file's own digest (file://); None when absent, of another size,
    or not known. Blocking."""
    path = target.path_of(name)
    try:
        info = target.fs.info(path)
        if int(info.get("size") or 0) != nbytes:
            return None
        if target.local:
            return sha256_of(Path(path))
        meta = target.fs.metadata(path) if hasattr(target.fs, "metadata") else {}
        found = {str(k).lower(): v for k, v in (meta or {}).items()}.get("sha256")
        return str(found) if found else None
    except FileNotFoundError:
        return None


def _put(target: Target, local: Path, name: str, content_type: str, sha: str) -> None:
    """Copy ``local`` to the object ``name``, whole or not at all: a local target
    is written beside as ``.part`` then renamed; an object store's PUT (or its
    multipart upload) makes the object appear only once complete. Blocking."""
    path = target.path_of(name)
    if target.local:
        part = f"{path}.part"
        target.fs.put_file(str(local), part)
        target.fs.mv(part, path)
        return
    target.fs.put_file(str(local), path, **_upload_kwargs(target, content_type, sha))


@dataclass
class Deliverer:
    """Copies a run's videos (as soon as each is saved and QA-checked), their posters
    and the run's files to ``target``, and records each copy in ``journal``.

    ``download_dir``: the ``--download`` folder (a video's name is its path under it);
    ``qa_failed``: deliver QA-failed videos too (``--deliver-qa-failed``); ``approved_only``:
    only videos a person approved (``--deliver-approved-only``, docs/review.md). Counters:
    ``sent`` (copied), ``kept`` (already there with the same sha256), ``held`` (QA
    failed, not sent); ``failed``: name -> one-line cause; ``sent_ms``: the time of
    each copy of a video, milliseconds; ``urls``: kind -> URL of the run's files sent."""

    target: Target
    journal: Journal | None
    download_dir: Path | None = None
    qa_failed: bool = False
    approved_only: bool = False
    concurrency: int = 4
    sent: int = 0
    kept: int = 0
    held: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    sent_ms: list[float] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)
    _gate: asyncio.Semaphore | None = None

    def name_of(self, path: Path) -> str:
        """The object name of a saved file: its path under the download folder, else its file name."""
        if self.download_dir is not None:
            try:
                return path.resolve().relative_to(self.download_dir.resolve()).as_posix()
            except ValueError:
                pass
        return path.name

    async def video(self, job_id: str, path: Path, sha: str, qa_status: str | None,
                    review: str | None = None) -> None:
        """Deliver the saved video ``path`` (``sha``: its hex SHA-256; "": not known) of job ``job_id``,
        with its poster, unless QA failed it (``qa_status`` ``failed``) and ``qa_failed`` is off,
        or ``approved_only`` is on and its ``review`` is not ``approved``."""
        if (qa_status == "failed" and not self.qa_failed) or (self.approved_only and review != "approved"):
            self.held += 1
            return
        if await self._deliver(path, self.name_of(path), "video", job_id, sha or None, "video/mp4"):
            poster = poster_path(path)
            if poster.is_file():
                await self._deliver(poster, self.name_of(poster), "poster", job_id, None, "image/jpeg")

    async def file(self, path: Path, kind: str) -> str | None:
        """Deliver a file of the run (``kind``: results, report, contact_sheet) under
        its file name; returns its URL, or None when it failed."""
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if await self._deliver(path, path.name, kind, None, None, content_type):
            self.urls[kind] = self.target.url_of(path.name)
            return self.urls[kind]
        return None

    async def _deliver(self, local: Path, name: str, kind: str, job_id: str | None, sha: str | None,
                       content_type: str) -> bool:
        """Copy one file unless it is there already; True when it is there now."""
        url = self.target.url_of(name)
        self._gate = self._gate or asyncio.Semaphore(self.concurrency)
        async with self._gate:
            digest: str = sha or ""
            try:
                digest = digest or await asyncio.to_thread(sha256_of, local)
                nbytes = local.stat().st_size
                done = self.journal.delivery(url) if self.journal is not None else None
                if done and done["sha256"] == digest and done["bytes"] == nbytes:
                    self.kept += 1
                    return True
                if await asyncio.to_thread(_stored_sha, self.target, name, nbytes) == digest:
                    self.kept += 1  # sent by a run killed before it recorded the copy
                else:
                    started = time.perf_counter()
                    await self._put(local, name, content_type, digest)
                    self.sent += 1
                    if kind == "video":
                        self.sent_ms.append((time.perf_counter() - started) * 1000)
            except Exception as exc:  # the cloud SDK's errors besides OSError: a warning, the run goes on
                why = cause(exc)
                self.failed[name] = why
                event("delivery_failed", "not delivered: %s -> %s: %s (the local file stays; the next run "
                      "tries again)", local, url, why, level=logging.WARNING, job_id=job_id, url=url)
                return False
            if self.journal is not None:
                self.journal.record_delivery(url, job_id, kind, nbytes, digest)
            event("delivered", "delivered %s -> %s", local, url, job_id=job_id, url=url, bytes=nbytes,
                  sha256=digest)
            return True

    async def _put(self, local: Path, name: str, content_type: str, sha: str) -> None:
        for attempt in range(ATTEMPTS):
            try:
                await asyncio.to_thread(_put, self.target, local, name, content_type, sha)
                return
            except (FileNotFoundError, PermissionError):
                raise  # no bucket, no right: trying again does not help
            except Exception:
                if attempt == ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.5 * 2**attempt)

    def lines(self) -> list[str]:
        """The run summary's delivery line."""
        held = f", {self.held} QA-failed held back (--deliver-qa-failed sends them)" if self.held else ""
        per = (f" ({sum(self.sent_ms) / len(self.sent_ms):.0f} ms per video)" if self.sent_ms else "")
        lines = [f"  delivered: {self.sent} sent{per}, {self.kept} already there, {len(self.failed)} failed{held}, "
                 f"to {self.target.url}"]
        lines += [f"    not delivered: {name}: {why}" for name, why in list(self.failed.items())[:5]]
        return lines
