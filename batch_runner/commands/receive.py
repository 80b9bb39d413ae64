"""``batch-runner receive --journal URL --campaign NAME --listen HOST:PORT``: the
callback receiver as its own service, for a campaign in a shared PostgreSQL journal
(commands/receive_hub.py: what it checks and records; manual: docs/callbacks.md).

Exit 0 when stopped (Ctrl-C, SIGTERM), 2 for bad options or a journal that
cannot be used.
"""

from __future__ import annotations

import click

from batch_runner.errors import ConfigError

__all__ = ["receive"]


@click.command("receive")
@click.option("--journal", "journal_url", required=True, metavar="URL",
              help="The campaign's shared journal, postgresql://USER@HOST/DB.")
@click.option("--campaign", required=True, metavar="NAME",
              help="The campaign's name in the journal (as the workers' --campaign, else their manifest's file name).")
@click.option("--listen", default="127.0.0.1:8787", show_default=True, metavar="HOST:PORT",
              help="Where the receiver listens.")
def receive(journal_url: str, campaign: str, listen: str) -> None:
    """Receive the campaign's callback pushes for every worker, recording them in the shared journal."""
    import asyncio

    from batch_runner.commands.receive_hub import serve

    try:
        hub = asyncio.run(serve(journal_url, campaign, listen))
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(2) from None
    click.echo("stopped; " + (", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(hub.counts.items()))
                              or "no push came"), err=True)
