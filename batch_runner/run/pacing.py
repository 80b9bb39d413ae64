"""Submit pacing per provider: even spacing just under ``rpm``, slowed by 429s, recovering slowly.

An ``aiolimiter.AsyncLimiter(1, 60 / rpm)`` lets one submit out every 60/rpm
seconds (``AsyncLimiter(rpm, 60)`` would let a whole minute's allowance out in
one burst: https://aiolimiter.readthedocs.io). The spacing is ``PACE_MARGIN``
(3 %) longer than 60/rpm: submits reach the provider some ms early or late
(event-loop wake-ups, journal commits, the network), and at exactly 100 % of a
sliding-window limit one submit that arrives late followed, a window later, by
one that arrives early puts one submit too many in that window: a 429, and the
pace halved. 3 % of the window (1.8 s of a minute) absorbs that, and ``spaced()``
keeps the spacing at the moment a submit is sent, after the journal write that
follows ``acquire()`` (an fsync whose time varies). On a rate-limit answer the rate is halved
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

from aiolimiter import AsyncLimiter

from batch_runner.errors import MAX_RETRY_AFTER_S
from batch_runner.run.retry import Clock, Sleep

__all__ = ["PACE_MARGIN", "Pacer"]

PACE_MARGIN = 0.03
"""Submits are spaced 60 / (rpm x (1 - PACE_MARGIN)) s apart: 3 % under the pace asked for."""


class Pacer:
    """Paces one provider's submits.

    ``rpm``: configured submits per minute; ``floor_rpm``: the slowest pace
    (default rpm / 64, at least 0.1); ``quiet_s``: seconds without a rate limit
    before the pace grows (default 600 / rpm, within 2..60 s). ``clock``
    (seconds) and ``sleep`` drive the slowdown and its recovery; the spacing
    itself is aiolimiter's, on the event loop's clock. ``rpm`` is the current
    pace, ``ceiling`` the pace that drew the last rate limit (None: forgotten),
    ``slowdowns`` how many times the pace was halved.
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
        self._last_sent = -1e18
        self.ceiling: float | None = None
        self._limiter = _spaced(rpm)

    async def acquire(self) -> None:
        """Wait for this provider's next submit slot."""
        self._recover()
        while True:
            limiter = self._limiter
            await limiter.acquire()
            if limiter is not self._limiter:
                continue  # the rate changed while we waited: queue again at the new pace
            wait = self._not_before - self.clock()
            if wait <= 0:
                return
            await self.sleep(wait)  # then queue again: no burst when the pause ends

    async def spaced(self) -> None:
        """Just before a submit goes on the wire: wait, if need be, until one
        spacing interval after the last submit sent (the journal write between
        ``acquire`` and the send takes a varying time, a slow fsync up to tens of
        ms, and a late submit followed by an on-time one would arrive too close
        together). On the event loop's clock, as the spacing itself."""
        loop = asyncio.get_running_loop()
        wait = self._last_sent + 60.0 / (self.rpm * (1 - PACE_MARGIN)) - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last_sent = loop.time()

    def sent_ago(self, ago_s: float) -> None:
        """The last submit of this key went out ``ago_s`` seconds ago (an earlier
        run's, from the journal's ``submitted_at``): this run's first submit
        waits until one spacing interval after it, so a run started again at
        once (after a crash, or by cron) adds no burst to the window the earlier
        run filled. Call inside the event loop."""
        self._last_sent = max(self._last_sent, asyncio.get_running_loop().time() - max(ago_s, 0.0))

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
        """Pace at ``rpm`` from now on. Callers waiting on the old limiter queue
        again on the new one (they would otherwise go at the old pace beside it);
        the new one's first slot is one new interval away, not at once."""
        self.rpm = rpm
        self._limiter = _spaced(rpm)
        self._not_before = max(self._not_before, self.clock() + 60.0 / rpm)


def _spaced(rpm: float) -> AsyncLimiter:
    """A limiter that lets one submit out every 60 / rpm s, ``PACE_MARGIN`` longer."""
    return AsyncLimiter(1, 60.0 / (rpm * (1 - PACE_MARGIN)))
