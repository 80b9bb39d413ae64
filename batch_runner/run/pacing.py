"""Submit pacing per provider key: fixed send times at the configured rpm, slowed by 429s, recovering slowly.

Submits go out on a fixed grid of send times, checked against the actual send
times so that no window of the limit holds one too many (schedule.py: the
arithmetic, and the margin sized from the measured event-loop jitter). A
submit waits twice: in ``acquire()`` for its grid time, and in ``spaced()``,
right before it goes on the wire (after the journal write that follows
``acquire()``, an fsync whose time varies), until the actual send times leave
room for it. On a rate-limit answer the rate is halved
(never below ``floor_rpm``) and the rate that drew it is remembered as a
ceiling; after ``quiet_s`` seconds without one the rate grows by a tenth of the
configured rate per quiet period, up to 90 % of that ceiling (additive
increase, multiplicative decrease). Only after ten quiet periods at that level
is the ceiling forgotten and the configured rate tried again. A provider whose
real limit is lower than configured so settles just under its real limit
instead of alternating bursts and 429s.
"""

from __future__ import annotations

import asyncio
import time

from batch_runner.errors import MAX_RETRY_AFTER_S
from batch_runner.run.retry import Clock, Sleep
from batch_runner.run.schedule import SendSchedule

__all__ = ["Pacer"]


class Pacer:
    """Paces one provider key's submits.

    ``rpm``: configured submits per minute; ``floor_rpm``: the slowest pace
    (default rpm / 64, at least 0.1); ``quiet_s``: seconds without a rate limit
    before the pace grows (default 600 / rpm, within 2..60 s). ``clock``
    (seconds, monotonic) and ``sleep`` drive the send times, the slowdown and
    its recovery. ``rpm`` is the current pace, ``ceiling`` the pace that drew
    the last rate limit (None: forgotten), ``slowdowns`` how many times the
    pace was halved, ``schedule`` the send times at the current pace.
    """

    def __init__(
        self,
        rpm: float,
        *,
        floor_rpm: float | None = None,
        quiet_s: float | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ):
        self.configured = rpm
        self.rpm = rpm
        self.floor = floor_rpm if floor_rpm is not None else max(rpm / 64, 0.1)
        # a quiet period: long enough for ~10 submits at the configured rate, 2..60 s
        self.quiet_s = quiet_s if quiet_s is not None else min(60.0, max(2.0, 600.0 / rpm))
        self.clock, self.sleep = clock, sleep
        self.slowdowns = 0
        self._last_429 = -1e18
        self._last_raise = clock()
        self._not_before = 0.0
        self.ceiling: float | None = None
        self.schedule = SendSchedule(rpm, clock())

    async def acquire(self) -> None:
        """Wait for this key's next grid send time (and any Retry-After pause)."""
        self._recover()
        while True:
            schedule = self.schedule
            at = max(schedule.reserve(self.clock()), self._not_before)
            if not await self._until(at):
                return
            if schedule is self.schedule and self._not_before <= self.clock():
                return
            # the pace changed, or a rate limit paused this key, while we waited: queue again

    async def spaced(self) -> float:
        """Just before a submit goes on the wire: wait, if need be, until the actual
        send times leave room for it (schedule.SendSchedule.due: the journal write
        between ``acquire`` and the send takes a varying time, a slow fsync up to
        tens of ms, and a late submit followed by an on-time one would arrive too
        close together); then count it as sent. Returns the send time (``clock``
        seconds), for ``answered``."""
        while True:
            if not await self._until(self.schedule.due(self.clock())):
                break
        sent = self.clock()
        self.schedule.sent(sent)
        return sent

    def answered(self, sent: float) -> None:
        """The submit sent at ``sent`` (``spaced``'s return) was answered now, or
        failed: its round trip sizes the margin."""
        self.schedule.answered(self.clock() - sent)

    async def _until(self, at: float) -> bool:
        """Sleep until ``at`` (seconds on ``clock``) and record how late the wake-up
        was; False, without sleeping, when ``at`` has passed."""
        wait = at - self.clock()
        if wait <= 0:
            return False
        await self.sleep(wait)
        self.schedule.woke(self.clock() - at)
        return True

    def sent_ago(self, ago_s: float) -> None:
        """The last submit of this key went out ``ago_s`` seconds ago (an earlier
        run's, from the journal's ``submitted_at``): this run's submits go as if the
        window before it were full, so a run started again at once (after a crash,
        or by cron) adds no burst to the window the earlier run filled."""
        self.schedule.seed(self.clock() - max(ago_s, 0.0))

    def rate_limited(self, retry_after_s: float | None = None) -> None:
        """A submit was answered with a rate limit: halve the rate (once per
        burst of rate limits, never below the floor), and send nothing before
        ``retry_after_s`` seconds (at most MAX_RETRY_AFTER_S; default one new
        spacing interval)."""
        now = self.clock()
        if now - self._last_429 >= 60.0 / self.rpm:  # one slowdown per burst
            self._last_429 = self._last_raise = now
            self.ceiling = self.rpm
            self._set(max(self.floor, self.rpm / 2))
            self.slowdowns += 1
        pause = retry_after_s if retry_after_s is not None else 60.0 / self.rpm
        self._not_before = max(self._not_before, now + min(pause, MAX_RETRY_AFTER_S))
        self.schedule.hold(self._not_before)

    def _recover(self) -> None:
        """After a quiet period, grow the pace by a tenth of the configured rate."""
        now = self.clock()
        if self.rpm >= self.configured or now - max(self._last_429, self._last_raise) < self.quiet_s:
            return
        target = self.configured if self.ceiling is None else min(self.configured, 0.9 * self.ceiling)
        if self.rpm >= target:
            if now - self._last_429 >= 10 * self.quiet_s:
                self.ceiling = None  # long quiet at the ceiling: probe higher again
            return
        self._last_raise = now
        self._set(min(target, self.rpm + self.configured / 10))

    def _set(self, rpm: float) -> None:
        """Pace at ``rpm`` from now on. Callers waiting for a time of the old
        schedule queue again on the new one (they would otherwise go at the old
        pace beside it); the new grid starts one new interval from now, not at once."""
        self.rpm = rpm
        self.schedule = self.schedule.resized(rpm, self.clock() + 60.0 / rpm)
        self._not_before = max(self._not_before, self.clock() + 60.0 / rpm)
