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

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from batch_runner.app import (
    CONFIRM_OVER_USD,
    EXIT_BUDGET,
    EXIT_FAILED,
    EXIT_LOCKED,
    EXIT_USAGE,
    RunRequest,
    default_output_path,
    dry_run_counts,
    execute,
    load_jobs,
)
from batch_runner.catalog.prices import describe_usd
from batch_runner.commands.cancel import cancel as cancel_command
from batch_runner.commands.check_callback import check_callback, with_callback_check
from batch_runner.commands.deliver import deliver, handoff_fields, run_handoff_options
from batch_runner.commands.init import init
from batch_runner.commands.journal_rebuild import rebuild
from batch_runner.commands.receive import receive
from batch_runner.commands.review import review
from batch_runner.errors import (
    BatchRunnerError,
    BudgetError,
    ConfigError,
    JournalLostError,
    ManifestError,
    StateLockedError,
    world_fault,
)
from batch_runner.jobs.selection import RowSelection, parse_rows
from batch_runner.journal.postgres import DEFAULT_LEASE_S
from batch_runner.keys import has_key, load_env_file
from batch_runner.output.file_names import DEFAULT_TEMPLATE
from batch_runner.run.budget import parse_amount, parse_credit_caps
from batch_runner.run.estimate import Plan
from batch_runner.words import count

__all__ = ["main"]


def _setup_logging(quiet: bool, fmt: str = "text", verbose: bool = False) -> None:
    from batch_runner.logs import setup_logging

    setup_logging(fmt, quiet=quiet, verbose=verbose)


def _fail(exc: Exception, status: int) -> None:
    click.echo(str(exc), err=True)
    sys.exit(status)


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


_set_option = click.option(
    "--set", "sets", multiple=True, metavar="KEY=VALUE",
    help="A job default, e.g. --set provider=apiframe (for a CSV without that column).",
)
_map_option = click.option(
    "--map", "maps", multiple=True, metavar="HEADER=FIELD",
    help='Read a sheet column as a job field, e.g. --map "Hero Image=image" (like columns: in a YAML manifest).',
)
_outside_option = click.option(
    "--allow-outside-paths", is_flag=True,
    help="Let image and sheet paths leave the manifest's folder (through .., absolute paths or symlinks).",
)
_private_option = click.option(
    "--allow-private-urls", is_flag=True,
    help="Let image and video URLs reach private, local and link-local addresses (a CDN on your own network). "
         "By default only public addresses, and the providers' own base URLs, are fetched.",
)
_simulate_option = click.option(
    "--simulate", is_flag=True,
    help="Use the bundled simulator of every provider (in-process, 127.0.0.1) with dummy keys.",
)
_sheet_option = click.option("--sheet", default=None, metavar="NAME",
                             help="The Excel sheet to read (default: the first).")
_strict_option = click.option("--strict", is_flag=True,
                              help="Refuse the manifest when it has warnings (e.g. an unknown camera command).")


def _rows(ctx: click.Context, param: click.Parameter, value: str | None) -> RowSelection | None:
    if value is None:
        return None
    try:
        return parse_rows(value)
    except ValueError as exc:
        raise click.BadParameter(f"{exc}; e.g. --rows 2-10 or --rows 2,5,7-9") from None


_rows_option = click.option(
    "--rows", callback=_rows, default=None, metavar="SPEC",
    help="Only the jobs of these manifest rows, as problems name them (sheet row, header = 1; "
         "YAML: the job's line), e.g. 2-10 or 2,5,7-9.",
)


