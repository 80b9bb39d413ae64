"""The canary: on first contact with a provider, one job goes first, alone.

dispatch.py holds a provider's other new jobs until its canary has gone through
the whole lifecycle, the first bytes of its video included. This module holds
the small parts: whether the first bytes of a video URL are a video
(``first_bytes_verdict``), what a canary's end means (``judge``), and the one
summary line, with what to do, of a provider the canary stopped (``CanaryStop``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from batch_runner.catalog.facts import ProviderInfo
from batch_runner.errors import TransportError
from batch_runner.journal import JobRecord, JobStatus
from batch_runner.providers.url_safety import UnsafeUrlError, check_video_url, refuse_redirect

__all__ = ["FIRST_BYTES", "JOB_CODES", "PASSING_CODES", "CanaryStop", "Streamer", "container_of",
           "first_bytes_verdict", "judge"]

FIRST_BYTES = 1024
"""Bytes of the canary's video fetched (``Range: bytes=0-1023``) to see that it is a video."""

JOB_CODES = frozenset({"content_policy", "task_failed", "invalid_request"})
"""A canary that failed with one of these failed for a reason of its own job (its prompt,
its image): the provider's next job becomes the canary."""

PASSING_CODES = frozenset({"connection_error", "provider_error", "rate_limited"})
"""A canary that failed with one of these met a passing fault of the network or the
provider (its retries ran out): the next job becomes the canary too. Any other failure
(``auth``, ``insufficient_balance``, ``quota_exhausted``, ``bad_response``, a task whose
polls never gave a status the adapter reads and ended ``timeout``, ``not_video``) is of
the protocol or the account, and stops the provider for the run."""

#: the 4-byte box types a QuickTime (MOV) file may start with when it has no ``ftyp`` box
_QUICKTIME_BOXES = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
_EBML = b"\x1a\x45\xdf\xa3"  # Matroska / WebM


def container_of(head: bytes) -> str | None:
    """The video container the first bytes ``head`` open, or None when they are no
    known video: ``MP4`` (an ISO-BMFF ``ftyp`` box, ISO/IEC 14496-12), ``MOV`` (``ftyp``
    with brand ``qt  ``, or a QuickTime file opening on a ``moov``/``mdat``/``wide``/
    ``free`` box), ``WebM/Matroska`` (the EBML magic 1A 45 DF A3). At least 8 bytes needed."""
    if head.startswith(_EBML):
        return "WebM/Matroska"
    if len(head) < 8:
        return None
    kind = head[4:8]
    if kind == b"ftyp":
        return "MOV" if head[8:12] == b"qt  " else "MP4"
    if kind in _QUICKTIME_BOXES:
        return "MOV"
    return None


def _looks_like(head: bytes, content_type: str) -> str:
    """What a body that is not a video looks like, for a message."""
    text = head.lstrip()[:200].lower()
    if text.startswith((b"<!doctype html", b"<html")) or b"<html" in text:
        what = "an HTML page"
    elif text.startswith((b"{", b"[")):
        what = "JSON"
    elif not head:
        what = "an empty body"
    else:
        what = f"{len(head)} bytes that are no known video container"
    return f"{what} (Content-Type {content_type or 'not given'})"


class _Stream(Protocol):
    status: int
    headers: dict[str, str]

    def chunks(self, size: int = ...) -> AsyncIterator[bytes]: ...


@runtime_checkable
class Streamer(Protocol):
    """What opens a streamed GET (transport.Transport.stream)."""

    def stream(self, label: str, url: str, *, method: str = ..., headers: Mapping[str, str] | None = ...,
               timeout_s: float = ..., allow_redirects: bool = ...) -> AbstractAsyncContextManager[_Stream]:
        """Open ``url``; the answer whatever its status."""
        ...


