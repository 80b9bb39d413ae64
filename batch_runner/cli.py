"""The ``batch-runner`` command line (click). It parses options and calls the library.

Exit statuses: 0 every job succeeded; 1 some job failed or is not final;
2 invalid manifest or usage; 3 another run holds the journal; 130 / 143 the run
was stopped by SIGINT / SIGTERM (results written, in-flight tasks kept).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

import click

from .app import (
    EXIT_LOCKED,
    EXIT_USAGE,
    RunRequest,
    default_state_path,
    dry_run_counts,
    execute,
    load_jobs,
)
from .errors import ConfigError, ManifestError, StateLockedError
from .secrets import load_env_file

__all__ = ["main"]


def _setup_logging(quiet: bool) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )


def _fail(exc: Exception, status: int) -> None:
    click.echo(str(exc), err=True)
    sys.exit(status)


@click.group()
@click.version_option(package_name="batch-runner")
def main() -> None:
    """Turn a campaign manifest into Hailuo 2.3 videos across six providers.

    API keys come from the environment, or from a .env file in the current folder.
    """
    warning = load_env_file()
    if warning:
        click.echo(warning, err=True)


_set_option = click.option(
    "--set", "sets", multiple=True, metavar="KEY=VALUE",
    help="A job default, e.g. --set provider=apiframe (for a CSV without that column).",
)
_outside_option = click.option(
    "--allow-outside-paths", is_flag=True,
    help="Let image paths leave the manifest's folder (through .., absolute paths or symlinks).",
)
_simulate_option = click.option(
    "--simulate", is_flag=True,
    help="Use the bundled simulator of every provider (in-process, 127.0.0.1) with dummy keys.",
)


@main.command()
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("results.csv"),
              show_default=True, help="Results CSV to write.")
@click.option("--state", type=click.Path(path_type=Path), default=None,
              help="Journal file (SQLite). Default: next to the output, <output>.journal.sqlite.")
@_set_option
@_simulate_option
@_outside_option
@click.option("--retry-failed", is_flag=True, help="Submit again the jobs that ended failed.")
@click.option("--resubmit-unknown", is_flag=True,
              help="Submit again jobs whose submit answer was lost (may pay twice).")
@click.option("--dry-run", is_flag=True, help="Show what a run would do; send nothing.")
@click.option("--quiet", is_flag=True, help="Print only the summary and errors.")
def run(manifest: Path, output: Path, state: Path | None, sets: tuple[str, ...], simulate: bool,
        allow_outside_paths: bool, retry_failed: bool, resubmit_unknown: bool, dry_run: bool,
        quiet: bool) -> None:
    """Run every job of MANIFEST and write the results CSV."""
    _setup_logging(quiet)
    request = RunRequest(
        manifest=manifest, output=output, state=state or default_state_path(output),
        sets=list(sets), simulate=simulate, retry_failed=retry_failed,
        resubmit_unknown=resubmit_unknown, quiet=quiet, allow_outside_paths=allow_outside_paths,
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
    sys.exit(status)


@main.command()
@click.argument("manifest", type=click.Path(path_type=Path))
@_set_option
@_simulate_option
@_outside_option
def validate(manifest: Path, sets: tuple[str, ...], simulate: bool, allow_outside_paths: bool) -> None:
    """Check MANIFEST without any network; print every problem (exit 2 if invalid)."""
    request = RunRequest(manifest=manifest, sets=list(sets), simulate=simulate,
                         allow_outside_paths=allow_outside_paths)
    try:
        jobs, loaded = load_jobs(request)
    except ManifestError as exc:
        _fail(exc, EXIT_USAGE)
    for warning in loaded.warnings:
        click.echo(str(warning), err=True)
    by_provider: dict[str, int] = {}
    for job in jobs:
        by_provider[job.provider] = by_provider.get(job.provider, 0) + 1
    detail = ", ".join(f"{n} on {p}" for p, n in by_provider.items())
    click.echo(f"{manifest}: valid, {len(loaded.rows)} rows, {len(jobs)} jobs ({detail})")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int)
@click.option("--generation-s", default=5.0, show_default=True,
              help="Seconds each simulated task takes.")
@click.option("--seed", default=0, show_default=True, type=int)
def simulate(host: str, port: int, generation_s: float, seed: int) -> None:
    """Serve the simulator of every provider, e.g. for curl or real-mode runs."""
    from .simulator import PROVIDER_NAMES, ProviderSimConfig, SimConfig, serve

    config = SimConfig(
        providers={n: ProviderSimConfig(generation_s=generation_s) for n in PROVIDER_NAMES},
        seed=seed,
    )
    serve(config, host, port)


def _journal_counts(state: Path) -> dict[str, Any]:
    from .journal import Journal

    if not state.is_file():
        raise ConfigError(f"no journal at {state}")
    with Journal(state, lock=False) as journal:
        return journal.counts()


@main.command()
@click.argument("state", type=click.Path(path_type=Path))
def status(state: Path) -> None:
    """Show how many jobs of a journal are done, in flight, failed, unknown, pending."""
    try:
        counts = _journal_counts(state)
    except ConfigError as exc:
        _fail(exc, EXIT_USAGE)
    click.echo(" ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "no jobs")


@main.command()
@click.argument("state", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True)
def results(state: Path, output: Path) -> None:
    """Rebuild the results CSV from the journal alone."""
    from .journal import Journal
    from .results import write_results

    if not state.is_file():
        _fail(ConfigError(f"no journal at {state}"), EXIT_USAGE)
    with Journal(state, lock=False) as journal:
        n = write_results(output, list(journal.records()))
    click.echo(f"{output}: {n} rows")