def is_interactive() -> bool:
    """Whether someone can answer a question: stdin and stdout are both terminals
    (never true under cron, in a pipe or with input from a file)."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def _confirm_plan(plan: Plan) -> bool:
    """Print the plan of this run's submits and ask whether to send them;
    no answer (end of input, Ctrl-C) is no."""
    click.echo("\n".join(plan.lines()))
    cost = describe_usd(plan.usd, plan.unknown_usd, plan.jobs)
    cost = "an unknown USD cost" if cost == "unknown" else cost
    try:
        return click.confirm(f"Submit {plan.jobs} job{'s' if plan.jobs != 1 else ''} for {cost}?", default=False)
    except click.Abort:
        click.echo()
        return False


def _old_name_of(new: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A callback for an option kept under its old name: when given, it warns on
    stderr, in one line, that the option is now ``new``."""

    def warn(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value:
            click.echo(f"warning: {param.opts[0]} is deprecated: use {new}", err=True)
        return value

    return warn


def _max_cost(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_amount(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: use an amount in USD, e.g. {param.opts[0]} 25") from None


_campaign_option = click.option(
    "--campaign", default=None, metavar="NAME",
    help="A shared journal (postgresql://...): the campaign's name in the database "
         "(run: default the manifest's file name; status, results: default its only campaign).")

_settings_option = click.option(
    "--settings", "settings_file", type=click.Path(path_type=Path, dir_okay=False), default=None, metavar="FILE.yaml",
    help="Provider settings (a YAML providers: mapping, as in a manifest: limits, base_url, model_ids); "
         "the manifest's providers: win over it.")


@main.command()
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Results to write: a CSV, or an Excel workbook (.xlsx: posters, links, a Summary sheet). "
                   "Default: beside the manifest, <manifest>.results.csv.")
@click.option("--journal", default=None, metavar="PATH|URL",
              help="Journal file (SQLite), or a PostgreSQL database shared by several workers "
                   "(postgresql://USER@HOST/DB). Default: beside the manifest, <manifest>.journal.sqlite "
                   "(--simulate: <manifest>.simulate.journal.sqlite), whatever -o says.")
@click.option("--state", "old_journal", default=None, hidden=True,
              callback=_old_name_of("--journal"), help="Old name of --journal.")
@_campaign_option
@click.option("--lease", "lease_s", type=click.FloatRange(min=0.5), default=DEFAULT_LEASE_S, show_default=True,
              metavar="S", help="A shared journal: seconds a worker's claim on a job lasts without a heartbeat "
                                "(after that, another worker takes the job over).")
@_set_option
@_map_option
@_simulate_option
@_outside_option
@_private_option
@click.option("--retry-failed", type=click.Choice(["transient", "all"]), is_flag=False, flag_value="transient",
              default=None, metavar="[=all]",
              help="Submit again the jobs that failed of a failure a new try may mend (rate limit, provider "
                   "error, timeout, connection, unreadable answer, failed task); =all: every failed job, "
                   "content-policy refusals included.")
@click.option("--resubmit-unknown", is_flag=True,
              help="Submit again jobs whose submit answer was lost (may pay twice).")
@click.option("--dry-run", is_flag=True, help="Show what a run would do; send nothing.")
@_rows_option
@click.option("--limit", type=click.IntRange(min=0), default=None, metavar="N",
              help="Submit at most N new jobs this run (a test batch; jobs in flight are still polled). "
                   "The rest wait for the next run.")
@click.option("--confirm-over", callback=_max_cost, default=str(CONFIRM_OVER_USD), metavar="USD",
              show_default=True,
              help="On a terminal, show the plan and ask before submitting jobs that cost more "
                   "(or whose USD price is unknown).")
@click.option("--yes", "-y", "yes", is_flag=True, help="Do not ask before submitting (see --confirm-over).")
@click.option("--quiet", is_flag=True, help="Print only the summary and errors.")
@click.option("--max-cost", callback=_max_cost, default=None, metavar="USD",
              help="Refuse to start (exit 4) when the plan costs more; never submit past it during the run.")
@click.option("--max-credits", "max_credits", multiple=True, metavar="PROVIDER=N",
              help="Cap a provider in its own credits, e.g. --max-credits apiframe=500.")
@click.option("--fit-budget", is_flag=True,
              help="Under a cap, run jobs in manifest order until it is reached (the rest: skipped_budget).")
@click.option("--verbose", is_flag=True, help="Text logs: also one line per job submitted, finished, retried, saved.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one JSON object per event on stderr (for cron and log collectors).")
@_sheet_option
@_strict_option
@click.option("--download", type=click.Path(path_type=Path, file_okay=False), default=None, metavar="DIR",
              help="Save every finished video in DIR (resumable; skips files already complete).")
@click.option("--download-name", default=DEFAULT_TEMPLATE, show_default=True, metavar="TEMPLATE",
              help="File name of a saved video: job fields and manifest columns in braces.")
@click.option("--download-max-mb", type=click.FloatRange(min=0, min_open=True), default=500.0,
              show_default=True, help="Largest video to save, MB.")
@click.option("--report", type=click.Path(path_type=Path, dir_okay=False), default=None, metavar="HTML",
              help="Write the HTML report of the results here.")
@click.option("--contact-sheet", type=click.Path(path_type=Path, dir_okay=False), default=None,
              metavar="PNG", help="Write one image of every job's poster, labelled, here (.png or .jpg; "
                                  "needs --download).")
@click.option("--contact-sheet-by", default=None, metavar="COLUMN",
              help="Group the contact sheet's tiles by this results column, e.g. a matrix: axis.")
@click.option("--trace-http", type=click.Path(path_type=Path, dir_okay=False), default=None, metavar="FILE.har",
              help="Write every HTTP exchange of the run here as HAR 1.2 (browsers' developer tools open it); "
                   "API keys redacted, image data cut short.")
@click.option("--canary/--no-canary", default=True, show_default=True,
              help="On first contact with a provider, send its first job alone and the others only once "
                   "that job's video has come back as a video.")
@click.option("--reroll-qa-failed", is_flag=True,
              help="Submit again (a new task, paid again, within --max-cost) each succeeded job whose saved "
                   "video failed QA (manual: docs/deliverables.md#video-qa).")
@click.option("--reroll-rejected", is_flag=True,
              help="Submit again (a new task, paid again, within --max-cost) each succeeded job a person rejected "
                   "in the results' review column; a review_note 'prompt: ...' replaces its prompt "
                   "(manual: docs/review.md).")
@click.option("--max-rerolls", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="With --reroll-qa-failed / --reroll-rejected: re-roll one job at most N times over all runs.")
@click.option("--cancel-replaced", is_flag=True,
              help="Cancel the task of an edited or removed row while it is still queued, where the provider "
                   "can cancel (MiniMax V2), instead of paying it to the end (docs/minimax-v2.md).")
@click.option("--ignore-results-task-ids", is_flag=True,
              help="Let a new journal submit, and pay for, jobs again although the results file lists their task "
                   "ids (without it such a run is refused: rebuild the journal with `journal rebuild` instead).")
@click.option("--retry-canary", is_flag=True,
              help="Send a canary to a provider even though the journal remembers that its last one failed "
                   "with the same base URL, key and overrides.")
@click.option("--callback-url", default=None, metavar="URL",
              help="Callbacks first, polling as the backstop: the public URL that reaches --callback-listen "
                   "(a reverse proxy or tunnel), e.g. https://hooks.example.com/br/ (manual: docs/callbacks.md).")
@click.option("--callback-listen", default="127.0.0.1:8787", show_default=True, metavar="HOST:PORT",
              help="With --callback-url: where the built-in callback receiver listens; none: no receiver "
                   "here, the pushes come through `batch-runner receive` and the shared journal.")
@_settings_option
@run_handoff_options
def run(manifest: Path, output: Path | None, journal: str | None, old_journal: str | None, sets: tuple[str, ...],
        simulate: bool, allow_outside_paths: bool, retry_failed: str | None, resubmit_unknown: bool, dry_run: bool,
        quiet: bool,
        max_cost: float | None, max_credits: tuple[str, ...], fit_budget: bool, verbose: bool,
        log_format: str, sheet: str | None, strict: bool, download: Path | None, download_name: str,
        download_max_mb: float, report: Path | None, maps: tuple[str, ...] = (),
        contact_sheet: Path | None = None, contact_sheet_by: str | None = None,
        rows: RowSelection | None = None, limit: int | None = None,
        confirm_over: float = CONFIRM_OVER_USD, yes: bool = False, trace_http: Path | None = None,
        canary: bool = True, settings_file: Path | None = None, reroll_qa_failed: bool = False,
        reroll_rejected: bool = False, max_rerolls: int = 1, campaign: str | None = None,
        lease_s: float = DEFAULT_LEASE_S,
        allow_private_urls: bool = False, cancel_replaced: bool = False, ignore_results_task_ids: bool = False,
        retry_canary: bool = False, callback_url: str | None = None, callback_listen: str = "127.0.0.1:8787") -> None:
    """Run every job of MANIFEST (or --rows, at most --limit new ones) and write the results CSV."""
    if journal is not None and old_journal is not None:
        raise click.UsageError("--state is the old name of --journal: give only --journal.")
    _setup_logging(quiet, log_format, verbose)
    try:
        credit_caps = parse_credit_caps(max_credits)
    except ConfigError as exc:
        _fail(exc, EXIT_USAGE)
    request = RunRequest(
        manifest=manifest, output=output or default_output_path(manifest), journal=journal or old_journal,
        sets=list(sets), simulate=simulate, retry_failed=retry_failed is not None,
        retry_all_failed=retry_failed == "all",
        resubmit_unknown=resubmit_unknown, quiet=quiet, allow_outside_paths=allow_outside_paths,
        max_cost=max_cost, max_credits=credit_caps, fit_budget=fit_budget,
        sheet=sheet, strict=strict, download=download, download_name=download_name,
        download_max_mb=download_max_mb, report=report, contact_sheet=contact_sheet,
        contact_sheet_by=contact_sheet_by, log_format=log_format,
        maps=list(maps), rows=rows, limit=limit, confirm_over=confirm_over, trace_http=trace_http,
        canary=canary, settings_file=settings_file, reroll_qa_failed=reroll_qa_failed, max_rerolls=max_rerolls,
        reroll_rejected=reroll_rejected, campaign=campaign, lease_s=lease_s, allow_private_urls=allow_private_urls,
        cancel_replaced=cancel_replaced,
        ignore_results_task_ids=ignore_results_task_ids, retry_canary=retry_canary, callback_url=callback_url,
        callback_listen=callback_listen, **handoff_fields(),
        confirm=None if yes or dry_run or not is_interactive() else _confirm_plan,
    )
    try:
        if dry_run:
            counts = dry_run_counts(request)
            click.echo(" ".join(f"{k}={v}" for k, v in counts.items()))
            return
        status = asyncio.run(execute(request))
    except ManifestError as exc:
        _fail(exc, EXIT_USAGE)
    except ConfigError as exc:
        _fail(exc, EXIT_USAGE)
    except StateLockedError as exc:
        _fail(exc, EXIT_LOCKED)
    except BudgetError as exc:
        _fail(exc, EXIT_BUDGET)
    except JournalLostError as exc:
        _fail(exc, EXIT_FAILED)
    sys.exit(status)


@main.command()
@click.argument("manifest", type=click.Path(path_type=Path))
@_set_option
@_map_option
@_simulate_option
@_sheet_option
@_outside_option
@_rows_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--canary/--no-canary", default=True, show_default=True,
              help="Count the canary's time (the first job of a provider on first contact goes alone).")
@_settings_option
def plan(manifest: Path, sets: tuple[str, ...], simulate: bool, sheet: str | None, allow_outside_paths: bool,
         fmt: str, maps: tuple[str, ...] = (), rows: RowSelection | None = None, canary: bool = True,
         settings_file: Path | None = None) -> None:
    """Show jobs, videos, credits, USD and estimated time per provider, and
    each auto job's provider; no network, no key needed (exit 2 if invalid)."""
    import json

    from batch_runner.app import plan_manifest

    try:
        result, loaded = plan_manifest(RunRequest(manifest=manifest, sets=list(sets), simulate=simulate,
                                                  sheet=sheet, allow_outside_paths=allow_outside_paths,
                                                  maps=list(maps), rows=rows, canary=canary,
                                                  settings_file=settings_file))
    except (ManifestError, ConfigError) as exc:
        _fail(exc, EXIT_USAGE)
    for warning in loaded.warnings:
        click.echo(str(warning), err=True)
    if fmt == "json":
        click.echo(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo("\n".join(result.lines()))


@main.command()
@click.argument("manifest", type=click.Path(path_type=Path))
@_set_option
@_map_option
@_simulate_option
@_outside_option
@_sheet_option
@_strict_option
@click.option("--check-urls", is_flag=True,
              help="Also fetch each remote image (HEAD, then its header) and check it against the limits.")
@_private_option
def validate(manifest: Path, sets: tuple[str, ...], simulate: bool, allow_outside_paths: bool,
             sheet: str | None, strict: bool, check_urls: bool, maps: tuple[str, ...] = (),
             allow_private_urls: bool = False) -> None:
    """Check MANIFEST without any network; print every problem (exit 2 if invalid)."""
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
        _fail(exc, EXIT_USAGE)
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
              callback=_old_name_of("--knob"), help="Old name of --knob.")
def simulate(host: str, port: int, generation_s: float, seed: int, knobs: tuple[str, ...],
             old_knobs: tuple[str, ...]) -> None:
    """Serve the simulator of every provider, e.g. for curl or real-mode runs."""
    from batch_runner.simulator import make_config, serve

    try:
        config = make_config([*old_knobs, *knobs], generation_s=generation_s, seed=seed)
    except ValueError as exc:
        _fail(exc, EXIT_USAGE)
    try:
        serve(config, host, port, echo=click.echo)
    except OSError as exc:  # a busy port, an address that is not this machine's, an unknown host name
        reason = exc.strerror or str(exc)
        _fail(ConfigError(f"cannot serve the simulator on {host}:{port}: {reason} "
                          "(another simulator running? choose another --port or --host)"), EXIT_USAGE)


@main.command()
@click.argument("state", metavar="JOURNAL")
@_campaign_option
def status(state: str, campaign: str | None = None) -> None:
    """Show how many jobs of a journal are done, in flight, failed, unknown, pending
    (a shared journal: also its workers, their leases and last heartbeat)."""
    from batch_runner.app import journal_counts

    try:
        counts, busy, workers = journal_counts(state, campaign)
    except ConfigError as exc:
        _fail(exc, EXIT_USAGE)
    line = " ".join(f"{k}={v}" for k, v in counts.items())
    click.echo(f"{line}  (a run is using this journal now)" if busy else line)
    for worker in workers:
        click.echo(worker)


@main.command()
@click.argument("state", metavar="JOURNAL")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="The results CSV, or an Excel workbook (.xlsx), to write.")
@_campaign_option
def results(state: str, output: Path, campaign: str | None = None) -> None:
    """Rebuild the results CSV (or workbook, .xlsx) from the journal alone (a file, or a postgresql:// URL)."""
    from batch_runner.app import rebuild_results
    from batch_runner.journal.postgres import is_database_url
    from batch_runner.output.paths import check_outputs, results_output

    try:
        check_outputs([results_output(output)], {} if is_database_url(state) else {"the journal": Path(state)})
        n = rebuild_results(state, output, campaign)
    except ConfigError as exc:
        _fail(exc, EXIT_USAGE)
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
        _fail(exc, EXIT_LOCKED)
    except ConfigError as exc:
        _fail(exc, EXIT_USAGE)
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
        _fail(exc, EXIT_USAGE)
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
        _fail(exc, EXIT_USAGE)
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
        _fail(exc, EXIT_USAGE)
    except StateLockedError as exc:
        _fail(exc, EXIT_LOCKED)
    click.echo("\n".join(done.lines))
    sys.exit(1 if done.failed or done.missing else 0)


