"""``batch-runner deliver RESULTS --to URL``, and the hand-off options of ``run``.

``deliver`` copies an earlier run's saved videos (the ``local_path`` column of its
results file), their posters and the results file itself into the team's storage
(output/deliver.py): succeeded jobs only, QA-failed videos only with
``--deliver-qa-failed``. Names: each video's path under the folder that holds
them all (the download template's names). With ``--journal`` each copy is
recorded there (a later ``run`` shows its ``delivered_url``); without, a copy
already in the store with the same sha256 is not sent again either.

``run_handoff_options`` adds ``--deliver``, ``--deliver-qa-failed``, ``--notify``,
``--notify-on`` and ``--metrics-file`` to ``run``; ``handoff_fields()`` gives
their values as RunRequest fields.

Exit statuses: 0 every file delivered; 1 some failed (the others are there);
2 bad input, or a storage that cannot be written (nothing sent); 3 the journal
is in use by a run.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from batch_runner.defaults import NOTIFY_ON
from batch_runner.errors import ConfigError

if TYPE_CHECKING:  # the storage's libraries load when something is delivered, never for --help
    from batch_runner.journal import Journal
    from batch_runner.output.deliver import Deliverer

__all__ = ["deliver", "deliver_results", "handoff_fields", "run_handoff_options"]

F = TypeVar("F", bound=Callable[..., Any])
_META = "batch_runner.handoff"
_NEEDED = ("job_id", "status", "local_path", "sha256", "qa_status")


def _keep(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    ctx.meta.setdefault(_META, {})[param.name or ""] = value
    return value


def run_handoff_options(f: F) -> F:
    """``run``'s options of delivery, notifications and metrics (values: ``handoff_fields()``)."""
    options = [
        click.option("--deliver", default=None, metavar="URL", expose_value=False, callback=_keep,
                     help="Copy each saved video (as soon as it is saved and checked), its poster, and at the end "
                          "the results, report and contact sheet to this storage: s3://bucket/prefix/, gs://..., "
                          "az://..., file:///shared/videos/ (needs --download; docs/delivery.md)."),
        click.option("--deliver-qa-failed", is_flag=True, expose_value=False, callback=_keep,
                     help="With --deliver: deliver QA-failed videos too."),
        click.option("--deliver-approved-only", is_flag=True, expose_value=False, callback=_keep,
                     help="With --deliver: only videos approved in the results' review column; an approval "
                          "given later is delivered by the next run (docs/review.md)."),
        click.option("--notify", multiple=True, metavar="URL", expose_value=False, callback=_keep,
                     help="Send the run's digest (and alerts: budget cap, canary failed, exit 70) to this apprise "
                          "URL, e.g. slack://..., mailto://..., json://host:port/path. Repeatable."),
        click.option("--notify-on", type=click.Choice(NOTIFY_ON), default="always", show_default=True,
                     expose_value=False, callback=_keep,
                     help="always: a digest after every run; failure: only when the exit status is not 0."),
        click.option("--metrics-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
                     metavar="PATH.prom", expose_value=False, callback=_keep,
                     help="Write the run's metrics here (Prometheus text format, for node_exporter's textfile "
                          "collector): every minute while it runs and at its end."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def handoff_fields() -> dict[str, Any]:
    """The values of ``run_handoff_options`` in the current click command, as RunRequest fields."""
    found = click.get_current_context().meta.get(_META, {})
    return {"deliver": found.get("deliver"), "deliver_qa_failed": bool(found.get("deliver_qa_failed")),
            "deliver_approved_only": bool(found.get("deliver_approved_only")),
            "notify": tuple(found.get("notify") or ()), "notify_on": found.get("notify_on") or "always",
            "metrics_file": found.get("metrics_file")}


async def deliver_results(results: Path, url: str, *, journal: Journal | None = None,
                          qa_failed: bool = False, approved_only: bool = False) -> Deliverer:
    """Deliver the videos listed in the results file ``results`` to ``url`` (see the
    module docstring); returns the Deliverer (its counters). Raises ConfigError: an
    unreadable results file, no saved video in it; DeliveryError: the storage."""
    import asyncio

    from batch_runner.output.deliver import Deliverer, open_target, probe
    from batch_runner.output.readback import read_results

    rows = read_results(results, _NEEDED)
    saved = [r for r in rows if r["status"] == "succeeded" and r["local_path"]]
    if not saved:
        raise ConfigError(f"{results}: no saved video (local_path) in it: run with --download first")
    missing = [r["local_path"] for r in saved if not Path(r["local_path"]).is_file()]
    if missing:
        raise ConfigError(f"{results}: {len(missing)} saved video(s) are no longer there, e.g. {missing[0]} "
                          "(run again with --download to fetch them)")
    target = open_target(url)
    await asyncio.to_thread(probe, target)
    folder = Path(os.path.commonpath([str(Path(r["local_path"]).parent) for r in saved]))
    deliverer = Deliverer(target, journal, folder, qa_failed=qa_failed, approved_only=approved_only)

    await asyncio.gather(*(deliverer.video(r["job_id"], Path(r["local_path"]), r["sha256"], r["qa_status"] or None,
                                           (r.get("review") or "").strip().lower() or None)
                           for r in saved))
    await deliverer.file(results, "results")
    return deliverer


@click.command()
@click.argument("results", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--to", "url", required=True, metavar="URL",
              help="The storage: s3://bucket/prefix/, gs://..., az://..., file:///shared/videos/.")
@click.option("--journal", default=None, metavar="PATH|URL",
              help="The run's journal: each copy is recorded there (later results show delivered_url).")
@click.option("--campaign", default=None, metavar="NAME", help="A shared journal: the campaign's name.")
@click.option("--deliver-qa-failed", is_flag=True, help="Deliver QA-failed videos too.")
@click.option("--deliver-approved-only", is_flag=True,
              help="Only the videos approved in RESULTS' review column (docs/review.md).")
def deliver(results: Path, url: str, journal: str | None, campaign: str | None, deliver_qa_failed: bool,
            deliver_approved_only: bool) -> None:
    """Copy the saved videos of RESULTS (an earlier run's results file), their posters
    and RESULTS itself into the team's storage; what is there already is not sent again."""
    import asyncio

    from batch_runner.journal.postgres import open_journal

    if journal is None:  # a StateLockedError (3) or ConfigError (2): cli.py's one place says it and exits
        done = asyncio.run(deliver_results(results, url, qa_failed=deliver_qa_failed,
                                           approved_only=deliver_approved_only))
    else:
        with open_journal(journal, campaign) as opened:
            done = asyncio.run(deliver_results(results, url, journal=opened, qa_failed=deliver_qa_failed,
                                               approved_only=deliver_approved_only))
    click.echo("\n".join(line.strip() for line in done.lines()))
    sys.exit(1 if done.failed else 0)
