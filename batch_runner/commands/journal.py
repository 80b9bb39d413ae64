"""``batch-runner journal copy|rebuild``: work on journals themselves. ``copy`` moves a
campaign between SQLite and PostgreSQL (exit 2 bad input, 3 the journal is in use);
``rebuild`` builds one from a results file
(commands/journal_rebuild.py; exit 2 bad input, 3 the journal is in use).
"""

from __future__ import annotations

from pathlib import Path

import click

from batch_runner.commands.options import EXIT_LOCKED, EXIT_USAGE, fail
from batch_runner.errors import ConfigError, StateLockedError

__all__ = ["journal"]


@click.group()
def journal() -> None:
    """Work on journals themselves (copy a campaign between SQLite and PostgreSQL, rebuild one from results)."""


@journal.command("copy")
@click.argument("src", metavar="SRC")
@click.argument("dst", metavar="DST")
@click.option("--campaign", default=None, metavar="NAME",
              help="SRC is a database: the campaign to copy (default: its only campaign).")
@click.option("--to-campaign", default=None, metavar="NAME",
              help="DST is a database: the campaign's name there (default: the source's, or the "
                   "SQLite file's manifest name, e.g. launch.yaml for launch.yaml.journal.sqlite).")
def journal_copy(src: str, dst: str, campaign: str | None, to_campaign: str | None) -> None:
    """Copy every record of a journal SRC into DST (each a file or a postgresql:// URL; DST must hold no job)."""
    from batch_runner.journal.copy import copy_journal

    try:
        copied = copy_journal(src, dst, campaign, to_campaign)
    except StateLockedError as exc:
        fail(exc, EXIT_LOCKED)
    except ConfigError as exc:
        fail(exc, EXIT_USAGE)
    words = {"qa": "QA verdicts", "download_intents": "download intents", "attempts": "earlier attempts"}
    click.echo("copied " + ", ".join(f"{n} {words.get(table, table)}" for table, n in copied.items()))


@journal.command("rebuild")
@click.argument("results_file", type=click.Path(path_type=Path, dir_okay=False), metavar="RESULTS")
@click.option("--journal", "target", default=None, metavar="PATH|URL",
              help="The journal to build (a new file, or a postgresql:// URL). Default: the one `run` uses "
                   "for RESULTS written by default, <manifest>.journal.sqlite beside it.")
@click.option("--campaign", default=None, metavar="NAME",
              help="--journal is a database: the campaign's name there (default: the manifest's file name).")
def rebuild(results_file: Path, target: str | None, campaign: str | None) -> None:
    """Build a journal from a results file (CSV or .xlsx), so the next run polls the
    task ids it lists instead of submitting, and paying for, those jobs again."""
    from batch_runner.commands.journal_rebuild import rebuild_journal
    from batch_runner.journal import JobStatus

    # a StateLockedError (3) or ConfigError (2): cli.py's one place says it and exits
    name, counts = rebuild_journal(results_file, target, campaign)
    saved = counts.pop("saved")
    flying = counts.pop(str(JobStatus.SUBMITTED), 0)
    others = "".join(f", {n} {word}" for word, n in sorted(counts.items()))
    click.echo(f"{name}: {flying} in flight (polled by the next run, not submitted again){others}; "
               f"{saved} saved video(s) recorded")
