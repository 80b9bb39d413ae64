"""The poll schedule: rarely while a task surely runs, often near its typical end."""

from __future__ import annotations

import math
from itertools import accumulate, islice

import pytest

from batch_runner.run.polling import backstop_delays, poll_delays


def first(n: int, delays) -> list[float]:
    return list(islice(delays, n))


def test_without_a_typical_time_polls_every_interval():
    assert first(5, poll_delays(10.0)) == [10.0] * 5
    assert first(5, poll_delays(10.0, 8.0)) == [10.0] * 5  # typical below the interval: the same


def test_schedule_with_a_typical_time():
    delays = first(22, poll_delays(10.0, 100.0))
    assert delays[0] == 80.0  # 0.8 T after submit
    assert delays[1:15] == [5.0] * 14  # every interval / 2 until 1.5 T (80 s -> 150 s)
    assert list(accumulate(delays))[14] == 150.0
    # then the interval, stretching 1.5x per poll up to 4 x the interval
    assert delays[15:22] == [10.0, 15.0, 22.5, 33.75, 40.0, 40.0, 40.0]


@pytest.mark.parametrize("interval, typical", [(10, 30), (10, 100), (5, 90), (15, 120), (2, 300)])
def test_a_task_that_takes_its_typical_time_costs_at_most_ceil_t_over_interval_plus_2_polls(interval, typical):
    polls, elapsed = 0, 0.0
    for delay in poll_delays(interval, typical):
        polls += 1
        elapsed += delay
        if elapsed >= typical:
            break
    assert polls <= math.ceil(typical / interval) + 2
    assert polls == 1 + math.ceil(0.2 * typical / (interval / 2))  # the first at 0.8 T, then T/2 steps


def test_with_callbacks_the_backstop_comes_first_then_the_stretched_schedule():
    # 3 x the typical 120 s, then every 10 s stretching to 40 s: the task is far beyond its
    # typical time by then, so none of the dense polls meant for 0.8-1.5 x it (5 s apart)
    delays = first(6, backstop_delays(10.0, 120.0))
    assert delays == [360.0, 10.0, 15.0, 22.5, 33.75, 40.0]
    assert first(2, backstop_delays(10.0)) == [30.0, 10.0]  # no typical time: 3 x the interval
