"""The file name of each job's video under ``run --download DIR``.

A name comes from a template (``--download-name``, default DEFAULT_TEMPLATE)
filled with the job's fields and the manifest's own columns, then made one safe
file name for any file system (``safe_filename``, by pathvalidate). Every name
is known before the first request, so a bad template or two jobs that would
share a file stop the run before anything is spent.
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Iterable
from typing import Any

from pathvalidate import sanitize_filename
from pathvalidate.handler import ReservedNameHandler

from batch_runner.defaults import DEFAULT_TEMPLATE
from batch_runner.errors import ConfigError
from batch_runner.jobs.model import Job
from batch_runner.manifest.sheets import header_key

__all__ = ["DEFAULT_TEMPLATE", "MAX_NAME_BYTES", "assign_file_names", "safe_filename"]

#: longest file name, in UTF-8 bytes: room under the usual 255 for the ``.<name>.part`` of a transfer
MAX_NAME_BYTES = 200


def safe_filename(text: str, fallback: str) -> str:
    """``text`` as one file name that Windows, macOS and Linux all take.

    ``pathvalidate.sanitize_filename(platform="universal")`` turns path
    separators, control characters and ``:*?"<>|`` into ``_``; then leading
    dots, dashes, underscores and spaces go (no hidden file, no name read as an
    option) and trailing dots and spaces; a Windows device name (``CON``,
    ``nul.tar.gz``) gets a leading ``_``; the name is cut to MAX_NAME_BYTES
    UTF-8 bytes, its extension kept (before pathvalidate, which would cut it
    off at 255). An empty result gives ``fallback``.
    """
    name = _cap(unicodedata.normalize("NFC", text))
    name = sanitize_filename(name, replacement_text="_", platform="universal",
                             reserved_name_handler=ReservedNameHandler.as_is)
    name = name.strip().lstrip(".-_ ").rstrip(". ")
    if not name:
        return fallback
    name = sanitize_filename(name, platform="universal",
                             reserved_name_handler=ReservedNameHandler.add_leading_underscore)
    return _cap(name)


def _cap(name: str) -> str:
    """``name`` cut to MAX_NAME_BYTES UTF-8 bytes (whole characters), its
    extension kept when it is short."""
    if len(name.encode("utf-8")) <= MAX_NAME_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext.encode("utf-8")) > 16:
        stem, dot, ext = name, "", ""
    budget = MAX_NAME_BYTES - len((dot + ext).encode("utf-8"))
    return stem.encode("utf-8")[:budget].decode("utf-8", "ignore") + dot + ext


def _variables(job: Job) -> dict[str, Any]:
    fields = {k: v for k, v in job.__dict__.items() if k not in ("extras", "fallbacks", "index")}
    return {**{header_key(k): v for k, v in job.extras.items()}, **fields}


def assign_file_names(jobs: Iterable[Job], template: str) -> dict[str, str]:
    """job_id -> file name from ``template`` (``{field}`` placeholders: job
    fields or manifest columns, any case), for every job, before any request.

    Raises ConfigError for an unknown variable, a bad template, or two jobs that
    would get the same file name (compared case-insensitively: one file on
    Windows and macOS).
    """
    jobs = list(jobs)
    if not jobs:
        return {}
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(f"--download-name {template!r}: {exc}") from None
    known = set(_variables(jobs[0])) | {header_key(k) for j in jobs for k in j.extras}
    wanted = [name for _, name, _, _ in parts if name is not None]
    bad = [n for n in wanted if header_key(n) not in known]
    if bad:
        raise ConfigError(f"--download-name: unknown variable {{{bad[0]}}}; use job fields "
                          f"({', '.join(sorted(_variables(jobs[0])))}) or the manifest's columns")
    names: dict[str, str] = {}
    owner: dict[str, Job] = {}
    for job in jobs:
        values = _variables(job)
        text = "".join(lit + ("" if n is None else str(values.get(header_key(n), "") or ""))
                       for lit, n, _, _ in parts)
        name = safe_filename(text, f"{job.job_id}.mp4")
        key = name.casefold()
        if key in owner:
            raise ConfigError(f"--download-name {template!r}: rows {owner[key].row} and {job.row} would both "
                              f"be saved as {name}; add {{job_id}} or {{variant}} to the template")
        owner[key], names[job.job_id] = job, name
    return names
