"""Check each saved video as it is saved: probe, QA, poster, journal.

``run --download`` hands every saved video (fetched, or found whole from an
earlier run) to ``VideoQa.check``, which runs probe.py, qa.py and
posters.make_poster in a worker thread (``asyncio.to_thread``: decoding a
video never blocks the event loop that polls the providers) and records the
verdict in the journal (table ``qa``). A file already checked, with the same
SHA-256, is not checked again. ``qa_lines`` gives the run summary's QA lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from batch_runner.catalog.qa_settings import QaSettings, qa_settings
from batch_runner.journal import JobRecord, JobStatus, Journal
from batch_runner.logs import event
from batch_runner.output.posters import make_poster, poster_path
from batch_runner.output.qa import FAILED, WARNING, QaResult, qa_video

__all__ = ["QA_SETTINGS_META", "VideoQa", "inspect_video", "qa_lines", "recorded_qa_settings", "run_qa_settings",
           "settings_file_qa", "start_rerolls"]

#: the journal's meta key holding the QA thresholds of its last check (JSON)
QA_SETTINGS_META = "qa.settings"


def inspect_video(path: Path, job: Mapping[str, Any], settings: QaSettings) -> QaResult:
    """QA of the video at ``path`` for ``job`` (its fields), and its poster
    written beside it (posters.make_poster; none for a video that does not
    decode). Blocking: run it in a thread. An OSError writing the poster
    propagates."""
    result = qa_video(path, job, settings)
    make_poster(path)
    return result


def settings_file_qa(settings_file: Path | None) -> dict[str, Any]:
    """The ``qa:`` mapping of a ``--settings`` file (its schema already checked
    by app.load_settings_file); {} without a file or a ``qa:``."""
    if settings_file is None:
        return {}
    data = yaml.safe_load(settings_file.read_text(encoding="utf-8")) or {}
    found = data.get("qa") if isinstance(data, dict) else None
    return dict(found) if isinstance(found, dict) else {}


def run_qa_settings(settings_file: Path | None, manifest_qa: Mapping[str, Any] | None) -> QaSettings:
    """The QA thresholds of a run: the ``qa:`` of the ``--settings`` file, then
    the manifest's ``qa:``, which wins per setting. Raises ConfigError for a bad value."""
    where = f"{settings_file or 'the manifest'}: qa"
    return qa_settings(settings_file_qa(settings_file), manifest_qa, where=where)


class VideoQa:
    """Checks saved videos and records the verdicts in ``journal``.

    ``checked``: videos checked in this run; ``failed`` / ``warned``: job_id ->
    the QA's one-line details of those that failed / only warned."""

    def __init__(self, journal: Journal, settings: QaSettings | None = None) -> None:
        self.journal = journal
        self.settings = settings or QaSettings()
        journal.set_meta({QA_SETTINGS_META: json.dumps(dataclasses.asdict(self.settings))})
        self.checked = 0
        self.failed: dict[str, str] = {}
        self.warned: dict[str, str] = {}

    async def check(self, record: JobRecord, path: Path, sha256: str, *, again: bool = False) -> QaResult | None:
        """Check the saved video ``path`` of ``record``'s job (``sha256``: the
        file's digest) unless that very file was checked already (``again``:
        check it anyway); returns the verdict, or None when skipped."""
        if not again and self.journal.qa_checked(record.job_id) == sha256:
            if not poster_path(path).is_file():  # e.g. a copy in a new --download folder
                await asyncio.to_thread(make_poster, path)
            return None
        result = await asyncio.to_thread(inspect_video, path, record.job_fields(), self.settings)
        self.journal.record_qa(record.job_id, result, sha256)
        self.checked += 1
        said = "; ".join(result.details)
        if result.status == FAILED:
            self.failed[record.job_id] = said
        elif result.status == WARNING:
            self.warned[record.job_id] = said
        bad = result.status == FAILED
        event("video_qa_failed" if bad else "video_qa", "QA %s: %s %s%s", result.status, record.job_id, path,
              f" ({said})" if said else "", level=logging.WARNING if bad else logging.INFO, job_id=record.job_id,
              qa_status=result.status, qa_problems=list(result.problems), path=str(path))
        return result


