"""The ``batch-runner`` command line (click). It parses options and calls the library.

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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from batch_runner.commands.cancel import cancel as cancel_command
from batch_runner.commands.check_callback import check_callback
from batch_runner.commands.deliver import deliver
from batch_runner.commands.init import init
from batch_runner.commands.journal_rebuild import rebuild
from batch_runner.commands.options import (
    EXIT_LOCKED,
    EXIT_USAGE,
    campaign_option,
    fail,
    map_option,
    old_name_of,
    outside_option,
    private_option,
    rows_option,
    set_option,
    settings_option,
    sheet_option,
    simulate_option,
    strict_option,
)
from batch_runner.commands.receive import receive
from batch_runner.commands.review import review
from batch_runner.commands.run import run
from batch_runner.errors import (
    BatchRunnerError,
    ConfigError,
    ManifestError,
    StateLockedError,
    world_fault,
)
from batch_runner.keys import has_key, load_env_file
from batch_runner.words import count

if TYPE_CHECKING:
    from batch_runner.jobs.selection import RowSelection

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


@main.command()
@click.argument("manifest", type=click.Path(path_type=Path))
@set_option
@map_option
@simulate_option
@sheet_option
@outside_option
@rows_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--canary/--no-canary", default=True, show_default=True,
              help="Count the canary's time (the first job of a provider on first contact goes alone).")
@settings_option
def plan(manifest: Path, sets: tuple[str, ...], simulate: bool, sheet: str | None, allow_outside_paths: bool,
         fmt: str, maps: tuple[str, ...] = (), rows: RowSelection | None = None, canary: bool = True,
         settings_file: Path | None = None) -> None:
    """Show jobs, videos, credits, USD and estimated time per provider, and
    each auto job's provider; no network, no key needed (exit 2 if invalid)."""
    import json

    from batch_runner.app import RunRequest, plan_manifest

    try:
        result, loaded = plan_manifest(RunRequest(manifest=manifest, sets=list(sets), simulate=simulate,
                                                  sheet=sheet, allow_outside_paths=allow_outside_paths,
                                                  maps=list(maps), rows=rows, canary=canary,
                                                  settings_file=settings_file))
    except (ManifestError, ConfigError) as exc:
        fail(exc, EXIT_USAGE)
    for warning in loaded.warnings:
        click.echo(str(warning), err=True)
    if fmt == "json":
        click.echo(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo("\n".join(result.lines()))


@main.command()
@click.argument("manifest", type=click.Path(path_type=Path))
@set_option
@map_option
@simulate_option
@outside_option
@sheet_option
@strict_option
@click.option("--check-urls", is_flag=True,
              help="Also fetch each remote image (HEAD, then its header) and check it against the limits.")
@private_option
def validate(manifest: Path, sets: tuple[str, ...], simulate: bool, allow_outside_paths: bool,
             sheet: str | None, strict: bool, check_urls: bool, maps: tuple[str, ...] = (),
             allow_private_urls: bool = False) -> None:
    """Check MANIFEST without any network; print every problem (exit 2 if invalid)."""
    import asyncio

    from batch_runner.app import RunRequest, load_jobs

    request = RunRequest(manifest=manifest, sets=list(sets), simulate=simulate, sheet=sheet, strict=strict,
                         allow_outside_paths=allow_outside_paths, maps=list(maps))
    try:
        jobs, loaded = load_jobs(request)
        if check_urls:
            from batch_runner.run.image_urls import check_urls as check
            from batch_runner.run.image_urls import image_uses

            found = asyncio.run(check(image_uses(jobs, loaded.rows), allow_private=allow_private_urls))
            if found:
                raise ManifestError(loaded.warnings + found)
    except ManifestError as exc:
        fail(exc, EXIT_USAGE)
    for warning in loaded.warnings:
        click.echo(str(warning), err=True)
    by_provider: dict[str, int] = {}
    for job in jobs:
        by_provider[job.provider] = by_provider.get(job.provider, 0) + 1
    detail = ", ".join(f"{n} on {p}" for p, n in by_provider.items())
    click.echo(f"{manifest}: valid, {count(len(loaded.rows), 'row')}, {count(len(jobs), 'job')} ({detail})")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@click.option("--generation-s", default=5.0, show_default=True,
              help="Seconds each simulated task takes.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--knob", "knobs", multiple=True, metavar="PROVIDER.FIELD=VALUE",
              help="A simulator knob, e.g. apiframe.rpm=5, all.error_rate=0.1, "
                   "gccai.balance=3, minimax.retry_after_s=2 (manual: docs/simulator.md).")
@click.option("--set", "old_knobs", multiple=True, metavar="PROVIDER.FIELD=VALUE", hidden=True,
              callback=old_name_of("--knob"), help="Old name of --knob.")
def simulate(host: str, port: int, generation_s: float, seed: int, knobs: tuple[str, ...],
             old_knobs: tuple[str, ...]) -> None:
    """Serve the simulator of every provider, e.g. for curl or real-mode runs."""
    from batch_runner.simulator import make_config, serve

    try:
        config = make_config([*old_knobs, *knobs], generation_s=generation_s, seed=seed)
    except ValueError as exc:
        fail(exc, EXIT_USAGE)
    try:
        serve(config, host, port, echo=click.echo)
    except OSError as exc:  # a busy port, an address that is not this machine's, an unknown host name
        reason = exc.strerror or str(exc)
        fail(ConfigError(f"cannot serve the simulator on {host}:{port}: {reason} "
                          "(another simulator running? choose another --port or --host)"), EXIT_USAGE)


@main.command()
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


@main.command()
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


@main.group()
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


journal.add_command(rebuild)


@main.command()
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


@main.command("contact-sheet")
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


@main.command()
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


@main.command()
@click.argument("manifest", type=click.Path(path_type=Path), required=False)
@set_option
@map_option
@settings_option
@sheet_option
@outside_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="json: one object per provider, for scripts.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True), default=10.0,
              show_default=True, help="Seconds each step (DNS, connect, key check) may take per provider.")