@main.command()
@click.argument("manifest", type=click.Path(path_type=Path), required=False)
@_set_option
@_map_option
@_settings_option
@_sheet_option
@_outside_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="json: one object per provider, for scripts.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True), default=10.0,
              show_default=True, help="Seconds each step (DNS, connect, key check) may take per provider.")
def check(manifest: Path | None, sets: tuple[str, ...], sheet: str | None, allow_outside_paths: bool, fmt: str,
          timeout_s: float, maps: tuple[str, ...] = (), settings_file: Path | None = None) -> None:
    """Check each provider at no cost: base URL, DNS, connection, API, key, clock.

    Without MANIFEST: every provider with a key; with one: the providers its jobs
    need, fallbacks included. Exit 0 when every one is usable, 1 otherwise."""
    import json

    from batch_runner.app import load_settings_file
    from batch_runner.catalog.facts import catalog
    from batch_runner.catalog.settings import merge_overrides, resolve_settings
    from batch_runner.preflight import check_providers, exit_status, render_table

    try:  # the same overrides a run uses: the --settings file, then the manifest's providers:
        overrides = load_settings_file(settings_file) if settings_file else None
    except ConfigError as exc:
        _fail(exc, EXIT_USAGE)
    if manifest is None:
        names = [n for n, info in catalog().items() if has_key(info.key_env, os.environ)]
    else:
        request = RunRequest(manifest=manifest, sets=list(sets), sheet=sheet, allow_outside_paths=allow_outside_paths,
                             maps=list(maps))
        try:
            jobs, loaded = load_jobs(request, need_keys=False)
        except (ManifestError, ConfigError) as exc:
            _fail(exc, EXIT_USAGE)
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
main.add_command(cancel_command)
main.add_command(deliver)
main.add_command(check_callback)
with_callback_check(check)  # check --callback-url: the callback URL tested from outside
main.add_command(receive)
main.add_command(review)
