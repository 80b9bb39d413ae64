"""``batch-runner qa RESULTS``: probe and QA the saved videos of a results CSV later.

The results CSV names its jobs; their saved videos and verdicts are in the
campaign's journal, found beside the results the way a run makes them
(``<manifest>.results.csv`` -> ``<manifest>.journal.sqlite``, or its
``.simulate`` twin; the old ``<results>.journal.sqlite``; else the one journal
in the folder that holds every job of the results), or given with
``--journal``. Each saved video is checked again (probe, QA, poster), with the
thresholds the run used (recorded in the journal) unless ``--settings`` says
otherwise, the verdicts recorded in the journal, and the results CSV rewritten.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batch_runner.catalog.qa_settings import qa_settings
from batch_runner.errors import ConfigError, ManifestError
from batch_runner.journal import JobRecord, Journal
from batch_runner.manifest.sheets import read_table
from batch_runner.output.results import write_results
from batch_runner.output.video_qa import VideoQa, qa_lines, recorded_qa_settings
from batch_runner.words import count

__all__ = ["QaRun", "find_journal", "qa_results"]


@dataclass
class QaRun:
    """What ``qa_results`` did: ``checked`` videos, ``failed`` / ``warned``
    (job_id -> details), ``missing`` (job_id -> the saved file that is gone),
    and the summary ``lines``."""

    checked: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    warned: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


def _job_ids(results: Path) -> tuple[list[str], set[str] | None]:
    """The job ids of a results CSV, in order, and those of its manifest's
    rows (``in_manifest`` = yes; None when that column is blank or absent).
    Raises ConfigError when the file cannot be read or is not a results CSV."""
    try:
        table = read_table(results)
    except ManifestError as exc:
        said = "; ".join(p.message for p in exc.problems[:2])
        raise ConfigError(f"{results}: cannot read the results CSV: {said}") from None
    if "job_id" not in table.headers:
        raise ConfigError(f"{results}: not a batch-runner results CSV (no job_id column)")
    rows = [cells for _, cells in table.rows if cells.get("job_id")]
    ids = [cells["job_id"] for cells in rows]
    if not any(cells.get("in_manifest") for cells in rows):
        return ids, None
    return ids, {cells["job_id"] for cells in rows if cells.get("in_manifest") == "yes"}


def find_journal(results: Path, ids: list[str]) -> Path:
    """The journal of the results CSV ``results`` whose jobs are ``ids``
    (see the module docstring). Raises ConfigError when none is found."""
    name = results.name
    base = name[: -len(".results.csv")] if name.endswith(".results.csv") else None
    candidates = [results.with_name(f"{base}{kind}.journal.sqlite") for kind in ("", ".simulate")] if base else []
    candidates.append(results.with_name(f"{results.stem}.journal.sqlite"))
    candidates += sorted(results.parent.glob("*.journal.sqlite"))
    wanted = set(ids)
    for path in dict.fromkeys(candidates):
        if path.is_file() and wanted <= _ids_in(path):
            return path
    raise ConfigError(f"{results}: no journal holding its jobs found beside it: pass --journal PATH "
                      "(the campaign's <manifest>.journal.sqlite)")


def _ids_in(path: Path) -> set[str]:
    """The job ids a journal holds (empty when it is not a journal)."""
    try:
        with Journal(path, lock=False) as journal:
            return {r.job_id for r in journal.records()}
    except Exception:  # not a journal, damaged: not this one
        return set()


async def qa_results(results: Path, journal_path: Path | None = None,
                     overrides: Mapping[str, Any] | None = None) -> QaRun:
    """Check every saved video of the results CSV ``results`` again, record
    the verdicts in its journal and rewrite ``results`` with them. The
    thresholds are those the journal's last check used (its run's ``qa:``),
    then ``overrides`` (a ``qa:`` mapping, e.g. a ``--settings`` file's).

    Raises ConfigError: not a results CSV (or not a ``.csv``), no journal found, or no job of it
    has a saved video (run with ``--download DIR`` first). Raises
    StateLockedError when a run holds the journal.
    """
    if results.suffix.lower() != ".csv":
        hint = (f": for a workbook, write the CSV from the campaign's journal (`batch-runner results JOURNAL "
                f"-o results.csv`), run `batch-runner qa results.csv`, then `batch-runner results JOURNAL -o "
                f"{results.name}` writes the workbook again with the verdicts") if results.suffix.lower() == ".xlsx" \
            else ""
        raise ConfigError(f"{results}: batch-runner qa rewrites the results CSV a run wrote (a .csv file){hint}")
    ids, in_manifest = _job_ids(results)
    path = journal_path or find_journal(results, ids)
    out = QaRun()
    with Journal(path) as journal:
        by_id = {r.job_id: r for r in journal.records()}
        records: list[JobRecord] = [by_id[i] for i in ids if i in by_id]
        saved = [r for r in records if r.local_path]
        if not saved:
            raise ConfigError(f"{results}: no saved videos to check (none of its {count(len(records), 'job')} was "
                              "downloaded): run it with --download DIR first")
        where = "--settings: qa" if overrides else "the journal's QA settings"
        checker = VideoQa(journal, qa_settings(recorded_qa_settings(journal), overrides, where=where))
        for record in saved:
            video = Path(str(record.local_path))
            if not video.is_file():
                out.missing[record.job_id] = str(video)
                continue
            await checker.check(record, video, str(record.sha256 or ""), again=True)
        fresh = {r.job_id: r for r in journal.records()}
        records = [fresh[r.job_id] for r in records]
        write_results(results, records, manifest_ids=in_manifest)
    out.checked, out.failed, out.warned = checker.checked, checker.failed, checker.warned
    out.lines = [f"{results}: {count(out.checked, 'video')} checked, {len(out.failed)} failed QA, "
                 f"{count(len(out.warned), 'warning')}, {count(len(out.missing), 'saved file')} missing "
                 f"(journal: {path})", *qa_lines(records)]
    out.lines += [f"  missing: {p} (job {j})" for j, p in sorted(out.missing.items())]
    return out


def run_qa(results: Path, journal_path: Path | None = None, overrides: Mapping[str, Any] | None = None) -> QaRun:
    """``qa_results`` from synchronous code (the CLI)."""
    return asyncio.run(qa_results(results, journal_path, overrides))
