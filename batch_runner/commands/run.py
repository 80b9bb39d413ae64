"""``batch-runner run MANIFEST``: run every job of a manifest and write the results.

The options become a RunRequest (app.py), which ``execute`` runs; this module
only reads options, asks before spending (on a terminal, over --confirm-over)
and turns the outcome into the exit status (cli.py's docstring lists them).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from batch_runner.commands.deliver import handoff_fields, run_handoff_options
from batch_runner.commands.options import (
    campaign_option,
    fail,
    flags,
    map_option,
    max_cost,
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
from batch_runner.defaults import CONFIRM_OVER_USD, DEFAULT_LEASE_S, DEFAULT_TEMPLATE
from batch_runner.errors import BudgetError, ConfigError, JournalLostError, ManifestError, StateLockedError

if TYPE_CHECKING:
    from batch_runner.jobs.selection import RowSelection
    from batch_runner.run.estimate import Plan

__all__ = ["is_interactive", "run"]


def is_interactive() -> bool:
    """Whether someone can answer a question: stdin and stdout are both terminals
    (never true under cron, in a pipe or with input from a file)."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def _confirm_plan(plan: Plan) -> bool:
    """Print the plan of this run's submits and ask whether to send them;
    no answer (end of input, Ctrl-C) is no."""
    from batch_runner.catalog.prices import describe_usd

    click.echo("\n".join(plan.lines()))
    cost = describe_usd(plan.usd, plan.unknown_usd, plan.jobs)
    cost = "an unknown USD cost" if cost == "unknown" else cost
    try:
        return click.confirm(f"Submit {plan.jobs} job{'s' if plan.jobs != 1 else ''} for {cost}?", default=False)
    except click.Abort:
        click.echo()
        return False


@click.command()
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Results to write: a CSV, or an Excel workbook (.xlsx: posters, links, a Summary sheet). "
                   "Default: beside the manifest, <manifest>.results.csv.")
@click.option("--journal", default=None, metavar="PATH|URL",
              help="Journal file (SQLite), or a PostgreSQL database shared by several workers "
                   "(postgresql://USER@HOST/DB). Default: beside the manifest, <manifest>.journal.sqlite "
                   "(--simulate: <manifest>.simulate.journal.sqlite), whatever -o says.")
@click.option("--state", "old_journal", default=None, hidden=True,
              callback=old_name_of("--journal"), help="Old name of --journal.")
@campaign_option
@click.option("--lease", "lease_s", type=click.FloatRange(min=0.5), default=DEFAULT_LEASE_S, show_default=True,
              metavar="S", help="A shared journal: seconds a worker's claim on a job lasts without a heartbeat "
                                "(after that, another worker takes the job over).")
@set_option
@map_option
@simulate_option
@outside_option
@private_option
@click.option("--retry-failed", type=click.Choice(["transient", "all"]), is_flag=False, flag_value="transient",
              default=None, metavar="[=all]",
              help="Submit again the jobs that failed of a failure a new try may mend (rate limit, provider "
                   "error, timeout, connection, unreadable answer, failed task); =all: every failed job, "
                   "content-policy refusals included.")
@click.option("--resubmit-unknown", is_flag=True,
              help="Submit again jobs whose submit answer was lost (may pay twice).")
@click.option("--dry-run", is_flag=True, help="Show what a run would do; send nothing.")
@rows_option
@click.option("--limit", type=click.IntRange(min=0), default=None, metavar="N",
              help="Submit at most N new jobs this run (a test batch; jobs in flight are still polled). "
                   "The rest wait for the next run.")
@click.option("--confirm-over", callback=max_cost, default=str(CONFIRM_OVER_USD), metavar="USD",
              show_default=True,
              help="On a terminal, show the plan and ask before submitting jobs that cost more "
                   "(or whose USD price is unknown).")
@click.option("--yes", "-y", "yes", is_flag=True, help="Do not ask before submitting (see --confirm-over).")
@click.option("--quiet", is_flag=True, help="Print only the summary and errors.")
@click.option("--max-cost", callback=max_cost, default=None, metavar="USD",
              help="Refuse to start (exit 4) when the plan costs more; never submit past it during the run.")
@click.option("--max-credits", "max_credits", multiple=True, metavar="PROVIDER=N",
              help="Cap a provider in its own credits, e.g. --max-credits apiframe=500.")
@click.option("--fit-budget", is_flag=True,
              help="Under a cap, run jobs in manifest order until it is reached (the rest: skipped_budget).")
@click.option("--verbose", is_flag=True, help="Text logs: also one line per job submitted, finished, retried, saved.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one JSON object per event on stderr (for cron and log collectors).")
@sheet_option
@strict_option
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
@flags({
    "--reroll-qa-failed": "Submit again (a new task, paid again, within --max-cost) each succeeded job whose saved "
                          "video failed QA (manual: docs/deliverables.md#video-qa).",
    "--reroll-rejected": "Submit again (a new task, paid again, within --max-cost) each succeeded job a person "
                         "rejected in the results' review column; a review_note 'prompt: ...' replaces its prompt "
                         "(manual: docs/review.md).",
})
@click.option("--max-rerolls", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="With --reroll-qa-failed / --reroll-rejected: re-roll one job at most N times over all runs.")
@flags({
    "--cancel-replaced": "Cancel the task of an edited or removed row while it is still queued, where the provider "
                         "can cancel (MiniMax V2), instead of paying it to the end (docs/minimax-v2.md).",
    "--ignore-results-task-ids": "Let a new journal submit, and pay for, jobs again although the results file lists "
                                 "their task ids (without it such a run is refused: rebuild the journal with "
                                 "`journal rebuild` instead).",
    "--retry-canary": "Send a canary to a provider even though the journal remembers that its last one failed "
                      "with the same base URL, key and overrides.",
})
@click.option("--callback-url", default=None, metavar="URL",
              help="Callbacks first, polling as the backstop: the public URL that reaches --callback-listen "
                   "(a reverse proxy or tunnel), e.g. https://hooks.example.com/br/ (manual: docs/callbacks.md).")
@click.option("--callback-listen", default="127.0.0.1:8787", show_default=True, metavar="HOST:PORT",
              help="With --callback-url: where the built-in callback receiver listens; none: no receiver "
                   "here, the pushes come through `batch-runner receive` and the shared journal.")
@settings_option
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
    import asyncio

    from batch_runner.app import RunRequest, default_output_path, dry_run_counts, execute
    from batch_runner.logs import setup_logging
    from batch_runner.run.budget import parse_credit_caps

    if journal is not None and old_journal is not None:
        raise click.UsageError("--state is the old name of --journal: give only --journal.")
    setup_logging(log_format, quiet=quiet, verbose=verbose)
    try:
        credit_caps = parse_credit_caps(max_credits)
    except ConfigError as exc:
        fail(exc, exc.exit_status)
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
    except (ManifestError, ConfigError, StateLockedError, BudgetError, JournalLostError) as exc:
        fail(exc, exc.exit_status)  # the message alone, no "batch-runner: " (cli.py's net adds it to the others)
    sys.exit(status)
