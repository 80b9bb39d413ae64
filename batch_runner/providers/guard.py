"""Checks on what an adapter read from a provider's answer (untrusted input).

``Adapter.read_submit`` / ``read_poll`` (what the runner calls) run the
adapter's parser and then these checks, so whatever a provider sends, the
runner gets a clean task id, a clean PollResult, or a ProviderError:

- a task id is 1..200 characters of ``A-Z a-z 0-9 . _ : -`` (it goes into
  URLs and the journal), without ``..``;
- a video URL passes urls.check_video_url (http(s) only, no local address
  except the provider's own host) and does not contain an API key; otherwise
  the task ends ``failed`` with ``bad_response`` (polling again would not help);
- ``url_expires_at`` is a unix time in 2000..9999, else dropped; messages are
  cut to MAX_MESSAGE_CHARS, provider codes to MAX_CODE_CHARS, and every known
  key is redacted;
- a follow-up request goes to the provider's own base URL only.

The checks need only the adapter's ``base_url`` and ``bad_response`` (the
``Reader`` protocol), so this module does not import base.py.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from typing import Any, Protocol
from urllib.parse import urlsplit

from batch_runner.errors import ProviderError
from batch_runner.keys import redact
from batch_runner.providers.url_safety import UnsafeUrlError, check_video_url
from batch_runner.providers.wire import (
    FAILED,
    STATUSES,
    SUCCEEDED,
    HttpResponse,
    PollResult,
)

__all__ = ["MAX_CODE_CHARS", "MAX_MESSAGE_CHARS", "Reader", "checked_result", "checked_task_id", "safe_id"]

MAX_MESSAGE_CHARS = 1000
MAX_CODE_CHARS = 100
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,199}")
_YEAR_2000, _YEAR_9999 = 946_684_800.0, 253_402_300_799.0


class Reader(Protocol):
    """What the checks need of an adapter (base.Adapter has both)."""

    base_url: str

    def bad_response(self, resp: HttpResponse, what: str) -> ProviderError:
        """A ProviderError ``bad_response`` saying ``what`` is wrong with ``resp``."""
        ...


def safe_id(value: Any) -> str | None:
    """``value`` as an id safe to put in a URL path or query, or None."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value)
    return text if _ID.fullmatch(text) and ".." not in text else None


def checked_task_id(adapter: Reader, resp: HttpResponse, value: Any) -> str:
    """The task id, or ProviderError ``bad_response``."""
    task_id = safe_id(value)
    if task_id is None:
        raise adapter.bad_response(resp, f"the task id is not a plain id ({str(value)[:60]!r})")
    return task_id


def _number(value: Any, low: float, high: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) and low <= value <= high else None


@functools.lru_cache(maxsize=64)
def _own_host(base_url: str) -> tuple[str]:
    """The host of a provider's base URL, the one local host its video URLs may name."""
    return (urlsplit(base_url).hostname or "",)


def checked_result(adapter: Reader, resp: HttpResponse, result: PollResult) -> PollResult:
    """``result`` cleaned as the module docstring says; raises ProviderError
    (``bad_response``) for an unknown status or a follow-up off the base URL."""
    if result.status not in STATUSES:
        raise adapter.bad_response(resp, f"unknown task status {str(result.status)[:40]!r}")
    follow = result.follow_up
    if follow is not None and not follow.url.startswith(adapter.base_url + "/"):
        raise adapter.bad_response(resp, "a follow-up request off the provider's base URL")
    changes: dict[str, Any] = {
        "url_expires_at": _number(result.url_expires_at, _YEAR_2000, _YEAR_9999),
        "message": redact(str(result.message or ""))[:MAX_MESSAGE_CHARS],
        "provider_code": redact(str(result.provider_code or ""))[:MAX_CODE_CHARS],
        "error_code": str(result.error_code or "")[:40],
        "file_id": str(result.file_id or "")[:MAX_CODE_CHARS] if result.status == SUCCEEDED else "",
    }
    if result.status == SUCCEEDED:
        try:
            url = check_video_url(result.video_url, trusted_hosts=_own_host(adapter.base_url))
            if redact(url) != url:
                raise UnsafeUrlError("the video URL carries the API key: refused")
        except UnsafeUrlError as exc:
            return PollResult(FAILED, error_code="bad_response", provider_code="unsafe_url",
                              message=redact(str(exc))[:MAX_MESSAGE_CHARS])
    else:
        changes["video_url"] = ""
    return dataclasses.replace(result, **changes)
