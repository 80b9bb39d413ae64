"""``batch-runner init [DIR]``: a starter campaign a newcomer can run at once.

Writes into DIR (default: the current folder) ``campaign.xlsx`` (the manifest sheet
format's columns, a drop-down for provider, model, resolution and duration, two example
rows that validate), ``images/example.png`` (the second row's first frame) and ``.env``
(one line per provider's key variable, each with a comment), then prints the next
commands. It never overwrites a file: when one of them exists it writes nothing and exits 2
naming it. Every allowed value comes from the package's data (the manifest schema and the
provider facts), so the drop-downs follow them.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # the providers' data (YAML) is read when a starter is written, not for --help
    from batch_runner.catalog.facts import ProviderInfo

__all__ = ["AUTO", "SHEET_NAME", "StarterFiles", "init", "write_starter"]

SHEET_NAME = "campaign.xlsx"
ENV_NAME = ".env"
IMAGE_NAME = "images/example.png"
AUTO = "auto"  # the manifest's provider value for "the cheapest capable provider with a key"
EXIT_USAGE = 2
_ROWS_WITH_DROPDOWNS = 1000  # sheet rows 2..1001 get the drop-downs


@dataclass(frozen=True)
class StarterFiles:
    """The files ``write_starter`` made, as absolute paths."""

    sheet: Path
    env: Path
    image: Path


def _columns() -> list[str]:
    """The sheet's columns: every job field of the manifest schema, in its order
    (``name``, ``prompt``, ``image``, ``end_image``, ``provider``, ``model``, ...)."""
    from batch_runner.catalog.facts import job_fields

    return list(job_fields())


def _choices() -> dict[str, list[str]]:
    """Allowed values of the drop-down columns, from the package's data: the providers of
    data/providers.yaml and ``auto``; the model, resolution and duration enums of the schema."""
    from batch_runner.catalog.facts import catalog, job_fields

    fields = job_fields()
    return {
        "provider": [*catalog(), AUTO],
        "model": [str(v) for v in fields["model"]["enum"]],
        "resolution": [str(v) for v in fields["resolution"]["enum"]],
        "duration": [str(v) for v in fields["duration"]["enum"]],
    }


def _example_rows() -> list[dict[str, Any]]:
    """Two rows that validate: a text-to-video one and an image-to-video one (the image
    written beside the sheet), both ``provider: auto`` and the job defaults."""
    from batch_runner.catalog.facts import job_defaults

    d = job_defaults()
    common = {"provider": AUTO, "model": d.model, "resolution": d.resolution, "duration": d.duration, "variants": 1}
    return [
        {**common, "name": "teaser",
         "prompt": "A sneaker on a white turntable, studio light, slow rotation [Push in]"},
        {**common, "name": "product-spin", "image": IMAGE_NAME,
         "prompt": "The sneaker from the photo lifts off the table and spins slowly [Pan left,Zoom in]"},
    ]


def _write_sheet(path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    columns = _columns()
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Campaign"
    sheet.append(columns)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in _example_rows():
        sheet.append([row.get(c) for c in columns])
    sheet.freeze_panes = "A2"
    for index, name in enumerate(columns, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = 60 if name == "prompt" else max(12, len(name) + 4)
    for name, values in _choices().items():
        letter = get_column_letter(columns.index(name) + 1)
        rule = DataValidation(type="list", formula1='"' + ",".join(values) + '"', allow_blank=True,
                              showErrorMessage=True, errorTitle=f"{name}: not allowed",
                              error=f"{name} is one of: {', '.join(values)}")
        rule.add(f"{letter}2:{letter}{_ROWS_WITH_DROPDOWNS + 1}")
        sheet.add_data_validation(rule)
    book.save(path)


def _first_url(text: str) -> str:
    found = re.search(r"https?://[^\s,;)]+", text)
    return found.group(0) if found else ""


def _env_lines(info: ProviderInfo) -> list[str]:
    """Two lines of the .env template for one provider: what it sells, its documentation,
    then its key variable with no value."""
    unit = "USD" if info.price_unit == "usd" else info.price_unit
    scenes = " and ".join(info.scenes)
    docs = _first_url(info.source)
    return [f"# {info.name}: {', '.join(info.models)} ({scenes}; prices in {unit})"
            + (f"; its API: {docs}" if docs else ""),
            f"{info.key_env}="]


def _env_text() -> str:
    from batch_runner.catalog.facts import catalog

    lines = ["# API keys for batch-runner, read from the .env file of the folder you run it in",
             "# (a variable already set in the environment wins). Paste the key of each provider",
             "# you have an account with after its '='; leave the others empty.",
             "# Several keys of one provider: <NAME>_API_KEYS=label1=KEY1,label2=KEY2",
             "# (manual: docs/providers-and-keys.md#key-pools). Keep this file to yourself: never commit it.",
             ""]
    for info in catalog().values():
        lines += [*_env_lines(info), ""]
    return "\n".join(lines)


def _write_image(path: Path) -> None:
    """A 1280x720 PNG (short side over 300 px, ratio 16:9: within every provider's limits)."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (1280, 720), (236, 238, 240))
    draw = ImageDraw.Draw(picture)
    draw.ellipse((440, 420, 840, 560), fill=(200, 202, 206))
    draw.rounded_rectangle((470, 250, 810, 470), radius=60, fill=(220, 70, 50))
    draw.rectangle((470, 430, 810, 470), fill=(250, 250, 250))
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path, format="PNG")


