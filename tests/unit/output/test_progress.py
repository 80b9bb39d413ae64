"""Progress on a terminal and in cron: log lines never glued to the bar, and the
counts (submitted, in flight, succeeded, failed, unknown) on the bar and the line."""

from __future__ import annotations

import io
import logging

from batch_runner.journal import JobRecord, JobStatus
from batch_runner.logs import setup_logging
from batch_runner.output.progress import Progress

log = logging.getLogger("batch_runner")


class _Terminal(io.StringIO):
    """A stream that says it is a terminal and keeps what was written."""

    @property
    def text(self) -> str:
        return self.getvalue()

    def isatty(self) -> bool:
        return True

    def screen(self) -> list[str]:
        """The lines a terminal shows for the text: ``\\r`` goes back to the start
        of the line and what follows overwrites it."""
        lines: list[str] = []
        line: list[str] = []
        col = 0
        for ch in self.text:
            if ch == "\n":
                lines.append("".join(line).rstrip())
                line, col = [], 0
            elif ch == "\r":
                col = 0
            else:
                line[col:col + 1] = ch
                col += 1
        lines.append("".join(line).rstrip())
        return lines


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _terminal(monkeypatch) -> _Terminal:
    """stdout and stderr are one terminal; batch_runner's logs go to it as the CLI
    sets them up. (Called in the test itself: pytest swaps sys.stderr after fixtures.)"""
    term = _Terminal()
    monkeypatch.setattr("sys.stdout", term)
    monkeypatch.setattr("sys.stderr", term)
    setup_logging("text")
    return term


def test_log_lines_written_while_the_bar_is_shown_are_lines_of_their_own(monkeypatch):
    terminal = _terminal(monkeypatch)
    progress = Progress(4, clock=_Clock())
    assert progress.bar is not None
    progress.submitted("job-1")
    log.warning("job 1 (row 2) failed on minimax: content policy")
    progress.finished(JobRecord(job_id="job-1", status=JobStatus.FAILED))
    log.info("the second line")
    progress.close()

    screen = terminal.screen()
    assert any(line.endswith(" WARNING job 1 (row 2) failed on minimax: content policy")
               and line.startswith("20") for line in screen), screen
    assert any(line.endswith(" INFO the second line") and line.startswith("20") for line in screen), screen
    # the bar is drawn again after each log line, on a line of its own, until it closes
    assert "1/4" in screen[-2] and "failed=1" in screen[-2], screen


def test_the_handlers_are_given_back_when_the_bar_closes(monkeypatch):
    _terminal(monkeypatch)
    before = list(log.handlers)
    progress = Progress(2, clock=_Clock())
    assert log.handlers != before  # redirected through tqdm.write while the bar is shown
    progress.close()
    progress.close()
    assert log.handlers == before


def test_the_bar_shows_submitted_in_flight_succeeded_failed_and_unknown(monkeypatch):
    terminal = _terminal(monkeypatch)
    progress = Progress(6, 1, in_flight=["old"], clock=_Clock())  # one final, one in flight from an earlier run
    for job_id in ("a", "b", "c"):
        progress.submitted(job_id)
    progress.finished(JobRecord(job_id="a", status=JobStatus.SUCCEEDED, cost_usd=0.28))
    progress.finished(JobRecord(job_id="old", status=JobStatus.SUCCEEDED, cost_usd=0.28))
    progress.finished(JobRecord(job_id="d", status=JobStatus.UNKNOWN))  # its submit answer was lost: never in flight
    progress.close()
    bar = [line for line in terminal.screen() if line][-1]  # the bar as it stays on the screen
    assert "4/6" in bar
    assert "submitted=3 in_flight=2 succeeded=2 failed=0 unknown=1 $0.56" in bar, bar


def test_the_cron_line_shows_the_counts_every_interval(monkeypatch, caplog):
    monkeypatch.setattr("sys.stdout", _Terminal())  # a terminal, but the log is not one
    clock = _Clock()
    progress = Progress(3, every_s=10.0, stream=type("Pipe", (_Terminal,), {"isatty": lambda self: False})(),
                        clock=clock)
    assert progress.bar is None
    caplog.set_level(logging.INFO, logger="batch_runner")
    progress.submitted("a")
    progress.submitted("b")
    progress.tick()
    assert not caplog.records  # not yet ten seconds
    clock.now += 10.0
    progress.tick()
    progress.finished(JobRecord(job_id="a", status=JobStatus.FAILED))  # within the interval: no line
    clock.now += 10.0
    progress.finished(JobRecord(job_id="c", status=JobStatus.SKIPPED_BUDGET))
    progress.close()
    lines = [r for r in caplog.records if getattr(r, "event", None) == "progress"]
    assert [r.getMessage() for r in lines] == [
        "progress: 0/3 jobs final; this run: submitted=2 in_flight=2 succeeded=0 failed=0 unknown=0;"
        " $0.00 + 0 credits spent",
        "progress: 2/3 jobs final; this run: submitted=2 in_flight=1 succeeded=0 failed=1 unknown=0"
        " skipped_budget=1; $0.00 + 0 credits spent",
    ]
    assert (lines[-1].submitted, lines[-1].in_flight, lines[-1].failed, lines[-1].unknown) == (2, 1, 1, 0)


def test_a_job_that_ends_again_is_counted_once_under_its_last_status():
    # it ended unknown, then a late push's task was adopted and succeeded (run/adoption.py)
    progress = Progress(2, 0, enabled=True, stream=_Terminal(), bar=False)
    progress.finished(JobRecord(job_id="a", status=JobStatus.UNKNOWN))
    progress.finished(JobRecord(job_id="b", status=JobStatus.SUCCEEDED, cost_usd=0.28))
    progress.finished(JobRecord(job_id="a", status=JobStatus.SUCCEEDED, cost_usd=0.28))
    assert progress.done == 2
    assert progress.counts()["succeeded"] == 2 and progress.counts()["unknown"] == 0
