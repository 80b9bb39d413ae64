"""``batch-runner check [MANIFEST]``: each provider checked at no cost (base URL, DNS,
connection, API, key, clock); exit 0 when every one is usable, 1 otherwise.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from batch_runner.commands.check_callback import with_callback_check
from batch_runner.commands.options import (
    EXIT_USAGE,
    fail,
    map_option,
    outside_option,
    set_option,
    settings_option,
    sheet_option,
)
from batch_runner.errors import ConfigError, ManifestError
from batch_runner.keys import has_key

__all__ = ["check"]


@click.command()
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


with_callback_check(check)  # check --callback-url: the callback URL tested from outside (check-callback's code)
