"""When to poll a task: rarely while it is surely still running, often near its end.

A task of a provider whose typical generation time is T (``typical_generation_s``)
is polled first at 0.8 T after submit (a poll before then is wasted), then every
``poll_interval_s / 2`` until 1.5 T (the likely end: finished tasks are noticed
sooner), then every ``poll_interval_s``, stretching by 1.5x per poll up to
4 x ``poll_interval_s`` for tasks far beyond their typical time. Without a
typical time it polls every ``poll_interval_s``.

For a task that takes exactly T this costs 1 + ceil(0.2 T / (poll_interval_s / 2))
polls (one at 0.8 T, then one per half interval), at most ceil(T / poll_interval_s) + 2
whenever T >= 3 x poll_interval_s (bench/ measures it; tests/unit/run checks it).
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["BACKSTOP_FACTOR", "backstop_delays", "backstop_s", "poll_delays"]

BACKSTOP_FACTOR = 3.0
"""With callbacks: the first poll waits this many typical generation times (run/callbacks.py)."""


def poll_delays(poll_interval_s: float, typical_s: float | None = None) -> Iterator[float]:
    """Seconds to wait before each poll of one task (the first measured from
    its submit, each next one from the poll before), endless. ``poll_interval_s``
    and ``typical_s`` (the provider's typical generation time, None: unknown)
    are in seconds."""
    if not typical_s or typical_s <= poll_interval_s:
        while True:
            yield poll_interval_s
    first = 0.8 * typical_s
    yield first
    elapsed, step = first, poll_interval_s / 2
    while elapsed < 1.5 * typical_s:
        yield step
        elapsed += step
    step = poll_interval_s
    while True:
        yield step
        step = min(step * 1.5, 4 * poll_interval_s)



def backstop_s(poll_interval_s: float, typical_s: float | None = None) -> float:
    """Seconds before the first poll of a task whose provider pushes callbacks:
    ``BACKSTOP_FACTOR`` x ``typical_s`` (else x ``poll_interval_s``)."""
    return BACKSTOP_FACTOR * (typical_s or poll_interval_s)


def backstop_delays(poll_interval_s: float, typical_s: float | None = None) -> Iterator[float]:
    """The poll schedule of a task whose pushes wake its polls: a slow backstop
    (``backstop_s``) first, then the usual schedule as it is by then, the task far
    beyond its typical time: every ``poll_interval_s``, stretching by 1.5x per poll
    up to 4 x ``poll_interval_s`` (not the dense polls meant for 0.8-1.5 x its
    typical time, which would follow each push's wake-up)."""
    yield backstop_s(poll_interval_s, typical_s)
    step = poll_interval_s
    while True:
        yield step
        step = min(step * 1.5, 4 * poll_interval_s)