def write_starter(folder: Path) -> StarterFiles:
    """Write the starter campaign into ``folder`` (made when missing).

    Raises ``FileExistsError`` naming the first file that exists
    (nothing is written then), ``NotADirectoryError`` when ``folder`` is a file.
    """
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file, not a folder: name a folder (batch-runner init NEW_FOLDER)")
    files = StarterFiles(sheet=folder / SHEET_NAME, env=folder / ENV_NAME, image=folder / IMAGE_NAME)
    for path in (files.sheet, files.env, files.image):
        if path.exists() or path.is_symlink():
            raise FileExistsError(f"{path} already exists: init never overwrites a file; move it away, "
                                  "or start in another folder (batch-runner init NEW_FOLDER)")
    folder.mkdir(parents=True, exist_ok=True)
    _write_image(files.image)
    _write_sheet(files.sheet)
    descriptor = os.open(files.env, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # keys: for the owner only
    with os.fdopen(descriptor, "w", encoding="utf-8") as env:
        env.write(_env_text())
    return StarterFiles(*(p.resolve() for p in (files.sheet, files.env, files.image)))


def next_commands(folder: Path) -> list[str]:
    """The commands to type next, with a ``cd`` first when ``folder`` is not the current one
    (a run reads the .env of the folder it runs in)."""
    lines = []
    if folder.resolve() != Path.cwd().resolve():
        lines.append(f"cd {folder}")
    lines += [f"batch-runner run {SHEET_NAME} --simulate -o results.csv   # try it: the simulator, no key, no cost",
              f"batch-runner plan {SHEET_NAME}                            # your rows and one key in .env: the cost",
              f"batch-runner run {SHEET_NAME} -o results.csv              # the real run"]
    return lines


@click.command("init")
@click.argument("folder", metavar="[DIR]", type=click.Path(path_type=Path), default=Path("."), required=False)
def init(folder: Path) -> None:
    """Write a starter campaign into DIR (default: here): campaign.xlsx with drop-downs and two
    example rows, images/example.png, and a .env naming each provider's key variable.

    Never overwrites a file: exit 2 naming it."""
    try:
        files = write_starter(folder)
    except (FileExistsError, NotADirectoryError) as exc:
        click.echo(f"batch-runner init: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(f"wrote {files.sheet} (2 example rows), {files.image} and {files.env} (one key variable per provider)")
    click.echo("next:")
    for line in next_commands(folder):
        click.echo(f"  {line}")
