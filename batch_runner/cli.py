"""The ``batch-runner`` command line (click): the group, and one line per command
(each in batch_runner/commands/<name>.py, which parses its options and calls the library).

Exit statuses: 0 every job succeeded; 1 some job failed or is not final (or the
journal file was deleted, moved or replaced during the run), or the machine failed
mid-run (a full disk, the journal's database stopped, a results path replaced by a
folder: one line naming the cause and what to do, errors.world_fault);
2 invalid manifest or usage, or a path, journal or port that cannot be used
(nothing sent); 3 another run holds the journal; 4 the plan costs more than
--max-cost / --max-credits (nothing sent); 5 the plan was shown on a terminal
and not confirmed (nothing sent); 70 an unexpected error (a bug: one
line, the traceback with BATCH_RUNNER_DEBUG=1); 130 / 143 the run was stopped
by SIGINT / SIGTERM (results written, in-flight tasks kept). A run that took
only some jobs (--rows, --limit) exits with the status of the jobs it took.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from batch_runner.commands.cancel import cancel
from batch_runner.commands.check import check
from batch_runner.commands.check_callback import check_callback
from batch_runner.commands.contact_sheet import contact_sheet
from batch_runner.commands.deliver import deliver
from batch_runner.commands.init import init
from batch_runner.commands.journal import journal
from batch_runner.commands.plan import plan
from batch_runner.commands.qa import qa
from batch_runner.commands.receive import receive
from batch_runner.commands.report import report
from batch_runner.commands.results import results
from batch_runner.commands.review import review
from batch_runner.commands.run import run
from batch_runner.commands.simulate import simulate
from batch_runner.commands.status import status
from batch_runner.commands.validate import validate
from batch_runner.errors import BatchRunnerError, world_fault
from batch_runner.keys import load_env_file

__all__ = ["main"]


EXIT_SOFTWARE = 70  # sysexits.h EX_SOFTWARE: an error batch-runner did not expect
DEBUG_ENV = "BATCH_RUNNER_DEBUG"


class _Commands(click.Group):
    """The command group, with a last safety net: one place turns an error into
    an exit status. A BatchRunnerError is its message and its ``exit_status``; a
    fault of the machine (a full disk, the journal's server stopped: errors.world_fault)
    is one line naming the cause and what to do, exit status 1; any other exception
    is one line and exit status 70, a bug. ``BATCH_RUNNER_DEBUG=1`` lets the traceback through."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BatchRunnerError as exc:  # one that no command turned into its exit status itself
            if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
                raise
            click.echo(f"batch-runner: {exc}", err=True)
            ctx.exit(exc.exit_status)
        except Exception as exc:
            if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
                raise
            fault = world_fault(exc)
            if fault is not None:  # the machine's fault, not a bug: the cause and what to do
                click.echo(f"batch-runner: {fault}", err=True)
                ctx.exit(fault.exit_status)
            from batch_runner.keys import redact
            from batch_runner.keyscan import mask

            text = mask(redact(f"{type(exc).__name__}: {exc}")).replace("\n", " ")[:500]
            from batch_runner.output.notify import crash_notice

            crash_notice(text)  # --notify: the run's exit 70, told once
            click.echo(f"batch-runner: unexpected error: {text}. This is a bug: please report it to the "
                       f"batch-runner maintainers with the command you ran ({DEBUG_ENV}=1 shows the traceback)",
                       err=True)
            ctx.exit(EXIT_SOFTWARE)


@click.group(cls=_Commands)
@click.version_option(package_name="batch-runner")
def main() -> None:
    """Turn a campaign manifest into Hailuo 2.3 videos across six providers.

    API keys come from the environment, or from a .env file in the current folder.
    """
    from batch_runner.keys import redact
    from batch_runner.keyscan import MaskedStream, mask

    sys.stdout = MaskedStream.wrap(sys.stdout, redact)  # no message prints a key, whoever wrote it
    sys.stderr = MaskedStream.wrap(sys.stderr, mask)
    warning = load_env_file()
    if warning:
        click.echo(warning, err=True)


main.add_command(init)
main.add_command(run)
main.add_command(plan)
main.add_command(validate)
main.add_command(simulate)
main.add_command(status)
main.add_command(results)
main.add_command(journal)
main.add_command(report)
main.add_command(contact_sheet)
main.add_command(qa)
main.add_command(check)
main.add_command(cancel)
main.add_command(deliver)
main.add_command(check_callback)
main.add_command(receive)
main.add_command(review)
