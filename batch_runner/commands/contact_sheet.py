"""``batch-runner contact-sheet RESULTS``: one image of the posters of a results file's saved
videos, labelled (exit 2 for a file that is not results or an output that cannot be written).
"""

from __future__ import annotations

from pathlib import Path

import click

from batch_runner.commands.options import EXIT_USAGE, fail
from batch_runner.errors import ConfigError

__all__ = ["contact_sheet"]


@click.command("contact-sheet")
@click.argument("results_file", type=click.Path(path_type=Path, dir_okay=False), metavar="RESULTS")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("contact-sheet.png"), show_default=True, help="Image to write (.png or .jpg).")
@click.option("--by", default=None, metavar="COLUMN",
              help="Group the tiles by this column (e.g. a matrix: axis such as background), one row band each.")
@click.option("--columns", type=click.IntRange(1, 100), default=6, show_default=True, help="Tiles a row, at most.")
def contact_sheet(results_file: Path, output: Path, by: str | None, columns: int) -> None:
    """Write one image of the posters of a results file's saved videos (CSV or .xlsx), each
    labelled with name, variant, provider and QA verdict."""
    from batch_runner.output.contact_sheet import Layout, write_contact_sheet
    from batch_runner.output.paths import check_outputs, contact_sheet_output

    try:
        check_outputs([contact_sheet_output(output, "-o")], {"the results file": results_file})
        n = write_contact_sheet(results_file, output, by=by, layout=Layout(columns=columns))
    except ConfigError as exc:
        fail(exc, EXIT_USAGE)
    click.echo(f"{output}: {n} tiles")
