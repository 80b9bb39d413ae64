"""The submit and download retry policies on a fake clock: how many tries,
how long each wait, the Retry-After cap and the jitter's bounds."""

from __future__ import annotations

import random

import pytest

from batch_runner.errors import (
    MAX_RETRY_AFTER_S,
    DownloadError,
    ProviderError,
    TransportError,
)
from batch_runner.run.retry import download_retrying, submit_retrying

from conftest import FakeClock


def rate_limited(retry_after: float | None = None) -> ProviderError:
    return ProviderError("gccai", "rate_limited", "slow down", retryable=True, http_status=429,
                         retry_after=retry_after)


async def tries_of(policy, clock: FakeClock, errors) -> list[float]:
    """Run ``policy`` over a submit failing with ``errors`` (one per try, then
    success); return the clock time of each try."""
    times, errors = [], list(errors)
    try:
        async for attempt in policy:
            with attempt:
                times.append(clock())
                if errors:
                    raise errors.pop(0)
    except ProviderError:
        pass
    return times


def policy(clock: FakeClock, max_attempts: int = 5, **kw):
    return submit_retrying(max_attempts, sleep=clock.sleep, clock=clock, **kw)


async def test_every_try_the_first_included_counts_against_max_attempts():
    clock = FakeClock()
    times = await tries_of(policy(clock, 3, base_s=1.0), clock, [rate_limited()] * 10)
    assert len(times) == 3 and len(clock.sleeps) == 2  # 3 tries, the first one included


async def test_retry_after_is_honoured_and_capped_at_120_s():
    clock = FakeClock()
    await tries_of(policy(clock, 4, base_s=0.001), clock, [rate_limited(1000.0)] * 10)
    assert MAX_RETRY_AFTER_S == 120.0
    assert clock.sleeps == [120.0, 120.0, 120.0]  # one provider's 1000 s: at most 120 s
    clock = FakeClock()
    await tries_of(policy(clock, 3, base_s=0.001), clock, [rate_limited(7.5)] * 10)
    assert clock.sleeps == [7.5, 7.5]  # never less than Retry-After (jitter of 0.001 s is less)


async def test_full_jitter_waits_stay_within_base_times_two_to_the_n_capped():
    random.seed(12)
    worst: dict[int, float] = {}
    for _ in range(300):
        clock = FakeClock()
        await tries_of(policy(clock, 9, base_s=1.0, max_wait_s=60.0), clock, [rate_limited()] * 10)
        for n, wait in enumerate(clock.sleeps, start=1):  # the wait after try n
            bound = min(60.0, 1.0 * 2 ** (n - 1))
            assert 0.0 <= wait <= bound, (n, wait)
            worst[n] = max(worst.get(n, 0.0), wait)
    # the whole range is used: full jitter, not a fixed or halved step
    assert worst[1] > 0.9 and worst[2] > 1.8 and worst[3] > 3.6 and worst[8] > 54.0


async def test_no_try_starts_after_the_total_time():
    clock = FakeClock()
    times = await tries_of(policy(clock, 50, base_s=0.001, max_total_s=25.0), clock, [rate_limited(10.0)] * 50)
    assert times == [0.0, 10.0, 20.0, 30.0]  # 30 s >= 25 s: the last try, then the error


async def test_a_submit_the_provider_may_have_taken_is_never_sent_again():
    clock = FakeClock()
    timeout = TransportError("gccai", "timeout", "read timed out", maybe_sent=True)
    assert await tries_of(policy(clock), clock, [timeout]) == [0.0]
    refused = TransportError("gccai", "connection_error", "refused", maybe_sent=False)
    assert len(await tries_of(policy(clock), clock, [refused])) == 2  # surely not sent: tried again
    # an idempotent provider dedupes by key: a timed-out submit is safe to send again
    assert len(await tries_of(policy(clock, idempotent=True), clock, [timeout])) == 2
    bad_key = ProviderError("gccai", "auth", "bad key", retryable=False, http_status=401)
    assert len(await tries_of(policy(clock), clock, [bad_key])) == 1


async def test_a_retry_that_never_succeeds_reraises_the_last_error():
    clock = FakeClock()
    errors = [rate_limited(1.0), rate_limited(2.0)]
    with pytest.raises(ProviderError) as raised:
        async for attempt in submit_retrying(2, sleep=clock.sleep, clock=clock, base_s=0.001):
            with attempt:
                raise errors.pop(0)
    assert raised.value.retry_after == 2.0


async def test_download_waits_are_the_same_jitter_capped_at_max_wait():
    random.seed(3)
    clock = FakeClock()
    tries = 0
    with pytest.raises(DownloadError):
        async for attempt in download_retrying(8, base_s=1.0, max_wait_s=5.0, sleep=clock.sleep):
            with attempt:
                tries += 1
                raise DownloadError("HTTP 503", retryable=True)
    assert tries == 8 and len(clock.sleeps) == 7
    assert all(0 <= w <= min(5.0, 2 ** n) for n, w in enumerate(clock.sleeps))
    tries = 0
    with pytest.raises(DownloadError):
        async for attempt in download_retrying(8, sleep=clock.sleep):
            with attempt:
                tries += 1
                raise DownloadError("HTTP 404", retryable=False)
    assert tries == 1
