"""Options several commands share, declared once, and the helpers that build options.

Each shared option is a decorator (``set_option``, ``rows_option``...); ``flags``
turns a table of on/off options into decorators, so that a command's long list
of flags reads as data. Nothing heavy is imported here: ``batch-runner --help``
loads every command module, and what a command needs to work is imported inside
the command's function.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from batch_runner.errors import ConfigError, StateLockedError

if TYPE_CHECKING:
    from batch_runner.jobs.selection import RowSelection

__all__ = [
    "EXIT_LOCKED", "EXIT_USAGE", "campaign_option", "fail", "flags", "manifest_options", "map_option", "max_cost",
    "old_name_of", "outside_option", "private_option", "rows_option", "set_option", "settings_option", "sheet_option",
    "simulate_option", "strict_option",
]

F = TypeVar("F", bound=Callable[..., Any])
EXIT_USAGE = ConfigError.exit_status  # 2: bad input or usage, nothing sent
EXIT_LOCKED = StateLockedError.exit_status  # 3: another run holds the journal


def fail(exc: Exception, status: int) -> None:
    """Print ``exc``'s message alone on stderr (one line, no prefix) and exit with ``status``."""
    click.echo(str(exc), err=True)
    sys.exit(status)


def flags(table: dict[str, str]) -> Callable[[F], F]:
    """A decorator adding one ``is_flag`` option per entry of ``table`` (option name ->
    help), in the table's order."""

    def add(f: F) -> F:
        for name, help_text in reversed(table.items()):
            f = click.option(name, is_flag=True, help=help_text)(f)
        return f

    return add


def old_name_of(new: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A callback for an option kept under its old name: when given, it warns on
    stderr, in one line, that the option is now ``new``."""

    def warn(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value:
            click.echo(f"warning: {param.opts[0]} is deprecated: use {new}", err=True)
        return value

    return warn


def max_cost(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """An amount in USD (``25``, ``$25``, ``25.50``), None when not given; a bad one is a usage error."""
    from batch_runner.run.budget import parse_amount

    if value is None:
        return None
    try:
        return parse_amount(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: use an amount in USD, e.g. {param.opts[0]} 25") from None


def _rows(ctx: click.Context, param: click.Parameter, value: str | None) -> RowSelection | None:
    from batch_runner.jobs.selection import parse_rows

    if value is None:
        return None
    try:
        return parse_rows(value)
    except ValueError as exc:
        raise click.BadParameter(f"{exc}; e.g. --rows 2-10 or --rows 2,5,7-9") from None


set_option = click.option(
    "--set", "sets", multiple=True, metavar="KEY=VALUE",
    help="A job default, e.g. --set provider=apiframe (for a CSV without that column).",
)
map_option = click.option(
    "--map", "maps", multiple=True, metavar="HEADER=FIELD",
    help='Read a sheet column as a job field, e.g. --map "Hero Image=image" (like columns: in a YAML manifest).',
)
outside_option = click.option(
    "--allow-outside-paths", is_flag=True,
    help="Let image and sheet paths leave the manifest's folder (through .., absolute paths or symlinks).",
)
private_option = click.option(
    "--allow-private-urls", is_flag=True,
    help="Let image and video URLs reach private, local and link-local addresses (a CDN on your own network). "
         "By default only public addresses, and the providers' own base URLs, are fetched.",
)
simulate_option = click.option(
    "--simulate", is_flag=True,
    help="Use the bundled simulator of every provider (in-process, 127.0.0.1) with dummy keys.",
)
sheet_option = click.option("--sheet", default=None, metavar="NAME",
                            help="The Excel sheet to read (default: the first).")
strict_option = click.option("--strict", is_flag=True,
                             help="Refuse the manifest when it has warnings (e.g. an unknown camera command).")
rows_option = click.option(
    "--rows", callback=_rows, default=None, metavar="SPEC",
    help="Only the jobs of these manifest rows, as problems name them (sheet row, header = 1; "
         "YAML: the job's line), e.g. 2-10 or 2,5,7-9.",
)
campaign_option = click.option(
    "--campaign", default=None, metavar="NAME",
    help="A shared journal (postgresql://...): the campaign's name in the database "
         "(run: default the manifest's file name; status, results: default its only campaign).")
settings_option = click.option(
    "--settings", "settings_file", type=click.Path(path_type=Path, dir_okay=False), default=None, metavar="FILE.yaml",
    help="Provider settings (a YAML providers: mapping, as in a manifest: limits, base_url, model_ids); "
         "the manifest's providers: win over it.")


def manifest_options(f: F) -> F:
    """The MANIFEST argument, then --set, --map and --simulate (in that order in --help)."""
    for option in (simulate_option, map_option, set_option,
                   click.argument("manifest", type=click.Path(path_type=Path))):
        f = option(f)
    return f
