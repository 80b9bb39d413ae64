"""Submit pacing per provider key: fixed send times at the configured rpm, slowed by 429s, recovering slowly.

Submits go out on a fixed grid of send times, checked against the actual send
times so that no window of the limit holds one too many (schedule.py: the
arithmetic, and the margin sized from the measured event-loop jitter). A
submit waits twice: in ``acquire()`` for its grid time, and in ``spaced()``,
right before it goes on the wire (after the journal write that follows
``acquire()``, an fsync whose time varies), until the actual send times leave
room for it. On a rate-limit answer that this key's pace could have drawn (its last window
held at least as many submits as the provider accepted in one window lately:
``Pacer.rate_limited``) the rate is halved (never below ``floor_rpm``, nor below
90 % of that most accepted: a limit cannot be lower than what it just let
through, so rate-limit answers among other faults, or sent at random, do not
collapse the pace) and the rate that drew it is remembered as a
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
from collections import deque

from batch_runner.errors import MAX_RETRY_AFTER_S
from batch_runner.run.retry import Clock, Sleep
from batch_runner.run.schedule import SendSchedule

__all__ = ["EVIDENCE_WINDOWS", "Pacer"]

EVIDENCE_WINDOWS = 60
"""Windows of accepted submits a slowdown looks back on (schedule.SendSchedule.window each:
about a minute)."""


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
        self._accepted: deque[float] = deque()  # send times of accepted submits, the last windows'
        self._sends: deque[float] = deque()  # send times of the last window's submits
        self._last_cut = -1e18


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
        self._sends.append(sent)
        return sent

    def answered(self, sent: float, *, accepted: bool = False) -> None:
        """The submit sent at ``sent`` (``spaced``'s return) was answered now, or
        failed: its round trip sizes the margin. ``accepted``: the provider took it
        (a task id): it passed the provider's limit, evidence of what the limit allows."""
        now = self.clock()
        self.schedule.answered(now - sent)
        if accepted:
            self._accepted.append(sent)
            horizon = now - EVIDENCE_WINDOWS * self.schedule.window
            while self._accepted and self._accepted[0] < horizon:
                self._accepted.popleft()

    def _accepted_most(self) -> int:
        """The most submits the provider accepted in any one window of the last
        EVIDENCE_WINDOWS (0: none)."""
        window = self.schedule.window
        times = sorted(t for t in self._accepted if t >= self.clock() - EVIDENCE_WINDOWS * window)
        most, first = 0, 0
        for last, t in enumerate(times):
            while t - times[first] >= window:
                first += 1
            most = max(most, last - first + 1)
        return most

    def _sent_in_window(self) -> int:
        """This key's submits sent in the last window."""
        since = self.clock() - self.schedule.window
        while self._sends and self._sends[0] < since:
            self._sends.popleft()
        return len(self._sends)

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

    def rate_limited(self, retry_after_s: float | None = None, *, drawn: bool | None = None) -> None:
        """A submit was answered with a rate limit. When this key's own pace could
        have drawn it (the last window held at least as many of its submits as the
        provider accepted in one window lately: a limit that let n through in a
        window does not refuse fewer), send nothing before ``retry_after_s``
        seconds (at most MAX_RETRY_AFTER_S; default one new spacing interval),
        and cut the pace (once per burst of rate limits): halved, but not below
        the floor nor below 90 % of that most accepted in a window. A refusal
        below that is a provider's fault, or another client's use of the key:
        pacing slower would not prevent it, and only the refused submit waits
        (its retry waits at least its Retry-After: retry.py). ``drawn=True``: take it
        as drawn by the pace whatever the count (a code that may be a content refusal,
        judged by the rate limits around it: lifecycle.py)."""
        now = self.clock()
        self._last_429 = now  # not a quiet period, whatever the cause
        proven = self._accepted_most()
        if not drawn and self._sent_in_window() < proven:
            return
        if now - self._last_cut >= 60.0 / self.rpm:
            self._last_cut = self._last_raise = now
            self.ceiling = self.rpm
            evidence = min(0.9 * proven * 60.0 / self.schedule.window, 0.9 * self.rpm)
            self._set(max(self.floor, self.rpm / 2, evidence))
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
