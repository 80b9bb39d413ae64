"""``batch-runner results JOURNAL -o FILE``: the results CSV or workbook rebuilt from the
journal alone (exit 2 for a missing journal or an output that cannot be written).
"""

from __future__ import annotations

from pathlib import Path

import click

from batch_runner.commands.options import EXIT_USAGE, campaign_option, fail
from batch_runner.errors import ConfigError

__all__ = ["results"]


@click.command()
@click.argument("state", metavar="JOURNAL")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="The results CSV, or an Excel workbook (.xlsx), to write.")
@campaign_option
def results(state: str, output: Path, campaign: str | None = None) -> None:
    """Rebuild the results CSV (or workbook, .xlsx) from the journal alone (a file, or a postgresql:// URL)."""
    from batch_runner.app import rebuild_results
    from batch_runner.journal.postgres import is_database_url
    from batch_runner.output.paths import check_outputs, results_output

    try:
        check_outputs([results_output(output)], {} if is_database_url(state) else {"the journal": Path(state)})
        n = rebuild_results(state, output, campaign)
    except ConfigError as exc:
        fail(exc, EXIT_USAGE)
    click.echo(f"{output}: {n} rows")
