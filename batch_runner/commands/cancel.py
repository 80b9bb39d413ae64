"""``batch-runner cancel MANIFEST``: cancel a campaign's tasks still queued at the provider.

Only a provider that documents cancelling can (data/providers.yaml ``cancel``;
today MiniMax V2, ``minimax_v2``: ``DELETE /v2/video_generation/{task_id}``
cancels a queued task, which is then not billed, SEEN
https://platform.minimax.io/docs/api-reference/video-generation-v2-delete).
For every chosen job in flight (a task id kept: journal status ``submitted``,
or failed on a timeout), the task is polled first: a finished task is never
sent the cancel (MiniMax would delete its record, and its video with it); a
queued or running one is, and the provider decides. A cancelled task's job
ends ``cancelled`` in the journal (never polled again, not billed); a refusal
(the task started running) is printed with the provider's own answer and the
job is left as it was.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # imported when a task is cancelled: --help never loads aiohttp
    from batch_runner.jobs.selection import RowSelection
    from batch_runner.journal import JobRecord
    from batch_runner.run.cancel import CancelOutcome

__all__ = ["cancel", "cancel_tasks"]


def _chosen(record: JobRecord, rows: RowSelection | None, job_ids: tuple[str, ...]) -> bool:
    if job_ids:
        return any(record.job_id.startswith(j) for j in job_ids)
    if rows is not None:
        return int(record.job_fields().get("row") or 0) in rows
    return True


async def _cancel_all(records: list[JobRecord], environ: Mapping[str, str]) -> list[CancelOutcome]:
    from batch_runner.run.cancel import cancel_records
    from batch_runner.transport import Transport

    async with Transport.open() as transport:
        return await cancel_records(transport, records, environ)


def cancel_tasks(journal_target: Path | str, *, rows: RowSelection | None = None, job_ids: tuple[str, ...] = (),
                 environ: Mapping[str, str] | None = None, campaign: str | None = None) -> list[CancelOutcome]:
    """Cancel the queued tasks of the chosen jobs in flight (all of them when
    neither ``rows`` nor ``job_ids``, a job id or its prefix, is given), and
    record each cancelled one as ``cancelled`` in the journal at
    ``journal_target`` (a file or a postgresql:// URL). Returns one outcome per
    chosen job in flight. The journal is opened without its run lock: a run
    polling the same task reads it as cancelled too. Raises JournalError."""
    import asyncio

    from batch_runner.journal.postgres import open_journal
    from batch_runner.run.cancel import record_cancelled

    env = os.environ if environ is None else environ
    journal = open_journal(journal_target, campaign, lock=False)
    try:
        records = [r for r in journal.records()
                   if r.resumable and _chosen(r, rows, job_ids)]
        outcomes = asyncio.run(_cancel_all(records, env))
        record_cancelled(journal, outcomes, "batch-runner cancel")
    finally:
        journal.close()
    return outcomes


@click.command("cancel")
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--rows", "rows_spec", default=None, metavar="SPEC",
              help="Only the jobs of these manifest rows, e.g. 2-10 or 2,5,7-9.")
@click.option("--job", "job_ids", multiple=True, metavar="ID", help="Only this job (its id or a prefix); repeatable.")
@click.option("--all-queued", is_flag=True, help="Every job whose task is still queued.")
@click.option("--journal", "journal_target", default=None, metavar="FILE|URL",
              help="The campaign's journal (default: beside the manifest).")
@click.option("--campaign", default=None, help="The campaign's name in a shared journal.")
@click.option("--simulate", is_flag=True, help="The --simulate journal, and the simulator's key.")
def cancel(manifest: Path, rows_spec: str | None, job_ids: tuple[str, ...], all_queued: bool,
           journal_target: str | None, campaign: str | None, simulate: bool) -> None:
    """Cancel tasks still queued at their provider (MiniMax V2 only): the job ends cancelled, not billed."""
    from batch_runner.app import SIM_KEY, default_journal_path, default_output_path, rebuild_results
    from batch_runner.catalog.facts import catalog
    from batch_runner.jobs.selection import parse_rows

    if sum(bool(x) for x in (rows_spec, job_ids, all_queued)) != 1:
        raise click.UsageError("choose the jobs: one of --rows SPEC, --job ID or --all-queued")
    try:
        rows = parse_rows(rows_spec) if rows_spec else None
    except ValueError as exc:
        raise click.BadParameter(f"{exc}; e.g. --rows 2-10 or --rows 2,5,7-9", param_hint="--rows") from None
    target: Path | str = journal_target or default_journal_path(manifest, simulate)
    if isinstance(target, Path) and not target.is_file():
        raise click.ClickException(f"{target}: no journal: nothing of {manifest} was run yet")
    env = dict(os.environ)
    if simulate:
        env.update({info.key_env: SIM_KEY for info in catalog().values()})
    outcomes = cancel_tasks(target, rows=rows, job_ids=job_ids, environ=env, campaign=campaign)
    if not outcomes:
        click.echo("no job in flight matches: nothing to cancel")
        return
    for o in outcomes:
        click.echo(f"row {o.row}  job {o.job_id}  {o.provider}  task {o.task_id}: {o.said}")
    done = sum(o.cancelled for o in outcomes)
    click.echo(f"{done} of {len(outcomes)} task(s) cancelled")
    results = default_output_path(manifest)
    if done and results.is_file():  # the campaign's results show the cancelled jobs at once
        rebuild_results(target, results, campaign)
        click.echo(f"results: {results}")
