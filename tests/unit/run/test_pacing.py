"""Adaptive pacing arithmetic on a fake clock: a rate limit halves the pace
(once per burst, never below the floor), holds submits until Retry-After
(capped at 120 s), and quiet periods bring the pace back up by a tenth;
submits go on a fixed grid a measured margin under the configured pace."""

from __future__ import annotations

import pytest

from batch_runner.run.pacing import Pacer

from conftest import FakeClock


def pacer(rpm: float, clock: FakeClock, **kw) -> Pacer:
    return Pacer(rpm, clock=clock, sleep=clock.sleep, **kw)


def answered_evenly(p: Pacer) -> Pacer:
    """Eight submits answered as fast as each other: the margin is sized from them (its floor)."""
    for _ in range(8):
        p.schedule.answered(0.001)
    return p


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
    p = pacer(60_000, clock)  # 1 ms spacing
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


async def test_submits_go_on_a_fixed_grid_a_measured_margin_under_the_configured_rate():
    """Back-to-back submits at 6000/min (10 ms apart at exactly 100 %): one every
    10 ms and a share of the margin (5 ms a one-second window when nothing was
    late: 0.05 ms a submit), not 3 % (0.3 ms) as before."""
    clock = FakeClock(1000.0)
    p = answered_evenly(pacer(6000, clock))
    sent = []
    for _ in range(21):
        await p.acquire()
        await p.spaced()
        sent.append(clock())
    assert sent[-1] - sent[0] == pytest.approx(20 * (0.010 + 0.005 / 100))


async def test_a_submit_sent_late_does_not_push_the_later_ones_back():
    """The journal write between a submit's grid time and its send can take tens of
    ms: the next submits still go at their own grid times (no drift), never closer
    than half an interval to the late one; only the submit a window (10 submits)
    after the late one waits for the window to pass it."""
    clock = FakeClock(1000.0)
    p = answered_evenly(pacer(600, clock))  # 100 ms apart at 100 %, 100.5 ms on the grid
    sent = []
    for i in range(12):
        await p.acquire()
        if i == 1:
            clock.now += 0.08  # a slow durable commit before the send
        await p.spaced()
        sent.append(clock() - 1000.0)
    assert sent[1] == pytest.approx(0.1005 + 0.08)
    assert sent[2] == pytest.approx(sent[1] + 0.05)  # half an interval after the late one, not a full one
    assert sent[3:11] == pytest.approx([k * 0.1005 for k in range(3, 11)])  # back on the grid
    assert sent[11] == pytest.approx(sent[1] + 1.0 + 0.0025)  # 10 in any second, and half the margin


async def send_accepted(p: Pacer, clock: FakeClock, n: int, gap_s: float = 0.0) -> None:
    """``n`` submits, each accepted at once, ``gap_s`` more seconds after each."""
    for _ in range(n):
        await p.acquire()
        p.answered(await p.spaced(), accepted=True)
        clock.now += gap_s


async def test_a_rate_limit_cuts_the_pace_no_lower_than_what_the_provider_just_accepted():
    """10 accepted in the last second at 600/min, then a 429 (a fault of the provider's,
    or its limit): the pace goes to 90 % of what it just let through (540/min), not half
    (300/min); with nothing accepted lately it is halved as before."""
    clock = FakeClock(1000.0)
    p = answered_evenly(pacer(600, clock))
    await send_accepted(p, clock, 10)
    p.rate_limited()
    assert p.rpm == pytest.approx(540) and p.ceiling == 600
    clock.now += 120.0  # two minutes later: that evidence is too old
    p.rate_limited()
    assert p.rpm == pytest.approx(270)


async def test_a_rate_limit_with_fewer_in_the_window_than_the_provider_accepted_is_not_the_pace():
    """The provider took 10 in one second; a 429 comes when the key sent 5 in the last
    second: a limit that let 10 through did not refuse the 5th (a fault, or another
    client on the key): neither the pace is cut nor the key paused (the refused
    submit's own retry waits its Retry-After)."""
    clock = FakeClock(1000.0)
    p = answered_evenly(pacer(600, clock))
    await send_accepted(p, clock, 10)
    await send_accepted(p, clock, 5, gap_s=0.1)  # the last five go 0.2 s apart: 5 in the last second
    clock.now += 0.1
    before = clock()
    p.rate_limited(30.0)
    assert p.rpm == 600 and p.slowdowns == 0
    await p.acquire()
    assert clock() - before < 0.2  # its next grid time, not 30 s later
