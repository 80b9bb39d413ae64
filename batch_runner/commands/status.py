"""``batch-runner status JOURNAL``: jobs of a journal per status, whether a run uses it now,
and a shared journal's workers (exit 2 when there is no journal).
"""

from __future__ import annotations

import click

from batch_runner.commands.options import EXIT_USAGE, campaign_option, fail
from batch_runner.errors import ConfigError

__all__ = ["status"]


@click.command()
@click.argument("state", metavar="JOURNAL")
@campaign_option
def status(state: str, campaign: str | None = None) -> None:
    """Show how many jobs of a journal are done, in flight, failed, unknown, pending
    (a shared journal: also its workers, their leases and last heartbeat)."""
    from batch_runner.app import journal_counts

    try:
        counts, busy, workers = journal_counts(state, campaign)
    except ConfigError as exc:
        fail(exc, EXIT_USAGE)
    line = " ".join(f"{k}={v}" for k, v in counts.items())
    click.echo(f"{line}  (a run is using this journal now)" if busy else line)
    for worker in workers:
        click.echo(worker)
