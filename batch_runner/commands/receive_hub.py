"""The callback receiver as its own service (``batch-runner receive``, commands/receive.py),
for a campaign in a shared PostgreSQL journal.

Every worker of the campaign runs with ``--callback-url`` pointing at this
service's public URL and ``--callback-listen none``. The service checks each
push as a run's own receiver does (size, campaign, the path's HMAC token with
the campaign's ``callback_secret`` from the journal, a rate per client address),
answers MiniMax's challenge at once from memory, and records each accepted push
in the journal (table ``pushes``, committed before it answers 200); each worker
reads that table every backstop tick and acts on the pushes of the jobs it
holds (run/callbacks.py ``CallbackHub.follow_journal``). An apiframe signature
is checked by the worker, which holds the key; this service never sees a key.

Exit 0 when stopped (Ctrl-C, SIGTERM), 2 for bad options or a journal that
cannot be used. Manual: docs/callbacks.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

import click
from aiohttp import web

from batch_runner.errors import ConfigError
from batch_runner.journal.postgres import PgJournal, is_database_url, safe_url
from batch_runner.run.callbacks import CallbackHub, callback_secret, listen_on

__all__ = ["JournalHub", "serve"]


class JournalHub(CallbackHub):
    """A CallbackHub that watches no job itself: every push on a valid path of the
    campaign is recorded in ``journal`` (``record_push``) for the workers to read;
    ``counts['recorded']`` counts them."""

    def __init__(self, public_url: str, journal: PgJournal):
        super().__init__(public_url, journal.campaign, callback_secret(journal))
        self.journal = journal

    async def deliver(self, job_id: str, attempt: int, body: bytes, signature: str | None) -> web.Response:
        """Record the push (committed), then answer 200; 503 when the journal cannot
        take it (the provider retries, or the workers' polls find the task)."""
        try:
            await asyncio.to_thread(self.journal.record_push, job_id, attempt,
                                    body.decode("utf-8", "replace"), signature)
        except Exception:  # the database is away: not 200, so a provider that retries pushes again
            self.counts["not_recorded"] += 1
            return web.Response(status=503, headers={"Retry-After": "5"})
        self.counts["recorded"] += 1
        return web.json_response({"status": "success"})


async def serve(journal_url: str, campaign: str, listen: str,
                stop: asyncio.Event | None = None) -> JournalHub:
    """Receive for ``campaign`` of the journal at ``journal_url`` on ``listen``
    until ``stop`` is set (default: SIGINT / SIGTERM); returns the hub (its
    ``counts``). Raises ConfigError for bad options or a journal it cannot use."""
    if not is_database_url(journal_url):
        raise ConfigError(f"--journal {journal_url}: `receive` serves a shared journal: give its "
                          "postgresql://USER@HOST/DB URL (with a journal file, use run --callback-listen)")
    journal = PgJournal(journal_url, campaign, lock=False)
    try:
        hub = JournalHub(f"http://{listen}/", journal)
        stop = stop or _on_signals()
        await listen_on(hub, listen, "--listen")
        click.echo(f"receiving callbacks for campaign {campaign} of {safe_url(journal_url)} on {listen} "
                   "(Ctrl-C stops)", err=True)
        if not journal.counts():  # a mistyped name: every push would be refused as another campaign's
            click.echo(f"note: campaign {campaign} has no jobs in this journal yet; its name is the workers' "
                       "--campaign, else their manifest's file name", err=True)
        try:
            await stop.wait()
        finally:
            await hub.stop()
        return hub
    finally:
        journal.close()


def _on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop
