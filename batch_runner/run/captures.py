"""Answers an adapter cannot read, kept as evidence: in the journal and in a file beside it.

When a parser rejects an answer (an unknown status word, a missing task id or
URL, JSON of another shape), the answer and the request that caused it are
kept, redacted (every known API key, authorisation headers, image data and
other long strings cut short) and bounded in size: a row of the journal's
``captures`` table and a file ``<journal>.captures/<provider>-<job>-<n>.json``
that a user can attach to a bug report or turn into an adapter fixture (see
the manual, docs/reliability.md#when-a-provider-answers-something-new).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from batch_runner.journal import Capture, Journal
from batch_runner.keys import redact
from batch_runner.providers.wire import HttpRequest, HttpResponse

__all__ = [
    "MAX_BODY_CHARS",
    "MAX_PER_JOB",
    "MAX_STRING_CHARS",
    "SECRET_HEADERS",
    "Captures",
    "body_text",
    "capture_dir",
    "clean_headers",
    "clean_json",
    "excerpt",
    "request_summary",
]

MAX_BODY_CHARS = 8000
"""Characters of an answer body kept in a capture (the rest is cut, marked)."""
MAX_STRING_CHARS = 300
"""Characters of one JSON string kept in a request body (image data URIs are longer)."""
MAX_PER_JOB = 5
"""Capture files written per job and run; later unreadable answers are counted only."""
EXCERPT_CHARS = 120
"""Characters of the answer a job's error message quotes."""

#: Header names whose value is a credential: replaced whole, whatever it holds.
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "proxy-authorization", "cookie",
                            "set-cookie", "x-goog-api-key"})
_DATA_URI = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]{40,}")
_LONG_B64 = re.compile(r"[A-Za-z0-9+/]{200,}={0,2}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}...[{len(text) - limit} more characters cut]"


def _scrub(text: str) -> str:
    """``text`` with keys redacted and base64 data (data URIs, long runs) cut short."""
    text = redact(text)
    text = _DATA_URI.sub(lambda m: m.group(0)[:m.group(0).index(",") + 17] + f"...[{len(m.group(0))} chars]", text)
    return _LONG_B64.sub(lambda m: m.group(0)[:16] + f"...[{len(m.group(0))} chars]", text)


def clean_json(value: Any, limit: int = MAX_STRING_CHARS) -> Any:
    """Parsed JSON with every string scrubbed (keys redacted, image data cut
    short) and cut to ``limit`` characters; other values as they are."""
    if isinstance(value, str):
        return _cut(_scrub(value), limit)
    if isinstance(value, Mapping):
        return {str(k): clean_json(v, limit) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v, limit) for v in value]
    return value


def clean_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with credential headers (SECRET_HEADERS) replaced by
    ``[redacted]`` and every known key redacted from the others."""
    return {k: "[redacted]" if k.lower() in SECRET_HEADERS else _cut(redact(v), MAX_STRING_CHARS)
            for k, v in headers.items()}


def body_text(body: bytes, limit: int = MAX_BODY_CHARS) -> str:
    """An answer body as text for evidence: decoded (invalid bytes replaced),
    scrubbed, at most ``limit`` characters (the cut marked)."""
    return _cut(_scrub(body.decode("utf-8", "replace")), limit)


def request_summary(req: HttpRequest) -> dict[str, Any]:
    """What a capture keeps of a request: ``method``, ``url`` (keys redacted),
    ``headers`` (credentials replaced) and ``json`` (strings cut short)."""
    return {"method": req.method, "url": redact(req.url), "headers": clean_headers(req.headers),
            "json": clean_json(req.json)}


def excerpt(body: bytes | str, limit: int = EXCERPT_CHARS) -> str:
    """The first ``limit`` characters of a body on one line, scrubbed (for an error message)."""
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(_scrub(raw).split())
    return text if len(text) <= limit else text[:limit] + "..."


def capture_dir(journal_path: str | Path) -> Path:
    """The folder of a journal's capture files: ``<journal>.captures`` beside it."""
    return Path(f"{journal_path}.captures")


class Captures:
    """Keeps the unreadable answers of one run of ``journal``.

    ``keep(provider, job_id, request, response, reason)`` records one in the
    journal and writes its file (at most MAX_PER_JOB files per job and run)
    and returns the file's path (None when not written). ``clock``: unix seconds.
    """

    def __init__(self, journal: Journal, *, clock: Callable[[], float] = time.time) -> None:
        self.journal = journal
        self.folder = capture_dir(journal.path)
        self.clock = clock
        self.per_job: Counter[str] = Counter()

    def keep(self, provider: str, job_id: str, request: HttpRequest, response: HttpResponse,
             reason: str) -> Path | None:
        """Keep one answer an adapter rejected (``reason``: what it found wrong);
        returns the capture file written, or None (over MAX_PER_JOB, or the
        folder cannot be written: the journal row is kept anyway)."""
        self.per_job[job_id] += 1
        n = self.per_job[job_id]
        capture = Capture(job_id=job_id, provider=provider, captured_at=self.clock(),
                          request=request_summary(request), status=response.status,
                          headers=clean_headers(response.headers), body=body_text(response.body),
                          reason=_cut(redact(reason), 500))
        path: Path | None = None
        if n <= MAX_PER_JOB:
            path = self.folder / f"{_UNSAFE.sub('_', provider)}-{_UNSAFE.sub('_', job_id)}-{n}.json"
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # private, like the journal
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(json.dumps(_file_json(capture), indent=2, ensure_ascii=False) + "\n")
            except OSError:
                path = None
        self.journal.add_capture(Capture(**{**capture.__dict__, "file": str(path) if path else None}))
        return path


def _file_json(capture: Capture) -> dict[str, Any]:
    """A capture file's content: what a fixture needs (see docs/reliability.md)."""
    return {
        "provider": capture.provider, "job_id": capture.job_id, "captured_at": capture.captured_at,
        "reason": capture.reason, "request": capture.request,
        "response": {"status": capture.status, "headers": capture.headers, "body": capture.body},
    }
