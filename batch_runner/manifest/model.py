"""A loaded manifest and its rows: what load.py gives the rest of the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batch_runner.errors import Problem

__all__ = ["Manifest", "ManifestRow"]


@dataclass
class ManifestRow:
    """One manifest row or YAML job, defaults applied.

    ``row``: spreadsheet row number (CSV/Excel, header = 1) or YAML line;
    ``where``: "file: row N" / "file: line N"; ``fields``: job fields (typed);
    ``extras``: the campaign's own columns, copied into the results.
    """

    index: int
    row: int
    where: str
    fields: dict[str, Any]
    extras: dict[str, Any] = field(default_factory=dict)
    valid: bool = True


@dataclass
class Manifest:
    """A loaded, schema-valid manifest: its rows and per-provider settings.

    ``sheet``: the source sheet a YAML manifest reads its rows from, if any.
    """

    path: Path
    rows: list[ManifestRow]
    provider_settings: dict[str, dict[str, Any]]
    warnings: list[Problem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    sheet: Path | None = None
    allow_outside_paths: bool = False  # image paths may leave the manifest's folder
    qa: dict[str, Any] = field(default_factory=dict)  # the ``qa:`` thresholds (catalog/qa_settings.py)

    @property
    def base_dir(self) -> Path:
        """Folder that relative image paths are resolved against: the file the
        rows are written in (the source sheet's, for a YAML manifest with one)."""
        return (self.sheet or self.path).parent

    @property
    def place_word(self) -> str:
        """What a row's number counts in messages: ``line`` for a YAML jobs list
        (its line number), ``row`` for a sheet (spreadsheet row, header = 1)."""
        return "line" if self.sheet is None and self.path.suffix.lower() in (".yaml", ".yml") else "row"
