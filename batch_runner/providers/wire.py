"""The wire types shared by the adapters, their checks (guard.py) and transport.py.

An adapter builds an ``HttpRequest``, transport.py sends it and hands back an
``HttpResponse``, and the adapter reads a poll answer into a ``PollResult``.
This module imports nothing from the rest of the package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = [
    "FAILED",
    "PENDING",
    "RUNNING",
    "STATUSES",
    "SUCCEEDED",
    "HttpRequest",
    "HttpResponse",
    "PollResult",
    "TaskStatus",
]

#: A task's status in our own words, whatever the provider calls it.
TaskStatus = Literal["pending", "running", "succeeded", "failed"]
PENDING: Final = "pending"
RUNNING: Final = "running"
SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
STATUSES: Final[tuple[TaskStatus, ...]] = (PENDING, RUNNING, SUCCEEDED, FAILED)


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request to send: ``method`` (GET, POST), an absolute ``url``,
    ``headers`` and the ``json`` body (None for no body).

    ``headers`` may hold the API key: the repr leaves them out.
    """

    method: str
    url: str
    headers: dict[str, str] = field(repr=False)
    json: dict[str, Any] | None = None


@dataclass(frozen=True)
class HttpResponse:
    """An HTTP answer: ``status`` code, ``headers`` with lower-case names, the
    raw ``body`` bytes (at most transport.MAX_BODY_BYTES)."""

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
class PollResult:
    """What one poll answer said about a task (read by ``Adapter.read_poll``).

    ``status``: pending | running | succeeded | failed. On success ``video_url``,
    and ``url_expires_at`` (unix seconds) where the provider documents how long
    the URL lives. On failure ``error_code`` (our vocabulary, errors.ERROR_CODES),
    ``provider_code`` and ``message`` (the provider's own words).
    ``follow_up``: one more request to send at once, whose answer is read as a
    poll answer too (MiniMax: ``file_id`` -> files/retrieve -> download URL).
    ``file_id``: the provider's id of the finished video where it has one
    (MiniMax, gpt.ge), kept in the journal to ask for a fresh URL later.
    """

    status: TaskStatus
    video_url: str = ""
    url_expires_at: float | None = None
    error_code: str = ""
    provider_code: str = ""
    message: str = ""
    follow_up: HttpRequest | None = None
    file_id: str = ""

    @property
    def finished(self) -> bool:
        """True for succeeded and failed: polling this task again would not change it."""
        return self.status in (SUCCEEDED, FAILED)
