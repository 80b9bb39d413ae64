"""Retry policies (tenacity): which failures are retried, and how long to wait.

A submit is a paid video, so its rule is stricter than a poll's: a submit is
retried only when the provider surely did not take it (connection refused
before sending, or a retryable error answer such as 429 / 5xx / MiniMax 1002),
or when the provider dedupes submits by idempotency key. A timeout, a
connection dropped after sending, or a 2xx answer that cannot be read leaves
the job ``unknown``. Polls are safe to retry on any retryable error.

Waits: exponential backoff with full jitter, at least the provider's
``Retry-After`` when it sends one (capped at ``MAX_RETRY_AFTER_S``).
"""

from __future__ import annotations

import random
from typing import Any

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from batch_runner.errors import DownloadError, ProviderError, TransportError

__all__ = ["download_retrying", "first_wait", "submit_retrying", "is_submit_retryable", "surely_not_accepted"]

MAX_RETRY_AFTER_S = 120.0


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


def first_wait(exc: BaseException, base_s: float) -> float:
    """Seconds to wait after a first failed try: full jitter on ``base_s``, at
    least the error's Retry-After (capped at MAX_RETRY_AFTER_S)."""
    wait = random.uniform(0, base_s)
    after = getattr(exc, "retry_after", None)
    return max(wait, min(float(after), MAX_RETRY_AFTER_S)) if after is not None else wait


class _WaitRetryAfter:
    """Full-jitter exponential wait, but never less than Retry-After."""

    def __init__(self, base_s: float, max_s: float):
        self.jitter = wait_random_exponential(multiplier=base_s, max=max_s)

    def __call__(self, state: RetryCallState) -> float:
        wait = self.jitter(state)
        exc = state.outcome.exception() if state.outcome else None
        after = getattr(exc, "retry_after", None)
        if after is not None:
            wait = max(wait, min(float(after), MAX_RETRY_AFTER_S))
        return wait


def submit_retrying(
    max_attempts: int,
    *,
    idempotent: bool = False,
    base_s: float = 1.0,
    max_wait_s: float = 60.0,
    max_total_s: float = 600.0,
    sleep: Any = None,
    before_sleep: Any = None,
) -> AsyncRetrying:
    """An AsyncRetrying for one submit: ``max_attempts`` tries within
    ``max_total_s`` seconds; re-raises the last error. ``before_sleep``: a
    tenacity hook called before each wait (logs a retry event)."""
    kwargs: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
    if before_sleep is not None:
        kwargs["before_sleep"] = before_sleep
    return AsyncRetrying(
        retry=retry_if_exception(lambda e: is_submit_retryable(e, idempotent)),
        wait=_WaitRetryAfter(base_s, max_wait_s),
        stop=stop_after_attempt(max_attempts) | stop_after_delay(max_total_s),
        reraise=True,
        **kwargs,
    )


def download_retrying(max_attempts: int, *, base_s: float = 1.0, max_wait_s: float = 30.0,
                      before_sleep: Any = None, sleep: Any = None) -> AsyncRetrying:
    """An AsyncRetrying for one video download: a broken connection, a timeout
    or a retryable DownloadError (5xx, 429, short body) is tried again, up to
    ``max_attempts`` tries; re-raises the last error. Downloads are free to
    repeat (and resume from what arrived)."""
    kwargs: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
    if before_sleep is not None:
        kwargs["before_sleep"] = before_sleep
    return AsyncRetrying(
        retry=retry_if_exception(lambda e: isinstance(e, TransportError | DownloadError) and e.retryable),
        wait=wait_random_exponential(multiplier=base_s, max=max_wait_s),
        stop=stop_after_attempt(max_attempts),
        reraise=True,
        **kwargs,
    )
