"""The adapter interface: pure translations between a job and a provider's wire protocol.

An adapter never does I/O. transport.py sends the ``HttpRequest`` an adapter
builds and hands back an ``HttpResponse``; the adapter turns it into a task id
or a ``TaskState``, or raises ``ProviderError`` with our error vocabulary.

Four methods (shared/STYLE.md): ``build_submit(job)``, ``parse_submit(resp)``,
``build_poll(task_id)``, ``parse_poll(resp)``. A provider whose result needs one
more request (MiniMax: ``file_id`` -> files/retrieve) returns a TaskState with
``follow_up`` set; the runner sends it at once and parses the answer with
``parse_poll`` again.

Answers are untrusted: the runner calls ``read_submit`` / ``read_poll``, which
run the parsers and check what they return (guard.py); only ProviderError
leaves them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING, Any, ClassVar

from batch_runner.catalog.facts import ProviderInfo, catalog
from batch_runner.errors import ProviderError
from batch_runner.keys import Secret
from batch_runner.providers import guard
from batch_runner.providers.taxonomy import classify_http, failure_code

if TYPE_CHECKING:
    from batch_runner.jobs.model import Job

__all__ = [
    "Adapter",
    "HttpRequest",
    "HttpResponse",
    "TaskState",
    "dig",
    "failure_code",
]

PENDING, RUNNING, SUCCEEDED, FAILED = "pending", "running", "succeeded", "failed"


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request to send: ``url`` is absolute; ``json`` the body or None.

    ``headers`` may hold the API key: the repr hides header values.
    ``kind`` is ``submit`` or ``poll`` (for pacing, retries and records).
    """

    method: str
    url: str
    headers: dict[str, str] = field(repr=False)
    json: dict[str, Any] | None = None
    kind: str = "poll"


@dataclass(frozen=True)
class HttpResponse:
    """An HTTP answer: ``status`` code, lower-cased ``headers``, raw ``body`` bytes."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: [[[[...
            return None


@dataclass(frozen=True)
class TaskState:
    """What one poll said about a task.

    ``status``: pending | running | succeeded | failed. On success ``video_url``;
    ``url_expires_at`` (unix seconds) where the provider documents it. On failure
    ``error_code`` (our vocabulary), ``provider_code`` and ``message``.
    ``follow_up``: one more request to send now (MiniMax files/retrieve).
    ``progress``: 0..100 where the provider reports it.
    """

    status: str
    video_url: str = ""
    url_expires_at: float | None = None
    error_code: str = ""
    provider_code: str = ""
    message: str = ""
    follow_up: HttpRequest | None = None
    progress: float | None = None

    @property
    def finished(self) -> bool:
        """True for succeeded and failed."""
        return self.status in (SUCCEEDED, FAILED)


def dig(obj: Any, *path: str | int) -> Any:
    """Follow keys/indexes into parsed JSON; None where any step is missing."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(obj, list) or not -len(obj) <= step < len(obj):
                return None
        elif not isinstance(obj, dict) or step not in obj:
            return None
        obj = obj[step]
    return obj


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


class Adapter:
    """Base class: a provider's protocol. Subclasses set ``name`` and override the
    four methods; ``info`` is the provider's catalog entry (capabilities, prices).

    ``base_url`` has no trailing slash; ``api_key`` is a Secret (never printed).
    """

    name: ClassVar[str] = ""

    def __init__(self, base_url: str | None = None, api_key: Secret | None = None):
        self.info: ProviderInfo = catalog()[self.name]
        self.base_url = (base_url or self.info.base_url).rstrip("/")
        self.api_key = api_key or Secret("")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.base_url}>"

    # -- the four translations ------------------------------------------------
    def build_submit(self, job: Job) -> HttpRequest:
        """The submit request for ``job`` (its image already a URL or data URI)."""
        raise NotImplementedError

    def parse_submit(self, resp: HttpResponse) -> str:
        """The task id from a submit answer; raises ProviderError otherwise."""
        raise NotImplementedError

    def build_poll(self, task_id: str) -> HttpRequest:
        """The status request for ``task_id``."""
        raise NotImplementedError

    def parse_poll(self, resp: HttpResponse) -> TaskState:
        """The task's state from a status answer; raises ProviderError when the
        answer is an error (the runner retries polls)."""
        raise NotImplementedError

    # -- what the runner calls: the parsers, their output checked ----------------
    def read_submit(self, resp: HttpResponse) -> str:
        """``parse_submit``, the task id checked (guard.py); raises ProviderError only."""
        return guard.checked_task_id(self, resp, self._parse(self.parse_submit, resp))

    def read_poll(self, resp: HttpResponse) -> TaskState:
        """``parse_poll``, the state checked (guard.py: video URL, times, texts);
        raises ProviderError only."""
        return guard.checked_state(self, resp, self._parse(self.parse_poll, resp))

    def _parse(self, parse: Any, resp: HttpResponse) -> Any:
        try:
            return parse(resp)
        except ProviderError:
            raise
        except Exception as exc:  # a hostile answer must never crash the run
            raise guard.unexpected(self, resp, exc) from exc

    # -- helpers shared by adapters -------------------------------------------
    def url(self, path: str) -> str:
        """Absolute URL of ``path`` (which starts with /) on this provider."""
        return self.base_url + path

    def bearer(self) -> dict[str, str]:
        """``Authorization: Bearer <key>`` plus the JSON content type."""
        return {
            "Authorization": f"Bearer {self.api_key.reveal()}",
            "Content-Type": "application/json",
        }

    def model_id(self, job: Job) -> str:
        """The provider's identifier for the job's model (from the data file)."""
        return self.info.models[job.model].id

    def error(
        self,
        resp: HttpResponse,
        body: Any,
        *,
        code: Any = "",
        message: Any = "",
        error_code: str | None = None,
    ) -> ProviderError:
        """A ProviderError for an HTTP error answer, classified by
        taxonomy.classify_http unless ``error_code`` is given; carries the
        provider's ``code`` and ``message`` and the Retry-After header."""
        text = _text(message) or resp.body[:200].decode("utf-8", "replace")
        if error_code is None:
            error_code, retryable = classify_http(resp.status, text, body is not None)
        else:
            retryable = error_code in ("rate_limited", "provider_error", "bad_response")
        return ProviderError(
            self.name,
            error_code,
            text,
            retryable=retryable,
            http_status=resp.status,
            provider_code=_text(code),
            retry_after=retry_after_s(resp.headers.get("retry-after")),
        )

    def bad_response(self, resp: HttpResponse, what: str) -> ProviderError:
        """A 2xx answer that is not the documented JSON (retryable for polls)."""
        return ProviderError(
            self.name,
            "bad_response",
            f"{what}: {resp.body[:200].decode('utf-8', 'replace')}",
            retryable=True,
            http_status=resp.status,
        )


MAX_RETRY_AFTER_S = 600.0


def retry_after_s(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or HTTP date), at most
    MAX_RETRY_AFTER_S; None when absent or not a finite time."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        from datetime import datetime
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            seconds = (when - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError, OverflowError, IndexError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER_S)
