"""The adapter interface: pure translations between a job and a provider's wire protocol.

An adapter never does I/O. transport.py sends the ``HttpRequest`` an adapter
builds and hands back an ``HttpResponse``; the adapter reads it into a task id
or a ``PollResult``, or raises ``ProviderError`` with our error vocabulary.

Four abstract methods: ``build_submit(job)``, ``parse_submit(resp)``,
``build_poll(task_id)``, ``parse_poll(resp)``. A provider whose result needs one
more request (MiniMax: ``file_id`` -> files/retrieve) returns a PollResult with
``follow_up`` set; the runner sends it at once and reads the answer with
``parse_poll`` again.

Two more, for ``batch-runner check`` (a preflight that spends nothing):
``build_key_check()`` (a request that tests the key for free: by default a poll of
``key_check_task_id``) and ``read_key_check(resp)`` (a ``KeyCheck`` verdict; by default
read as a REST provider's JSON errors), overridden where a provider answers otherwise.

Answers are untrusted: the runner calls ``read_submit`` / ``read_poll``, which
run the parsers and check what they return (guard.py); only ProviderError
leaves them.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from batch_runner.catalog.facts import ProviderInfo, catalog
from batch_runner.errors import MAX_RETRY_AFTER_S, ProviderError
from batch_runner.keys import Secret
from batch_runner.providers.guard import checked_result, checked_task_id
from batch_runner.providers.taxonomy import classify_http
from batch_runner.providers.wire import HttpRequest, HttpResponse, PollResult

if TYPE_CHECKING:
    from batch_runner.jobs.model import Job

__all__ = ["Adapter", "KeyCheck", "KeyVerdict", "dig", "idempotency_key", "retry_after_s", "web_page"]

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


#: What a key check's answer says: ``ok`` the key was accepted; ``bad_key`` it was
#: refused; ``not_api`` the host answered, but not as this provider's API does
#: (a web page, a redirect, a 404 that is not the provider's JSON); ``unclear``
#: an answer that tells neither (a rate limit, a server error: try again).
KeyVerdict = Literal["ok", "bad_key", "not_api", "unclear"]


@dataclass(frozen=True)
class KeyCheck:
    """The verdict of a key check (``KeyVerdict``) and ``detail``, one line in the
    user's words saying what the answer was (never the key)."""

    verdict: KeyVerdict
    detail: str = ""


def web_page(resp: HttpResponse) -> str | None:
    """Why ``resp`` is not an API's JSON answer, or None when it is JSON.

    A redirect (3xx: an API answer never redirects; a web site sends its users
    to a page), an HTML page, or any other body that is not JSON."""
    if 300 <= resp.status < 400:
        where = resp.headers.get("location", "")
        return f"HTTP {resp.status} redirect{' to ' + where[:100] if where else ''}"
    kind = resp.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in ("text/html", "application/xhtml+xml") or resp.body.lstrip()[:1] == b"<":
        return f"an HTML page (HTTP {resp.status})"
    if resp.json() is None:
        return f"an answer that is not JSON (HTTP {resp.status})"
    return None


def idempotency_key(job_id: str, generation: int = 0) -> str:
    """The ``Idempotency-Key`` of a job's submit: the same for every resend of
    one attempt (a lost answer, a retry, an ``unknown`` job sent again), a new
    one for each deliberate new attempt (``generation`` > 0: ``--retry-failed``,
    a re-roll). Generation 0 keeps the key earlier versions sent
    (``batch-runner-<job id>``), so an older journal's ``unknown`` job is still
    recognised by the provider."""
    base = f"batch-runner-{job_id}"
    return base if generation <= 0 else f"{base}-g{generation}"


