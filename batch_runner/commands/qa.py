"""``batch-runner qa RESULTS``: probe and QA the saved videos of a results file again and
rewrite it with the verdicts (exit statuses: the command's docstring).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from batch_runner.commands.options import EXIT_LOCKED, EXIT_USAGE, fail
from batch_runner.errors import ConfigError, StateLockedError

__all__ = ["qa"]


@click.command()
@click.argument("results_csv", type=click.Path(path_type=Path, dir_okay=False), metavar="RESULTS")
@click.option("--journal", type=click.Path(path_type=Path, dir_okay=False), default=None, metavar="PATH",
              help="The campaign's journal. Default: found beside RESULTS (<manifest>.journal.sqlite).")
@click.option("--settings", "settings_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              metavar="FILE.yaml", help="QA thresholds: a YAML file with a qa: mapping "
                                        "(manual: docs/deliverables.md#video-qa); default: those the run used.")
def qa(results_csv: Path, journal: Path | None, settings_file: Path | None) -> None:
    """Probe and QA the saved videos of a results CSV again; rewrite it with the verdicts.

    Exit 0 when every video checked passed (or only warned), 1 when one failed QA
    or its saved file is gone, 2 when there is nothing to check or RESULTS is not one."""
    from batch_runner.app import load_settings_file
    from batch_runner.output.qa_command import run_qa
    from batch_runner.output.video_qa import settings_file_qa

    try:
        if settings_file is not None:
            load_settings_file(settings_file)  # its schema, qa: included
        done = run_qa(results_csv, journal, settings_file_qa(settings_file))
    except ConfigError as exc:
        fail(exc, EXIT_USAGE)
    except StateLockedError as exc:
        fail(exc, EXIT_LOCKED)
    click.echo("\n".join(done.lines))
    sys.exit(1 if done.failed or done.missing else 0)
