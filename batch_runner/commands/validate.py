"""``batch-runner validate MANIFEST``: every problem of a manifest, before anything is spent
(exit 2 if invalid); ``--check-urls`` also fetches the headers of remote images.
"""

from __future__ import annotations

from pathlib import Path

import click

from batch_runner.commands.options import (
    EXIT_USAGE,
    fail,
    manifest_options,
    outside_option,
    private_option,
    sheet_option,
    strict_option,
)
from batch_runner.errors import ManifestError
from batch_runner.words import count

__all__ = ["validate"]


@click.command()
@manifest_options
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
