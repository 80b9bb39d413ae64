"""``batch-runner report RESULTS``: the self-contained HTML report of a results file
(exit 2 for a file that is not results or an output that cannot be written).
"""

from __future__ import annotations

from pathlib import Path

import click

from batch_runner.commands.options import EXIT_USAGE, fail
from batch_runner.errors import ConfigError
from batch_runner.words import count

__all__ = ["report"]


@click.command()
@click.argument("results_csv", type=click.Path(path_type=Path, dir_okay=False))
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=Path("report.html"),
              show_default=True, help="HTML file to write.")
@click.option("--title", default=None, help="Page title (default: from the results file name).")
def report(results_csv: Path, output: Path, title: str | None) -> None:
    """Write a self-contained HTML report (videos, posters, failures, QA, costs) of a results CSV or workbook."""
    from batch_runner.output.paths import check_outputs, report_output
    from batch_runner.output.report import write_report

    try:
        check_outputs([report_output(output, "-o")], {"the results CSV": results_csv})
        n = write_report(results_csv, output, title)
    except ConfigError as exc:
        fail(exc, EXIT_USAGE)
    click.echo(f"{output}: {count(n, 'job')}")
