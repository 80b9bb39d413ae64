"""Adaptive pacing arithmetic on a fake clock: a rate limit halves the pace
(once per burst, never below the floor), holds submits until Retry-After
(capped at 120 s), and quiet periods bring the pace back up by a tenth;
submits go a margin under the configured pace (real time: aiolimiter's clock)."""

from __future__ import annotations

import asyncio
import time

import pytest

from batch_runner.run.pacing import PACE_MARGIN, Pacer

from conftest import FakeClock


def pacer(rpm: float, clock: FakeClock, **kw) -> Pacer:
    return Pacer(rpm, clock=clock, sleep=clock.sleep, **kw)


def test_a_rate_limit_halves_the_pace_once_per_burst_and_never_below_the_floor():
    clock = FakeClock(1000.0)
    p = pacer(600, clock, floor_rpm=100)
    p.rate_limited()
    assert p.rpm == 300 and p.ceiling == 600 and p.slowdowns == 1
    clock.now += 0.1  # within one spacing interval at 300/min (0.2 s): the same burst
    p.rate_limited()
    assert p.rpm == 300 and p.slowdowns == 1
    clock.now += 0.2
    p.rate_limited()
    assert p.rpm == 150 and p.ceiling == 300
    clock.now += 1.0
    p.rate_limited()
    assert p.rpm == 100  # the floor, not 75
    assert Pacer(640).floor == 10 and Pacer(3).floor == 0.1  # default floor: rpm / 64, at least 0.1


def test_default_quiet_period_is_ten_submits_within_2_to_60_s():
    assert Pacer(60).quiet_s == 10.0
    assert Pacer(6000).quiet_s == 2.0
    assert Pacer(1).quiet_s == 60.0


async def test_retry_after_holds_submits_and_is_capped_at_120_s():
    clock = FakeClock(1000.0)
    p = pacer(60_000, clock)  # 1 ms spacing: the limiter itself (real time) adds next to nothing
    p.rate_limited(1000.0)
    await p.acquire()
    assert clock.sleeps == [pytest.approx(120.0)]
    clock = FakeClock(1000.0)
    p = pacer(60_000, clock)
    p.rate_limited(3.0)
    await p.acquire()
    assert clock.sleeps == [pytest.approx(3.0)]
    clock = FakeClock(1000.0)
    p = pacer(60_000, clock)
    p.rate_limited()  # no Retry-After: one new spacing interval (60 / 30000 s)
    await p.acquire()
    assert clock.sleeps == [pytest.approx(0.002)]


async def test_quiet_periods_raise_the_pace_by_a_tenth_up_to_90_percent_of_the_ceiling():
    clock = FakeClock(1000.0)
    p = pacer(60_000, clock, quiet_s=10.0)
    p.rate_limited()
    assert p.rpm == 30_000 and p.ceiling == 60_000
    seen = []
    for _ in range(8):
        clock.now += 10.5  # one quiet period (and a little) since the last change
        await p.acquire()
        seen.append(p.rpm)
    # +6000 (a tenth of 60000) per quiet period, up to 0.9 x 60000 = 54000, and held there
    assert seen == [36_000, 42_000, 48_000, 54_000, 54_000, 54_000, 54_000, 54_000]
    assert p.ceiling == 60_000
    clock.now += 100.0  # ten quiet periods without a rate limit: the ceiling is forgotten
    await p.acquire()
    assert p.ceiling is None and p.rpm == 54_000
    clock.now += 10.5
    await p.acquire()
    assert p.rpm == 60_000  # the configured rate is tried again, never more


async def test_no_raise_before_a_full_quiet_period():
    clock = FakeClock(1000.0)
    p = pacer(60_000, clock, quiet_s=10.0)
    p.rate_limited()
    clock.now += 9.0
    await p.acquire()
    assert p.rpm == 30_000
    clock.now += 1.5
    await p.acquire()
    assert p.rpm == 36_000
    clock.now += 5.0  # 5 s since that raise: not yet
    await p.acquire()
    assert p.rpm == 36_000


@pytest.mark.serial  # real time: the spacing is aiolimiter's, on the event loop's clock
async def test_submits_are_spaced_a_margin_under_the_configured_rate():
    """At exactly 100 % of a sliding-window limit, one late arrival and one early
    one a window later draw a 429 (bench/RESULTS.md): the spacing is 3 % longer."""
    assert pytest.approx(0.03) == PACE_MARGIN
    p = Pacer(6000)  # 10 ms apart at exactly 100 %
    start = time.monotonic()
    for _ in range(21):
        await p.acquire()
    elapsed = time.monotonic() - start
    assert 20 * 0.010 / (1 - PACE_MARGIN) - 1e-3 <= elapsed < 0.5  # 20 intervals of 10.3 ms (or late)


@pytest.mark.serial  # real time, as the spacing
async def test_a_submit_sent_late_holds_the_next_one_a_full_interval_after_it():
    """The journal write between a submit's slot and its send can take tens of ms:
    the next submit still goes one full interval after the late one, not less."""
    p = Pacer(600)  # 100 ms apart at 100 %, 103 ms with the margin
    await p.acquire()
    await asyncio.sleep(0.06)  # a slow durable commit before the send
    await p.spaced()
    late = time.monotonic()
    await p.acquire()  # the limiter's next slot: 103 ms after the first one, 43 ms after the late send
    await p.spaced()
    assert time.monotonic() - late >= 0.1 / (1 - PACE_MARGIN) - 2e-3
