"""``batch-runner review RESULTS``: take a person's verdicts from a results file into the journal.

The ``review`` (approved / rejected / blank) and ``review_note`` columns of a
results CSV or workbook (output/review.py) are recorded by ``job_id``, each
against the video (task) its row shows. ``run`` does the same first when its
``-o`` file exists and holds verdicts (output/review.py ``take_reviews``), and
``run --reroll-rejected`` then submits each rejected job again.

Exit statuses: 0 taken (rows not matched are named, not fatal); 2 bad input (a
value that is not a verdict, a file that is not results, no journal found):
nothing recorded; 3 the journal is in use by a run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from batch_runner.errors import ConfigError

__all__ = ["find_journal", "review"]


def find_journal(results: Path) -> Path:
    """The journal of ``results`` when no ``--journal`` is given: beside the
    manifest ``X`` of a default results file ``X.results.csv`` (``X.journal.sqlite``,
    else ``X.simulate.journal.sqlite``), else the only ``*.journal.sqlite`` in
    its folder. Raises ConfigError naming what to pass when none or several."""
    name = results.name
    for suffix in (".results.csv", ".results.xlsx"):
        if name.endswith(suffix):
            manifest = results.with_name(name[: -len(suffix)])
            for kind in (".journal.sqlite", ".simulate.journal.sqlite"):
                if (found := manifest.with_name(manifest.name + kind)).is_file():
                    return found
    found_all = sorted(results.parent.glob("*.journal.sqlite"))
    if len(found_all) == 1:
        return found_all[0]
    said = ", ".join(p.name for p in found_all) if found_all else "none"
    raise ConfigError(f"{results}: which journal? pass --journal PATH (journals in its folder: {said})")


@click.command()
@click.argument("results", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--journal", "journal_at", default=None, metavar="PATH|URL",
              help="The campaign's journal (default: the one beside the manifest the results were made from).")
@click.option("--campaign", default=None, metavar="NAME", help="A shared journal: the campaign's name.")
def review(results: Path, journal_at: str | None, campaign: str | None) -> None:
    """Take the review and review_note columns of RESULTS (a results .csv or .xlsx a
    person filled in) into the journal: approved / rejected / blank, by job_id."""
    from batch_runner.journal.postgres import open_journal
    from batch_runner.output.review import take_reviews

    try:  # a StateLockedError (3) or ConfigError (2): cli.py's one place says it and exits
        with open_journal(journal_at or find_journal(results), campaign) as journal:
            lines = take_reviews(journal, results)
    except OSError as exc:
        click.echo(f"{results}: cannot read it ({exc.strerror or exc})", err=True)
        sys.exit(2)
    click.echo("\n".join(lines))
