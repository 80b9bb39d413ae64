"""When one key's submits may go on the wire: fixed send times, checked against the actual ones.

Pure arithmetic on times in seconds (any monotonic clock); pacing.py waits on it.

Send times are laid on a fixed grid, one ``spacing`` apart from the first, so a
submit sent a little late does not push every later one back (a schedule that
restarts from each actual wake-up drifts by the average lateness per interval:
~0.85 ms an interval on a busy event loop, bench/RESULTS.md). The grid alone
could burst: after a stall, every slot it let pass would be due at once. So a
submit also waits until, among the *actual* send times,

- the limit's window holds room for it: at most ``per_window`` submits in any
  ``window`` seconds, with half the margin to spare (``window`` is the shortest
  window a limit is counted over that holds whole submits: one second, or one
  interval when the pace is slower than one a second; a schedule that keeps it
  keeps every longer window too, the minute an rpm is given for included);
- half an interval has passed since the last send (a late submit's successors
  catch up at twice the pace at most, never in a burst).

The margin (seconds per window) absorbs what makes submits reach the provider
unevenly, measured over the last ``JITTER_SAMPLES`` of each: twice the largest
lateness of the event loop's wake-ups, and the spread of the submits' answer
times (a submit reaches the provider somewhere between its send and its
answer: connection set-up, a busy loop or network delay it), at least
``MIN_MARGIN`` and at most ``MAX_MARGIN`` of the window (``START_MARGIN`` until
``TRUSTED_SAMPLES`` answers were timed). The grid is ``margin / per_window`` slower
than the limit per submit, so a window of grid sends spans the window plus the
whole margin; a late send then delays at most the one send a window after it,
and the grid takes the delay back (no cumulative drift).
"""

from __future__ import annotations

from collections import deque

__all__ = ["JITTER_SAMPLES", "MAX_MARGIN", "MIN_MARGIN", "SHORTEST_WINDOW_S", "START_MARGIN",
           "TRUSTED_SAMPLES", "SendSchedule"]

SHORTEST_WINDOW_S = 1.0
"""The shortest window a provider's rate limit is counted over: a second (limits are
published per second or per minute)."""

MIN_MARGIN = 0.005
"""The margin's floor, a fraction of the window: 5 ms of a one-second window."""

MAX_MARGIN = 0.10
"""The margin's ceiling, a fraction of the window (the fixed margin was 3 % before it was measured)."""

START_MARGIN = 0.05
"""The margin, a fraction of the window, until TRUSTED_SAMPLES answers have been timed."""

JITTER_SAMPLES = 32
"""Wake-ups and answer times that size the margin: the last 32 of each."""

TRUSTED_SAMPLES = 8
"""Answer times needed before the margin is sized from them (until then: START_MARGIN)."""


class SendSchedule:
    """The send times of one key's submits at ``rpm`` (submits per minute; > 0), its
    grid starting at ``start`` (seconds).

    ``interval`` = 60 / rpm s; ``per_window`` submits fit in ``window`` =
    per_window x interval seconds (about one second, at least one interval).
    """

    def __init__(self, rpm: float, start: float):
        self.rpm = rpm
        self.interval = 60.0 / rpm
        self.per_window = max(1, int(SHORTEST_WINDOW_S / self.interval + 1e-9))
        self.window = self.per_window * self.interval
        self._sent: deque[float] = deque(maxlen=self.per_window)  # the last actual send times
        self._late: deque[float] = deque(maxlen=JITTER_SAMPLES)  # the last wake-ups' lateness, s
        self._rtt: deque[float] = deque(maxlen=JITTER_SAMPLES)  # the last submits' answer times, s
        self._next = start  # the next free grid time

    @property
    def margin(self) -> float:
        """Seconds per window kept free of submits: twice the largest recent lateness
        and the spread of recent answer times, within MIN_MARGIN..MAX_MARGIN of the
        window; START_MARGIN until TRUSTED_SAMPLES answers have been timed."""
        if len(self._rtt) < TRUSTED_SAMPLES:
            return START_MARGIN * self.window  # too few answers seen to tell the jitter
        spread = max(self._rtt) - min(self._rtt)
        jitter = 2.0 * max(self._late, default=0.0) + spread
        return min(MAX_MARGIN * self.window, max(MIN_MARGIN * self.window, jitter))

    @property
    def spacing(self) -> float:
        """Seconds between two grid times: the interval and the submit's share of the margin."""
        return self.interval + self.margin / self.per_window

    def reserve(self, now: float) -> float:
        """Take the next grid time for one submit and return it (seconds). A grid
        left unused (no submit waiting) gives at most one spacing of credit: the
        grid starts again from ``now`` less one spacing, not from long ago."""
        at = max(self._next, now - self.spacing)
        self._next = at + self.spacing
        return at

    def hold(self, until: float) -> None:
        """No grid time before ``until`` (a provider's Retry-After)."""
        self._next = max(self._next, until)

    def due(self, now: float) -> float:
        """The earliest moment at or after ``now`` that the next submit may be sent,
        judged by the actual send times: a window after the send ``per_window``
        sends back (and half the margin), half an interval after the last send."""
        at = now
        if self._sent:
            at = max(at, self._sent[-1] + self.interval / 2)
            if len(self._sent) == self.per_window:
                at = max(at, self._sent[0] + self.window + self.margin / 2)
        return at

    def sent(self, at: float) -> None:
        """A submit went on the wire at ``at``."""
        self._sent.append(at)

    def woke(self, late: float) -> None:
        """A wait for a send time ended ``late`` seconds after it (the event loop's jitter)."""
        self._late.append(max(0.0, late))

    def answered(self, rtt: float) -> None:
        """A submit sent by this schedule was answered ``rtt`` seconds after its send."""
        self._rtt.append(max(0.0, rtt))

    def seed(self, last: float) -> None:
        """The key's last submit went out at ``last`` (an earlier run's): count the
        window before it as full, sends evenly spaced up to it, and lay the grid from
        one spacing after it."""
        for k in range(self.per_window - 1, -1, -1):
            self._sent.append(last - k * self.interval)
        self._next = max(self._next, last + self.spacing)

    def resized(self, rpm: float, start: float) -> SendSchedule:
        """The schedule at a new pace ``rpm``, its grid from ``start``: the actual send
        times and the measured lateness carry over."""
        new = SendSchedule(rpm, start)
        new._sent.extend(self._sent)
        new._late.extend(self._late)
        new._rtt.extend(self._rtt)
        return new
