"""Tell the team how a run went (``run --notify URL``, repeatable), with apprise.

Each URL is an apprise URL (``slack://...``, ``msteams://...``, ``mailto://...``,
``ntfy://...``, ``json://host:port/path`` ...; https://github.com/caronc/apprise/wiki).
At the end of the run, one digest (``Digest``): campaign, jobs by status, the
spend of this run and of the campaign, QA failures, ``unknown`` jobs that need a
person, the plan's time against the real time, and links to the delivered files.
Besides, at most one message per run and per kind (``Notifier.alert``): a budget
cap stopped submits, a provider's canary failed (its breaker is open), the run
ended with exit status 70. ``--notify-on failure`` sends the digest only when the
run's exit status is not 0 (the alerts are sent either way); ``always`` (the
default) sends it after every run, so a cron job's silence means it did not run.

A notification that cannot be sent is a warning; the run's exit status stays that
of its jobs. No key, password or credential of a URL (user info, query string) is
ever in a message: keys seen by this process are masked, URLs shown bare.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from batch_runner.defaults import NOTIFY_ON
from batch_runner.keys import redact
from batch_runner.logs import event

__all__ = ["NOTIFY_ON", "Digest", "Notifier", "bare_url", "crash_notice"]

log = logging.getLogger(__name__)

_ARMED: list[Notifier] = []  # the notifier of the run in progress, for crash_notice


def bare_url(url: str) -> str:
    """``url`` without user info, query or fragment (where credentials and presigned signatures live)."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return url
    host = (parts.hostname or "") if parts.port is None else f"{parts.hostname}:{parts.port}"
    return urlunsplit((parts.scheme, host,
                       parts.path, "", ""))


def _money(usd: float | None) -> str:
    return "unknown" if usd is None else f"${usd:,.2f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    minutes, s = divmod(round(seconds), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours}h{m:02d}m{s:02d}s" if hours else f"{m}m{s:02d}s" if m else f"{s}s"


@dataclass
class Digest:
    """The end-of-run message. ``by_status``: jobs per status (the campaign's);
    ``run_usd`` / ``campaign_usd``: USD spent by this run / by the campaign (every
    attempt counted; None: a price unknown); ``plan_s`` / ``wall_s``: the plan's
    time and the real time of this run, seconds; ``links``: name -> URL."""

    campaign: str
    exit_status: int
    by_status: Mapping[str, int]
    run_usd: float | None
    campaign_usd: float | None
    qa_failed: int = 0
    unknown: int = 0
    plan_s: float | None = None
    wall_s: float = 0.0
    links: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the run ended with exit status 0."""
        return self.exit_status == 0

    def title(self) -> str:
        """One line: the campaign and how it ended."""
        word = "done" if self.ok else f"needs attention (exit {self.exit_status})"
        return f"batch-runner: {self.campaign} {word}"

    def body(self) -> str:
        """The digest's lines."""
        counts = ", ".join(f"{n} {s}" for s, n in sorted(self.by_status.items()) if n) or "no jobs"
        lines = [f"campaign: {self.campaign}", f"jobs: {counts}",
                 f"spend: {_money(self.run_usd)} this run, {_money(self.campaign_usd)} for the campaign",
                 f"QA failed: {self.qa_failed}",
                 f"unknown (need a person: possibly paid, no task id): {self.unknown}",
                 f"time: {_duration(self.wall_s)} (plan: {_duration(self.plan_s)})",
                 f"exit status: {self.exit_status}"]
        lines += [f"{name}: {bare_url(url)}" for name, url in self.links.items()]
        return "\n".join(lines)


class Notifier:
    """Sends messages to ``urls`` (apprise URLs) with apprise. ``on``: ``always``
    or ``failure`` (see the module docstring). ``sent`` / ``failed``: messages
    sent / not sent; ``kinds``: the alert kinds sent in this run."""

    def __init__(self, urls: Sequence[str], on: str = "always") -> None:
        import apprise

        self.on = on
        self.sent = 0
        self.failed = 0
        self.kinds: set[str] = set()
        self._apprise = apprise.Apprise()
        self._bad = [u for u in urls if not self._apprise.add(u)]
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def unreadable(self) -> list[str]:
        """The URLs apprise does not know, shown bare (checked before the run sends anything)."""
        return [bare_url(u) for u in self._bad]

    def arm(self) -> None:
        """Make this the notifier ``crash_notice`` uses until ``disarm``."""
        _ARMED[:] = [self]

    def disarm(self) -> None:
        """Forget this notifier for ``crash_notice``."""
        if self in _ARMED:
            _ARMED.remove(self)

    async def send(self, title: str, body: str) -> bool:
        """Send one message to every URL; False (and a warning) when one failed. Never raises."""
        title, body = redact(title), redact(body)
        try:
            ok = bool(await self._apprise.async_notify(body=body, title=title))
        except Exception as exc:  # apprise's plugins raise their own errors: a warning, never a failed run
            ok = False
            log.debug("apprise: %s", exc)
        if ok:
            self.sent += 1
        else:
            self.failed += 1
            event("notify_failed", "notification not sent (%s): check the --notify URL and that its service "
                  "is reachable; the run's result is not changed", title, level=logging.WARNING)
        return ok

    def alert(self, kind: str, text: str) -> None:
        """Send ``text`` now, in the background, unless an alert of ``kind`` was sent in this run."""
        if kind in self.kinds:
            return
        self.kinds.add(kind)
        task = asyncio.get_running_loop().create_task(self._send_none(f"batch-runner: {kind}", text))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_none(self, title: str, body: str) -> None:
        await self.send(title, body)

    async def finish(self, digest: Digest, alerts: Iterable[tuple[str, str]] = ()) -> None:
        """Send the alerts not sent yet (kind, text), wait for those in flight, then the digest (per ``on``)."""
        for kind, text in alerts:
            self.alert(kind, text)
        if self._tasks:
            await asyncio.gather(*list(self._tasks))
        if self.on == "always" or not digest.ok:
            await self.send(digest.title(), digest.body())
        self.disarm()


def crash_notice(text: str) -> None:
    """Tell the armed notifier (a run in progress) that the run ends with exit status 70. Never raises."""
    if not _ARMED:
        return
    notifier = _ARMED.pop()
    if "exit 70" in notifier.kinds:
        return
    notifier.kinds.add("exit 70")
    try:
        asyncio.run(notifier.send("batch-runner: exit 70", f"the run stopped on an unexpected error: {text}"))
    except Exception as exc:  # e.g. called inside a running loop: a warning at most
        log.warning("notification of exit 70 not sent: %s", exc)


def spent(records: Iterable[Any], since: float | None = None) -> float | None:
    """USD spent by ``records`` (JobRecord-like: ``cost_usd``, ``rerolled_usd``,
    ``finished_at``, ``charged``), every attempt counted; only those finished at or
    after ``since`` (unix seconds) when given. None when a charged job's price is unknown."""
    total, unknown = 0.0, False
    for r in records:
        if since is not None and (r.finished_at or 0) < since:
            continue
        total += r.rerolled_usd or 0.0
        if r.cost_usd is not None:
            total += r.cost_usd
        elif r.charged:
            unknown = True
    return None if unknown and total == 0 else round(total, 6)
