"""The send-time arithmetic of one key (run/schedule.py) on a fake clock: fixed
grid times that never put more than the limit in any window of the actual send
times, no cumulative drift however late the wake-ups, and a margin sized from
the lateness measured."""

from __future__ import annotations

import bisect
import itertools
import random

import pytest

from batch_runner.run.schedule import SendSchedule


def most_in_any_window(sends: list[float], window_s: float) -> int:
    """The most sends in any half-open window of ``window_s`` seconds ending at a send."""
    return max(i + 1 - bisect.bisect_right(sends, t - window_s) for i, t in enumerate(sends))


def simulate(rpm: float, n: int, late: list[float], commit: list[float]) -> tuple[SendSchedule, list[float]]:
    """``n`` submits of a rate-bound campaign (each queued before its time), as the
    Pacer sends them: wait for the grid time (woken ``late[i]`` s after it), the
    journal write (``commit[i]`` s), wait for room among the actual sends (woken
    late again), send. Returns the schedule and the actual send times."""
    s, sends, now = SendSchedule(rpm, 0.0), [], 0.0
    for i in range(n):
        slot = s.reserve(now)
        if slot > now:
            now = slot + late[i]
            s.woke(late[i])
        now += commit[i]
        due = s.due(now)
        if due > now:
            now = due + late[i]
            s.woke(late[i])
        s.sent(now)
        s.answered(0.002)  # every answer 2 ms after its send
        sends.append(now)
    return s, sends


def test_a_limit_of_10_a_second_is_never_exceeded_in_any_window_of_actual_sends():
    rng = random.Random(7)
    n = 2000
    late = [rng.uniform(0.0, 0.002) for _ in range(n)]  # a busy event loop: 0-2 ms late wake-ups
    commit = [rng.choice([0.0005] * 30 + [0.040]) for _ in range(n)]  # fsyncs, one in 31 a slow one
    s, sends = simulate(600, n, late, commit)
    assert s.per_window == 10 and s.window == pytest.approx(1.0)
    assert most_in_any_window(sends, 1.0) == 10
    assert most_in_any_window(sends, 60.0) <= 600  # and so every longer window, the minute included
    assert min(b - a for a, b in itertools.pairwise(sends)) >= 0.05  # never a burst


def test_late_wake_ups_do_not_add_up():
    """1 ms late on every wake-up, 2000 times: a schedule restarting from each actual
    wake-up ends 2 s late; the grid ends within the margin's share (5 % for the
    first 8, until 8 answers are timed) and one lateness."""
    n = 2000
    s, sends = simulate(600, n, [0.001] * n, [0.0] * n)
    assert s.margin == pytest.approx(0.005)  # 2 x 1 ms measured is under the 5 ms floor
    assert sends[-1] - sends[0] <= (n - 1) * (0.1 + 0.005 / 10) + 8 * (0.05 - 0.005) / 10 + 0.001 + 1e-9
    assert most_in_any_window(sends, 1.0) == 10


def test_a_stall_costs_its_length_once():
    """One send 80 ms late: the sends after it keep their grid times, and the one a
    window later waits for the window to pass the late one; the end is not moved."""
    n = 100
    commit = [0.0] * n
    commit[5] = 0.08
    _, stalled = simulate(600, n, [0.0] * n, commit)
    _, steady = simulate(600, n, [0.0] * n, [0.0] * n)
    assert stalled[5] == pytest.approx(steady[5] + 0.08)
    assert stalled[6:15] == pytest.approx(steady[6:15], abs=0.05)
    assert stalled[-1] - steady[-1] <= 0.08
    assert most_in_any_window(stalled, 1.0) == 10


def test_the_margin_follows_the_measured_lateness_within_its_bounds():
    s = SendSchedule(600, 0.0)
    assert s.margin == pytest.approx(0.05)  # too few answers timed: 5 % of the 1 s window
    for _ in range(8):
        s.answered(0.003)
    assert s.margin == pytest.approx(0.005)  # answers as fast as each other: 0.5 %, the floor
    s.woke(0.004)
    assert s.margin == pytest.approx(0.008) and s.spacing == pytest.approx(0.1008)
    s.answered(0.013)  # answers 3 to 13 ms after the send: a submit reaches the provider 10 ms unevenly
    assert s.margin == pytest.approx(0.018)
    s.woke(0.5)
    assert s.margin == pytest.approx(0.10)  # at most 10 % of the window
    slow = SendSchedule(10, 0.0)  # one every 6 s: the window is one interval
    for _ in range(8):
        slow.answered(0.5)
    assert (slow.per_window, slow.window) == (1, 6.0) and slow.margin == pytest.approx(0.03)


def timed(s: SendSchedule) -> SendSchedule:
    for _ in range(8):
        s.answered(0.002)
    return s


def test_an_unused_grid_gives_one_spacing_of_credit_not_a_burst():
    s = timed(SendSchedule(600, 0.0))
    assert s.reserve(100.0) == pytest.approx(100.0 - 0.1005)  # idle for 100 s
    assert s.reserve(100.0) == pytest.approx(100.0)
    assert s.reserve(100.0) == pytest.approx(100.1005)


def test_a_run_started_again_counts_the_last_window_as_full():
    s = timed(SendSchedule(600, 0.0))
    s.seed(50.0)  # the earlier run's last submit
    assert s.reserve(50.01) == pytest.approx(50.1005)
    assert s.due(50.1005) == pytest.approx(50.0 - 0.9 + 1.0 + 0.0025)


def test_a_retry_after_holds_the_grid():
    s = SendSchedule(600, 0.0)
    s.hold(3.0)
    assert s.reserve(0.0) == 3.0