async def first_bytes_verdict(transport: Streamer, provider: str, url: str, *, timeout_s: float,
                              trusted_hosts: Collection[str] = ()) -> str | None:
    """Fetch the first FIRST_BYTES bytes of the video at ``url`` (a ``Range`` GET through
    transport.py, redirects refused as downloads refuse them) and tell whether they are a
    video: None when they are (an MP4, MOV or WebM container), else why not, in a few words
    (the HTTP status, an HTML page, a URL refused by url_safety, a transfer error).
    ``timeout_s``: seconds to connect and for each wait for data. Raises nothing."""
    head, content_type = b"", ""
    try:
        check_video_url(url, trusted_hosts=trusted_hosts)
        async with transport.stream(f"{provider} canary", url, headers={"Range": f"bytes=0-{FIRST_BYTES - 1}"},
                                    timeout_s=timeout_s, allow_redirects=False) as resp:
            refuse_redirect(resp.status, resp.headers.get("location"))
            content_type = resp.headers.get("content-type", "")
            if resp.status not in (200, 206):
                return f"the video URL answered HTTP {resp.status}"
            async for chunk in resp.chunks(FIRST_BYTES):
                head += chunk
                if len(head) >= FIRST_BYTES:
                    break
    except (UnsafeUrlError, TransportError) as exc:
        if container_of(head) is None:  # a transfer cut after the container's header still shows a video
            return str(exc)
    if container_of(head) is not None:
        return None
    return f"the video URL served {_looks_like(head, content_type)}, not a video"


def judge(record: JobRecord | None, provider: str) -> str:
    """What the end of a canary job (its journal ``record``, run on ``provider``) means:
    ``video`` (it succeeded there: its first bytes are to be checked), ``next`` (it
    failed for a reason of its own job, JOB_CODES, or of a passing fault, PASSING_CODES;
    its submit answer was lost in the network (``unknown``, not an unreadable answer); it
    moved to a fallback after refusals that open no breaker; or it was not sent: budget;
    the next job becomes the canary), ``stop`` (any other end: the protocol or the account),
    or ``undecided`` (not sent: the run is stopping). A breaker the canary opened is
    checked by the caller first."""
    if record is None or record.status == JobStatus.PENDING:
        return "undecided"
    if record.provider != provider or record.status == JobStatus.SKIPPED_BUDGET:
        return "next"
    if record.status == JobStatus.SUCCEEDED:
        return "video"
    if record.status == JobStatus.FAILED and record.error_code in JOB_CODES | PASSING_CODES:
        return "next"
    if record.status == JobStatus.UNKNOWN and "bad_response" not in (record.error_message or ""):
        return "next"  # lifecycle.py words it "possibly submitted, answer lost (CODE: ...)"
    return "stop"


@dataclass
class CanaryStop:
    """A provider the canary stopped for this run: ``code`` (errors.ERROR_CODES),
    ``message`` (redacted by the caller), ``held``: its new jobs not submitted (left
    ``pending``), ``moved``: those sent to their fallback provider instead."""

    provider: str
    code: str
    message: str
    held: int = 0
    moved: int = 0

    def advice(self, info: ProviderInfo) -> str:
        """What the user does next, by ``code``."""
        if self.code == "auth":
            return f"check the API key in {info.key_env}, then run again"
        if self.code == "insufficient_balance":
            return "top up the account, then run again"
        if self.code == "quota_exhausted":
            return "wait until the provider's quota resets, then run again"
        overrides = f"providers: {{{self.provider}: {{base_url: ..., model_ids: ...}}}}"
        return (f"the provider's answers are not what batch_runner expects: check {info.base_url_env} or the "
                f"overrides {overrides} (manual: docs/providers-and-keys.md#overriding-provider-facts), then run again")

    def line(self, info: ProviderInfo) -> str:
        """The summary's one line on this provider."""
        moved = f", {self.moved} moved to their fallback provider" if self.moved else ""
        return (f"  {self.provider}: the canary (first job) failed ({self.code}: {self.message[:160]}); "
                f"{self.held} other job{'s' if self.held != 1 else ''} not submitted (pending){moved}: "
                f"{self.advice(info)}")
