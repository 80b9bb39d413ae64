"""Checks on what an adapter read from a provider's answer (untrusted input).

``Adapter.read_submit`` / ``read_poll`` (what the runner calls) run the
adapter's parser and then these checks, so whatever a provider sends, the
runner gets a clean task id, a clean TaskState, or a ProviderError:

- a task id is 1..200 characters of ``A-Z a-z 0-9 . _ : -`` (it goes into
  URLs and the journal), without ``..``;
- a video URL passes urls.check_video_url (http(s) only, no local address
  except the provider's own host) and does not contain an API key; otherwise
  the task ends ``failed`` with ``bad_response`` (polling again would not help);
- ``url_expires_at`` is a unix time in 2000..9999, ``progress`` a number in
  0..100, else dropped; messages are cut to MAX_MESSAGE_CHARS, provider codes
  to MAX_CODE_CHARS, and every known key is redacted;
- a follow-up request goes to the provider's own base URL only.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from batch_runner.errors import ProviderError
from batch_runner.keys import redact
from batch_runner.providers.url_safety import UnsafeUrlError, check_video_url

if TYPE_CHECKING:
    from batch_runner.providers.base import Adapter, HttpResponse, TaskState

__all__ = ["MAX_CODE_CHARS", "MAX_MESSAGE_CHARS", "checked_state", "checked_task_id", "safe_id"]

MAX_MESSAGE_CHARS = 1000
MAX_CODE_CHARS = 100
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,199}")
_STATUSES = ("pending", "running", "succeeded", "failed")
_YEAR_2000, _YEAR_9999 = 946_684_800.0, 253_402_300_799.0


def safe_id(value: Any) -> str | None:
    """``value`` as an id safe to put in a URL path or query, or None."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value)
    return text if _ID.fullmatch(text) and ".." not in text else None


def checked_task_id(adapter: Adapter, resp: HttpResponse, value: Any) -> str:
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


def checked_state(adapter: Adapter, resp: HttpResponse, state: TaskState) -> TaskState:
    """``state`` cleaned as the module docstring says; raises ProviderError."""
    if state.status not in _STATUSES:
        raise adapter.bad_response(resp, f"unknown task state {str(state.status)[:40]!r}")
    follow = state.follow_up
    if follow is not None and not follow.url.startswith(adapter.base_url + "/"):
        raise adapter.bad_response(resp, "a follow-up request off the provider's base URL")
    changes: dict[str, Any] = {
        "url_expires_at": _number(state.url_expires_at, _YEAR_2000, _YEAR_9999),
        "progress": _number(state.progress, 0.0, 100.0),
        "message": redact(str(state.message or ""))[:MAX_MESSAGE_CHARS],
        "provider_code": redact(str(state.provider_code or ""))[:MAX_CODE_CHARS],
        "error_code": str(state.error_code or "")[:40],
    }
    if state.status == "succeeded":
        try:
            url = check_video_url(state.video_url, trusted_hosts=_own_host(adapter.base_url))
            if redact(url) != url:
                raise UnsafeUrlError("the video URL carries the API key: refused")
        except UnsafeUrlError as exc:
            return type(state)("failed", error_code="bad_response", provider_code="unsafe_url",
                               message=redact(str(exc))[:MAX_MESSAGE_CHARS])
    else:
        changes["video_url"] = ""
    return dataclasses.replace(state, **changes)


def unexpected(adapter: Adapter, resp: HttpResponse, exc: Exception) -> ProviderError:
    """A ProviderError for a parser that failed on an answer it did not expect
    (defence in depth: the fuzz tests find none)."""
    return adapter.bad_response(resp, f"unreadable answer ({type(exc).__name__})")
