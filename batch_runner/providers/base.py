"""The adapter interface: pure translations between a job and a provider's wire protocol.

An adapter never does I/O. transport.py sends the ``HttpRequest`` an adapter
builds and hands back an ``HttpResponse``; the adapter reads it into a task id
or a ``PollResult``, or raises ``ProviderError`` with our error vocabulary.

Four abstract methods: ``build_submit(job)``, ``parse_submit(resp)``,
``build_poll(task_id)``, ``parse_poll(resp)``. A provider whose result needs one
more request (MiniMax: ``file_id`` -> files/retrieve) returns a PollResult with
``follow_up`` set; the runner sends it at once and reads the answer with
``parse_poll`` again.

Answers are untrusted: the runner calls ``read_submit`` / ``read_poll``, which
run the parsers and check what they return (guard.py); only ProviderError
leaves them.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from batch_runner.catalog.facts import ProviderInfo, catalog
from batch_runner.errors import MAX_RETRY_AFTER_S, ProviderError
from batch_runner.keys import Secret
from batch_runner.providers.guard import checked_result, checked_task_id
from batch_runner.providers.taxonomy import classify_http
from batch_runner.providers.wire import HttpRequest, HttpResponse, PollResult

if TYPE_CHECKING:
    from batch_runner.jobs.model import Job

__all__ = ["Adapter", "dig", "retry_after_s"]

_T = TypeVar("_T")


def dig(obj: Any, *path: str | int) -> Any:
    """Follow keys (str) and list indexes (int) into parsed JSON; None where any
    step is missing or of the wrong type."""
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


class Adapter(ABC):
    """A provider's protocol. A subclass sets ``name`` (its key in the registry
    and in data/providers.yaml) and implements the four abstract methods.

    ``info`` is the provider's catalog entry (capabilities, model ids, prices);
    ``base_url`` has no trailing slash; ``api_key`` is a Secret (never printed);
    ``model_ids``: manifest model name -> wire model id, overriding the catalog's
    (the run's settings: ``providers: {NAME: {model_ids: ...}}``).
    """

    name: ClassVar[str] = ""

    def __init__(self, base_url: str | None = None, api_key: Secret | None = None, *,
                 model_ids: Mapping[str, str] | None = None) -> None:
        self.info: ProviderInfo = catalog()[self.name]
        self.base_url = (base_url or self.info.base_url).rstrip("/")
        self.api_key = api_key or Secret("")
        self.model_ids = dict(model_ids or {})

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.base_url}>"

    # -- the four translations ------------------------------------------------
    @abstractmethod
    def build_submit(self, job: Job) -> HttpRequest:
        """The submit request for ``job`` (its image already a URL or data URI)."""

    @abstractmethod
    def parse_submit(self, resp: HttpResponse) -> str:
        """The task id from a submit answer.

        Raises ProviderError: the provider's error, classified (taxonomy.py), or
        ``bad_response`` when the answer is not the documented JSON.
        """

    @abstractmethod
    def build_poll(self, task_id: str) -> HttpRequest:
        """The status request for ``task_id``."""

    @abstractmethod
    def parse_poll(self, resp: HttpResponse) -> PollResult:
        """The task's status from a status answer (or from a follow-up's answer).

        A task that failed is a PollResult with status ``failed``; an answer
        that is itself an error raises ProviderError (the runner retries polls).
        """

    # -- what the runner calls: the parsers, their output checked ----------------
    def read_submit(self, resp: HttpResponse) -> str:
        """``parse_submit``, the task id checked (guard.py); raises ProviderError only."""
        return checked_task_id(self, resp, self._parse(self.parse_submit, resp))

    def read_poll(self, resp: HttpResponse) -> PollResult:
        """``parse_poll``, its result checked (guard.py: video URL, times, texts);
        raises ProviderError only."""
        return checked_result(self, resp, self._parse(self.parse_poll, resp))

    def _parse(self, parse: Callable[[HttpResponse], _T], resp: HttpResponse) -> _T:
        try:
            return parse(resp)
        except ProviderError:
            raise
        except Exception as exc:  # a hostile answer must never crash the run
            raise self.bad_response(resp, f"unreadable answer ({type(exc).__name__})") from exc

    # -- helpers shared by adapters -------------------------------------------
    def url(self, path: str) -> str:
        """Absolute URL of ``path`` (which starts with /) on this provider."""
        return self.base_url + path

    def headers(self) -> dict[str, str]:
        """The headers of every request: ``Authorization: Bearer <key>`` and the
        JSON content type (a provider with another auth header overrides this)."""
        return {
            "Authorization": f"Bearer {self.api_key.reveal()}",
            "Content-Type": "application/json",
        }

    def model_id(self, job: Job) -> str:
        """The provider's identifier for the job's model: the settings' ``model_ids``
        override when given, else data/providers.yaml's."""
        return self.model_ids.get(job.model) or self.info.models[job.model].id

    def error(
        self,
        resp: HttpResponse,
        body: Any,
        *,
        code: Any = "",
        message: Any = "",
        error_code: str | None = None,
    ) -> ProviderError:
        """A ProviderError for an HTTP error answer whose parsed JSON is ``body``
        (None when it is not JSON), classified by taxonomy.classify_http unless
        ``error_code`` is given; carries the provider's ``code`` and ``message``
        and the Retry-After header (seconds)."""
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
        """A ProviderError ``bad_response`` (retryable) for an answer that is not
        the documented JSON; ``what`` says what is missing."""
        return ProviderError(
            self.name,
            "bad_response",
            f"{what}: {resp.body[:200].decode('utf-8', 'replace')}",
            retryable=True,
            http_status=resp.status,
        )



def retry_after_s(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), at
    most MAX_RETRY_AFTER_S; None when absent or not a finite time."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
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
