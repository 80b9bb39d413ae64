"""``batch-runner plan MANIFEST``: jobs, videos, credits, USD and estimated time per provider,
with no network and no key (exit 2 if the manifest is invalid).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from batch_runner.commands.options import (
    EXIT_USAGE,
    fail,
    manifest_options,
    outside_option,
    rows_option,
    settings_option,
    sheet_option,
)
from batch_runner.errors import ConfigError, ManifestError

if TYPE_CHECKING:
    from batch_runner.jobs.selection import RowSelection

__all__ = ["plan"]


@click.command()
@manifest_options
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