def recorded_qa_settings(journal: Journal) -> dict[str, Any]:
    """The QA thresholds a journal's last check used (its run's ``qa:``), as a
    ``qa:`` mapping; {} when none is recorded."""
    for key, value in journal.meta_items(QA_SETTINGS_META):
        if key == QA_SETTINGS_META:
            with contextlib.suppress(ValueError):
                found = json.loads(value)
                return dict(found) if isinstance(found, dict) else {}
    return {}


def start_rerolls(journal: Journal, fresh: Iterable[Any]) -> int:
    """Start the re-roll of each job of ``fresh`` (the jobs a run is about to
    submit) that already succeeded: its QA-failed video is forgotten, so the
    new generation is saved and checked (journal.start_reroll); the old file is
    kept beside it as ``<name>.qa-failed-<N>.mp4`` (``<name>.rejected-<N>.mp4`` for a
    video a person rejected: run --reroll-rejected; N: the re-roll; a free name,
    never over another file), its poster removed; a file at the recorded path
    that is not the one recorded (a symlink, another size) is left alone.
    Returns how many."""
    snapshot = journal.snapshot()
    rerolls = [r for job in fresh if (r := snapshot.get(job.job_id)) is not None and r.status == JobStatus.SUCCEEDED]
    for record in rerolls:
        old = Path(record.local_path or "")
        why = "rejected" if record.review == "rejected" and record.qa_status != "failed" else "qa-failed"
        if (record.local_path and old.is_file() and not old.is_symlink()
                and old.stat().st_size == record.size_bytes):  # the job's own file, as recorded
            kept, n = old.with_name(f"{old.stem}.{why}-{record.rerolls + 1}{old.suffix}"), 2
            while os.path.lexists(kept):  # never over another file
                kept, n = old.with_name(f"{old.stem}.{why}-{record.rerolls + 1}-{n}{old.suffix}"), n + 1
            old.rename(kept)
            poster_path(old).unlink(missing_ok=True)
        journal.start_reroll(record)
        if why == "rejected":
            continue  # output/review.rejected_rerolls said why
        event("job_reroll", "job %s: its video failed QA (%s): submitting it again", record.job_id,
              record.qa_problems or "", job_id=record.job_id, qa_problems=record.qa_problems)
    return len(rerolls)


def qa_lines(records: Iterable[JobRecord]) -> list[str]:
    """The summary's QA lines: per provider, videos checked and QA failures by
    problem code, then each provider that delivered videos smaller than
    ordered (e.g. 1080P ordered, 768P delivered)."""
    checked: Counter[str] = Counter()
    failed: dict[str, Counter[str]] = {}
    smaller: Counter[tuple[str, str, str]] = Counter()
    for r in records:
        if r.status != JobStatus.SUCCEEDED or not r.qa_status:
            continue
        checked[r.provider] += 1
        problems = [p for p in (r.qa_problems or "").split(";") if p]
        if r.qa_status == FAILED:
            failed.setdefault(r.provider, Counter()).update(problems)
            failed[r.provider]["_videos"] += 1
        if "wrong_resolution" in problems and r.video_width and r.video_height:
            ordered = str(r.job_fields().get("resolution") or "")
            smaller[(r.provider, ordered, f"{min(r.video_width, r.video_height)}P")] += 1
    if not checked:
        return []
    out = []
    for provider in sorted(checked):
        bad = failed.get(provider, Counter())
        codes = ", ".join(f"{code} {n}" for code, n in sorted(bad.items()) if code != "_videos")
        out.append(f"  QA {provider}: {checked[provider]} checked, {bad['_videos']} failed"
                   + (f" ({codes})" if codes else ""))
    for (provider, ordered, got), n in sorted(smaller.items()):
        out.append(f"  QA {provider} delivered {ordered} as {got} ({n} video{'s' if n != 1 else ''}): "
                   "check the provider's resolution mapping, or re-roll with --reroll-qa-failed")
    return out
