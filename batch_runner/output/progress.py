"""Progress while a run goes: a tqdm bar on a terminal, a log line otherwise.

The bar shows jobs finished / total, failures and cost spent. When stdout is
not a terminal (cron), a short line is logged every ``every_s`` seconds instead.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

from tqdm import tqdm

from batch_runner.journal import JobRecord, JobStatus

__all__ = ["Progress"]

log = logging.getLogger("batch_runner")


class Progress:
    """Counts finished jobs; ``total`` jobs, ``done`` already final at start;
    ``bar``: False to log lines even on a terminal (JSON logs)."""

    def __init__(self, total: int, done: int = 0, *, stream: TextIO | None = None,
                 every_s: float = 10.0, enabled: bool = True, bar: bool = True):
        self.stream = stream or sys.stderr
        self.total, self.done, self.failed = total, done, 0
        self.usd, self.credits = 0.0, 0.0
        self.note = ""
        self.every_s = every_s
        self._last = time.monotonic()
        tty = enabled and bar and sys.stdout.isatty() and self.stream.isatty()
        self.enabled = enabled
        self.bar = tqdm(total=total, initial=done, unit="job", file=self.stream, dynamic_ncols=True) if tty else None

    def finished(self, record: JobRecord) -> None:
        """One job reached a final state (journal ``record``)."""
        self.done += 1
        if record.status != JobStatus.SUCCEEDED:
            self.failed += 1
        self.usd += record.cost_usd or 0.0
        self.credits += record.cost_credits or 0.0
        if self.bar is not None:
            self.bar.set_postfix_str(self._postfix(), refresh=False)
            self.bar.update(1)
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
        text = f"failed={self.failed} ${self.usd:.2f} {self.credits:g}cr"
        return f"{text} | {self.note}" if self.note else text

    def tick(self) -> None:
        """Called every ``every_s`` seconds while the run goes: the log line is
        periodic even while no job finishes (tasks take minutes); a bar is
        redrawn (its elapsed time)."""
        if self.bar is not None:
            self.bar.refresh()
        elif self.enabled and time.monotonic() - self._last >= self.every_s * 0.999:
            self._log()

    def _maybe_log(self) -> None:
        now = time.monotonic()
        if self.enabled and (now - self._last >= self.every_s or self.done == self.total):
            self._log()

    def _log(self) -> None:
        self._last = time.monotonic()
        log.info("progress: %d/%d jobs finished, %d failed, $%.2f + %g credits spent",
                     self.done, self.total, self.failed, self.usd, self.credits,
                     extra={"event": "progress", "done": self.done, "total": self.total, "failed": self.failed})

    def close(self) -> None:
        """Close the bar."""
        if self.bar is not None:
            self.bar.close()
