"""Retry policies (tenacity): which failures are retried, and how long to wait.

A submit is a paid video, so its rule is stricter than a poll's: a submit is
retried only when the provider surely did not take it (connection refused
before sending, or a retryable error answer such as 429 / 5xx / MiniMax 1002),
or when the provider dedupes submits by idempotency key. A timeout, a
connection dropped after sending, or a 2xx answer that cannot be read leaves
the job ``unknown``. Polls are safe to retry on any retryable error (their
schedule is in lifecycle.py and polling.py).

Waits: exponential backoff with full jitter (try n failed: a wait drawn from
0 .. min(max_wait_s, base_s x 2^(n-1))), at least the error's Retry-After
when it carries one, capped at ``MAX_RETRY_AFTER_S`` (errors.py). ``sleep``
and ``clock`` are injectable, so tests run the policies on a fake clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)
from tenacity.stop import stop_base

from batch_runner.errors import (
    MAX_RETRY_AFTER_S,
    DownloadError,
    ProviderError,
    TransportError,
)

__all__ = [
    "MAX_RETRY_AFTER_S",
    "Clock",
    "RetryWait",
    "Sleep",
    "download_retrying",
    "is_submit_retryable",
    "retry_after_wait",
    "submit_retrying",
    "surely_not_accepted",
]

Sleep = Callable[[float], Awaitable[None]]
"""An ``asyncio.sleep``: waits the given seconds."""
Clock = Callable[[], float]
"""A ``time.monotonic``: seconds, only differences count."""
BeforeSleep = Callable[[RetryCallState], Awaitable[None] | None]


def surely_not_accepted(exc: BaseException) -> bool:
    """True when the provider surely did not create a task for this submit."""
    if isinstance(exc, TransportError):
        return not exc.maybe_sent
    if isinstance(exc, ProviderError):
        if exc.http_status is not None and exc.http_status >= 300:
            return True  # an error answer (4xx/5xx): no task was created
        return exc.error_code != "bad_response"  # 2xx: only a readable refusal counts
    return False


def is_submit_retryable(exc: BaseException, idempotent: bool = False) -> bool:
    """Retry a submit: retryable error, and the provider surely did not take it
    (or it dedupes by idempotency key)."""
    return (
        isinstance(exc, ProviderError)
        and exc.retryable
        and (idempotent or surely_not_accepted(exc))
    )


def retry_after_wait(exc: BaseException | None) -> float | None:
    """The error's Retry-After in seconds, capped at MAX_RETRY_AFTER_S; None
    when it carries none."""
    after = getattr(exc, "retry_after", None)
    return None if after is None else min(float(after), MAX_RETRY_AFTER_S)


class RetryWait:
    """A tenacity wait: full-jitter exponential backoff (tenacity's
    ``wait_random_exponential``: 0 .. min(``max_s``, ``base_s`` x 2^(n-1))
    seconds after try n, drawn with ``random``), never less than the failed
    try's Retry-After (capped at MAX_RETRY_AFTER_S)."""

    def __init__(self, base_s: float, max_s: float):
        self.jitter = wait_random_exponential(multiplier=base_s, max=max_s)

    def __call__(self, state: RetryCallState) -> float:
        """Seconds to wait before the next try."""
        wait = float(self.jitter(state))
        after = retry_after_wait(state.outcome.exception() if state.outcome else None)
        return wait if after is None else max(wait, after)


class _StopAfterDelay(stop_base):
    """Stop once ``max_s`` seconds of ``clock`` have passed since it was made."""

    def __init__(self, max_s: float, clock: Clock):
        self.max_s, self.clock = max_s, clock
        self.start = clock()

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.clock() - self.start >= self.max_s


def submit_retrying(
    max_attempts: int,
    *,
    idempotent: bool = False,
    base_s: float = 1.0,
    max_wait_s: float = 60.0,
    max_total_s: float = 600.0,
    sleep: Sleep = asyncio.sleep,
    clock: Clock = time.monotonic,
    before_sleep: BeforeSleep | None = None,
) -> AsyncRetrying:
    """The policy of one submit, every try included: at most ``max_attempts``
    tries, no new try once ``max_total_s`` seconds (of ``clock``) have passed
    since the policy was made; waits as in ``RetryWait(base_s, max_wait_s)``;
    only errors ``is_submit_retryable`` are tried again; re-raises the last
    error. ``before_sleep``: a tenacity hook called before each wait (logs a
    retry event)."""
    return AsyncRetrying(
        retry=retry_if_exception(lambda e: is_submit_retryable(e, idempotent)),
        wait=RetryWait(base_s, max_wait_s),
        stop=stop_after_attempt(max_attempts) | _StopAfterDelay(max_total_s, clock),
        reraise=True,
        sleep=sleep,
        before_sleep=before_sleep,
    )


def download_retrying(
    max_attempts: int,
    *,
    base_s: float = 1.0,
    max_wait_s: float = 30.0,
    before_sleep: BeforeSleep | None = None,
    sleep: Sleep = asyncio.sleep,
) -> AsyncRetrying:
    """The policy of one video download: a broken connection, a timeout or a
    retryable DownloadError (5xx, 429, short body) is tried again, up to
    ``max_attempts`` tries, with the waits of ``RetryWait(base_s, max_wait_s)``;
    re-raises the last error. Downloads are free to repeat (and resume from
    what arrived)."""
    return AsyncRetrying(
        retry=retry_if_exception(lambda e: isinstance(e, TransportError | DownloadError) and e.retryable),
        wait=RetryWait(base_s, max_wait_s),
        stop=stop_after_attempt(max_attempts),
        reraise=True,
        sleep=sleep,
        before_sleep=before_sleep,
    )