class Adapter(ABC):
    """A provider's protocol. A subclass sets ``name`` (its key in the registry
    and in data/providers.yaml) and implements the four abstract methods.

    ``info`` is the provider's catalog entry (capabilities, model ids, prices);
    ``base_url`` has no trailing slash; ``api_key`` is a Secret (never printed);
    ``model_ids``: manifest model name -> wire model id, overriding the catalog's
    (the run's settings: ``providers: {NAME: {model_ids: ...}}``).
    """

    name: ClassVar[str] = ""
    #: The header a submit carries its idempotency key in ("" for none). Sending
    #: it does not make a provider idempotent: data/providers.yaml's
    #: ``idempotency_key`` says whether it documents a replay of the original task.
    idempotency_header: ClassVar[str] = ""
    #: provider codes read as a rate limit the first time and as a content refusal
    #: when the same job's submit meets one again after the pause (run/lifecycle.py)
    rate_or_content_codes: ClassVar[frozenset[str]] = frozenset()

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

    # -- the key check (batch-runner check) -----------------------------------------
    #: the made-up task id a key check polls: in the provider's id format where it
    #: checks one (apiframe: a UUID), never one a real task has
    key_check_task_id: ClassVar[str] = "batch-runner-key-check"

    def other_auth(self, request: HttpRequest) -> HttpRequest | None:
        """``request`` with another documented form of the key, after a 401 (the
        adapter switches to that form); None: this provider documents one form
        (gptproto documents two)."""
        del request
        return None

    def build_url_refresh(self, task_id: str, file_id: str | None = None) -> HttpRequest:
        """The free request whose answer (read with ``read_poll``, following its
        ``follow_up``) gives a finished task's video URL again, fresh: by default
        the task's poll (apiframe ``GET /v2/jobs/{id}``, APIMart's task status);
        MiniMax overrides it with ``files/retrieve`` of ``file_id``
        (run/url_refresh.py sends it when a saved URL has expired)."""
        del file_id
        return self.build_poll(task_id)

    def build_key_check(self) -> HttpRequest:
        """A request that tests the key and spends nothing (no credits, no task):
        a poll of ``key_check_task_id``. data/providers.yaml ``key_check`` says
        which request, per provider, with the public source that says it is free."""
        return self.build_poll(self.key_check_task_id)

    def read_key_check(self, resp: HttpResponse) -> KeyCheck:
        """The verdict on the key from the answer to ``build_key_check()``; pure, never raises.

        This default reads a REST provider whose errors are JSON with an ``error``
        member (gccai, gptproto, apiinone, apiframe): 401/403 ``bad_key``; a 404
        (or 400, 200) in the provider's JSON ``ok`` (the key was accepted, the
        made-up task is unknown); 429 and 5xx ``unclear``; anything else ``not_api``."""
        page = web_page(resp)
        body = resp.json()
        if page is not None:
            return KeyCheck("not_api", f"the host answered {page}")
        message = dig(body, "error", "message") or dig(body, "error") or dig(body, "message") or ""
        said = f": {_text(message)[:120]}" if message else ""
        if resp.status in (401, 403):
            return KeyCheck("bad_key", f"HTTP {resp.status}{said}")
        if resp.status == 429 or resp.status >= 500:
            return KeyCheck("unclear", f"HTTP {resp.status}{said}: try again later")
        if isinstance(body, dict) and ("error" in body or "data" in body):
            return KeyCheck("ok", f"key accepted (the made-up task: HTTP {resp.status}{said})")
        return KeyCheck("not_api", f"HTTP {resp.status} JSON that is not this provider's")

    # -- what the runner calls: the parsers, their output checked ----------------
    def submit_request(self, job: Job, generation: int = 0) -> HttpRequest:
        """``build_submit(job)``, with the idempotency key of attempt
        ``generation`` (``idempotency_key``) in ``idempotency_header`` when the
        provider takes one."""
        request = self.build_submit(job)
        if not self.idempotency_header:
            return request
        headers = {**request.headers, self.idempotency_header: idempotency_key(job.job_id, generation)}
        return HttpRequest(request.method, request.url, headers, request.json)

    def sent_idempotency_key(self, request: HttpRequest) -> str | None:
        """The idempotency key ``request`` carries (None: this provider takes none)."""
        return request.headers.get(self.idempotency_header) if self.idempotency_header else None

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
        the documented JSON; ``what`` says what is missing. The raw answer is
        kept on the error (``answer``) for a capture (run/captures.py)."""
        return ProviderError(
            self.name,
            "bad_response",
            f"{what}: {resp.body[:200].decode('utf-8', 'replace')}",
            retryable=True,
            http_status=resp.status,
            answer=resp,
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
