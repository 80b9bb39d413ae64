"""Progress while a run goes: a tqdm bar on a terminal, a log line otherwise.

Both show jobs final / total, then this run's counts: submitted (task ids
received), in flight (task ids not final yet), succeeded, failed, unknown
(skipped_budget when any), and the cost spent. While the bar is shown, log
records of the ``batch_runner`` logger go through ``tqdm.write``
(``tqdm.contrib.logging``), so a log line never lands glued to the bar. When
stdout is not a terminal (cron), the line is logged every ``every_s`` seconds.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterable
from typing import TextIO

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from batch_runner.journal import FINAL_STATUSES, JobRecord
from batch_runner.words import count

__all__ = ["Progress"]

log = logging.getLogger("batch_runner")



class Progress:
    """The counts of one run, drawn as a bar or logged as a line.

    ``total``: jobs of the manifest; ``done``: already final when the run
    starts; ``in_flight``: job ids whose task is in flight at the start (to
    poll again). ``bar``: False logs lines even on a terminal (JSON logs);
    ``enabled``: False logs nothing (``--quiet``); ``every_s``: seconds between
    two lines off a terminal; ``clock``: monotonic seconds (tests pass a fake).
    The hooks: ``submitted(job_id)`` when a task id is recorded,
    ``finished(record)`` when a job is final, ``tick()`` periodically.
    """

    def __init__(self, total: int, done: int = 0, *, in_flight: Iterable[str] = (),
                 stream: TextIO | None = None, every_s: float = 10.0, enabled: bool = True,
                 bar: bool = True, clock: Callable[[], float] = time.monotonic):
        self.stream = stream or sys.stderr
        self.total, self.done = total, done
        self.submitted_count = 0
        self.by_status: dict[str, int] = {str(s): 0 for s in FINAL_STATUSES}
        self._flying = set(in_flight)
        self._ended: dict[str, str] = {}  # job id -> the status it ended with in this run
        self.usd, self.credits = 0.0, 0.0
        self.note = ""
        self.every_s = every_s
        self._clock = clock
        self._last = clock()
        tty = enabled and bar and sys.stdout.isatty() and self.stream.isatty()
        self.enabled = enabled
        self._redirect = contextlib.ExitStack()
        self.bar = None
        if tty:
            self.bar = tqdm(total=total, initial=done, unit="job", file=self.stream, dynamic_ncols=True)
            self.bar.set_postfix_str(self._postfix(), refresh=False)
            self._redirect.enter_context(logging_redirect_tqdm([log]))

    @property
    def failed(self) -> int:
        """Jobs of this run that ended ``failed``."""
        return self.by_status["failed"]

    @property
    def in_flight(self) -> int:
        """Tasks submitted (this run or an earlier one) and not final yet."""
        return len(self._flying)

    def counts(self) -> dict[str, int]:
        """This run's counts: ``submitted``, ``in_flight``, ``succeeded``,
        ``failed``, ``unknown`` (and ``skipped_budget``, ``cancelled`` when any)."""
        rare = ("skipped_budget", "cancelled")
        out = {"submitted": self.submitted_count, "in_flight": self.in_flight,
               **{s: n for s, n in self.by_status.items() if s not in rare}}
        for status in rare:
            if self.by_status[status]:
                out[status] = self.by_status[status]
        return out

    def _counts_text(self) -> str:
        return " ".join(f"{k}={n}" for k, n in self.counts().items())

    def submitted(self, job_id: str) -> None:
        """The task id of job ``job_id`` was recorded: it is in flight."""
        self.submitted_count += 1
        self._flying.add(job_id)
        if self.bar is not None:
            self.bar.set_postfix_str(self._postfix())

    def finished(self, record: JobRecord) -> None:
        """One job reached a final state (its journal ``record``). A job that ends
        again (``unknown``, then its task adopted from a late push: run/adoption.py)
        is counted once, under its last status."""
        self._flying.discard(record.job_id)
        status = str(record.status)
        again = self._ended.get(record.job_id)
        if again is not None:
            self.by_status[again] -= 1
        else:
            self.done += 1
        self._ended[record.job_id] = status
        self.by_status[status] = self.by_status.get(status, 0) + 1
        self.usd += record.cost_usd or 0.0
        self.credits += record.cost_credits or 0.0
        if self.bar is not None:
            self.bar.set_postfix_str(self._postfix(), refresh=False)
            self.bar.update(0 if again is not None else 1)
        else:
            self._maybe_log()

    def set_note(self, note: str) -> None:
        """A state shown beside the counts (e.g. stopping: polling tasks in flight);
        without a bar it is logged as a warning, so ``--quiet`` shows it too."""
        self.note = note
        if self.bar is not None:
            self.bar.set_postfix_str(self._postfix())
        else:
            log.warning("%s", note)

    def _postfix(self) -> str:
        text = f"{self._counts_text()} ${self.usd:.2f} {self.credits:g}cr"
        return f"{text} | {self.note}" if self.note else text

    def tick(self) -> None:
        """Called every ``every_s`` seconds while the run goes: the log line is
        periodic even while no job finishes (tasks take minutes); a bar is
        redrawn (its elapsed time)."""
        if self.bar is not None:
            self.bar.refresh()
        elif self.enabled and self._clock() - self._last >= self.every_s * 0.999:
            self._log()

    def _maybe_log(self) -> None:
        now = self._clock()
        if self.enabled and (now - self._last >= self.every_s or self.done == self.total):
            self._log()

    def _log(self) -> None:
        self._last = self._clock()
        counts = self.counts()
        log.info("progress: %d/%s final; this run: %s; $%.2f + %g credits spent",
                 self.done, count(self.total, "job"), self._counts_text(), self.usd, self.credits,
                 extra={"event": "progress", "done": self.done, "total": self.total, **counts})

    def close(self) -> None:
        """Close the bar and give the log handlers back (safe to call twice)."""
        if self.bar is not None:
            self.bar.close()
        self._redirect.close()