def check(manifest: Path | None, sets: tuple[str, ...], sheet: str | None, allow_outside_paths: bool, fmt: str,
          timeout_s: float, maps: tuple[str, ...] = (), settings_file: Path | None = None) -> None:
    """Check each provider at no cost: base URL, DNS, connection, API, key, clock.

    Without MANIFEST: every provider with a key; with one: the providers its jobs
    need, fallbacks included. Exit 0 when every one is usable, 1 otherwise."""
    import asyncio
    import json

    from batch_runner.app import RunRequest, load_jobs, load_settings_file
    from batch_runner.catalog.facts import catalog
    from batch_runner.catalog.settings import merge_overrides, resolve_settings
    from batch_runner.preflight import check_providers, exit_status, render_table

    try:  # the same overrides a run uses: the --settings file, then the manifest's providers:
        overrides = load_settings_file(settings_file) if settings_file else None
    except ConfigError as exc:
        fail(exc, EXIT_USAGE)
    if manifest is None:
        names = [n for n, info in catalog().items() if has_key(info.key_env, os.environ)]
    else:
        request = RunRequest(manifest=manifest, sets=list(sets), sheet=sheet, allow_outside_paths=allow_outside_paths,
                             maps=list(maps))
        try:
            jobs, loaded = load_jobs(request, need_keys=False)
        except (ManifestError, ConfigError) as exc:
            fail(exc, EXIT_USAGE)
        needed = {p for job in jobs for p in job.providers}
        names = [n for n in catalog() if n in needed]
        overrides = merge_overrides(overrides, loaded.provider_settings)
    settings = resolve_settings(overrides, os.environ)
    results = asyncio.run(check_providers(settings, names, timeout_s=timeout_s))
    if manifest is not None:  # a provider usable now: its remembered failed canary is forgotten
        from batch_runner.app import default_journal_path
        from batch_runner.run.canary import forget_failures

        path = default_journal_path(manifest)
        for name in forget_failures(path, {r.name for r in results if r.usable}):
            click.echo(f"{name}: usable now: the next run sends it a canary again (the failed canary "
                       f"{path} remembered is forgotten)", err=True)
    if fmt == "json":
        from batch_runner.keys import redact

        out = {"usable": exit_status(results) == 0, "providers": [r.as_dict() for r in results]}
        click.echo(redact(json.dumps(out, indent=2, ensure_ascii=False)))
    else:
        click.echo("\n".join(render_table(results)))
    sys.exit(exit_status(results))


main.add_command(init)
main.add_command(run)
main.add_command(cancel_command)
main.add_command(deliver)
main.add_command(check_callback)
main.add_command(receive)
main.add_command(review)
