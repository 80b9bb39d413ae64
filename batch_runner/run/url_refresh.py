"""A fresh video URL for a finished job, read again from its provider for free.

A provider's video URL lives a while: MiniMax's ``download_url`` "valid 1 hour"
(https://github.com/MiniMax-AI/skills,
``skills/frontend-dev/references/minimax-video-guide.md``), apiframe's 24 h,
APIMart's 72 h (data/providers.yaml ``url_ttl_s``). A download that meets an
expired URL (its ``url_expires_at`` passed, or an HTTP 403/404/410) asks the
provider again before calling the video gone: MiniMax and gpt.ge answer
``files/retrieve`` of the journal's ``file_id`` with a new signed URL; the others
answer their task status (apiframe ``GET /v2/jobs/{id}``, APIMart
``GET /v1/tasks/{id}``) with the URL again. Both are free: only a submit is
billed. The new URL is written to the journal (``Journal.record_url``), so the
results and a later run use it.

The request goes with the key that made the task (journal ``key_id``; a task
belongs to its account). A provider that says the assets are gone (apiframe
``expired``: the answer's URL is already past its end) is a final answer.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from batch_runner.catalog.settings import ProviderSettings
from batch_runner.errors import DownloadError, ProviderError, TransportError
from batch_runner.journal import JobRecord, JobStatus, Journal
from batch_runner.logs import event
from batch_runner.providers import ADAPTERS
from batch_runner.providers.base import Adapter
from batch_runner.providers.wire import SUCCEEDED
from batch_runner.transport import Transport

__all__ = ["UrlRefresher", "expiring_soon", "expiry_lines"]

#: follow-up requests one refresh may send (MiniMax: query -> files/retrieve)
MAX_HOPS = 2
#: a URL with less life than this left is refreshed before the first byte (seconds)
MARGIN_S = 60.0


def expiring_soon(record: JobRecord, now: float, margin_s: float = MARGIN_S) -> bool:
    """Whether ``record``'s video URL has expired, or will within ``margin_s``
    (seconds), by its recorded ``url_expires_at`` (unix seconds; None: unknown,
    False)."""
    return record.url_expires_at is not None and record.url_expires_at - margin_s <= now


@dataclass
class UrlRefresher:
    """Asks a finished job's provider for a fresh video URL (``fresh_url``).

    ``settings``: provider name -> ProviderSettings of this run (its keys);
    ``journal``: where the new URL is recorded. ``refreshed``: how many fresh
    URLs were read (each one free request, or two for MiniMax without a kept
    ``file_id``); ``why_not``: job_id -> why no fresh URL could be had.
    """

    settings: dict[str, ProviderSettings]
    journal: Journal
    refreshed: int = 0
    why_not: dict[str, str] = field(default_factory=dict)
    _adapters: dict[tuple[str, str], Adapter | None] = field(default_factory=dict)

    def _adapter(self, record: JobRecord) -> Adapter | None:
        """The adapter with the key that made ``record``'s task (its fingerprint),
        or None when that provider or key is not configured in this run."""
        fingerprint = (record.key_id or "").rpartition(":")[2]
        found = (record.provider, fingerprint)
        if found not in self._adapters:
            s = self.settings.get(record.provider)
            if s is not None and fingerprint:
                keys = [k for k in s.pool if k.key_id.rpartition(":")[2] == fingerprint]
                s = s.for_key(keys[0]) if keys else None
            self._adapters[found] = (ADAPTERS[s.name](s.base_url, s.api_key, model_ids=s.model_ids)
                                     if s is not None else None)
        return self._adapters[found]

    async def fresh_url(self, transport: Transport, record: JobRecord) -> str | None:
        """A fresh video URL for succeeded ``record`` (recorded in the journal),
        or None (``why_not[job_id]`` says why: no task id, the key is gone, the
        provider refused, or its URL is already past its end). Never raises for a
        provider's or the network's error: the download then fails saying so."""
        job_id = record.job_id
        adapter = self._adapter(record)
        if adapter is None or not record.task_id:
            self.why_not[job_id] = (f"no fresh URL: the {record.provider} key that made task {record.task_id} "
                                    "is not configured in this run" if record.task_id else "no task id recorded")
            return None
        request = adapter.build_url_refresh(record.task_id, record.file_id)
        timeout = self.settings[record.provider].timeout_s
        try:
            for _ in range(MAX_HOPS + 1):
                state = adapter.read_poll(await transport.send(record.provider, request, timeout))
                if state.follow_up is None:
                    break
                request = state.follow_up
        except (ProviderError, TransportError) as exc:
            self.why_not[job_id] = f"asking {record.provider} for a fresh URL failed: {exc.provider_message}"
            return None
        now = time.time()
        if state.status != SUCCEEDED or not state.video_url:
            self.why_not[job_id] = f"{record.provider} no longer gives a video for task {record.task_id}"
            return None
        if state.url_expires_at is not None and state.url_expires_at <= now:
            self.why_not[job_id] = (f"{record.provider} answers that the video of task {record.task_id} is past "
                                    "its end (purged: its URL has expired for good)")
            return None
        self.journal.record_url(job_id, state.video_url, state.url_expires_at)
        self.refreshed += 1
        event("video_url_refreshed", "job %s: a fresh %s video URL read (free)", job_id, record.provider,
              level=logging.INFO, job_id=job_id, provider=record.provider)
        return state.video_url

    async def __call__(self, transport: Transport, record: JobRecord, failed: bool) -> str | None:
        """The download hook (output/download.py ``DownloadOptions.refresh``).

        ``failed`` False: before the first byte, a fresh URL when the recorded one
        has expired (``expiring_soon``), else None (use the recorded one; also
        when none could be had: the recorded URL is still tried). ``failed``
        True: the URL answered 403/404/410: a fresh URL, or DownloadError
        saying why there is none."""
        if not failed:
            return await self.fresh_url(transport, record) if expiring_soon(record, time.time()) else None
        url = await self.fresh_url(transport, record)
        if url is None:
            raise DownloadError(f"the video URL has expired and {self.why_not.get(record.job_id, 'no fresh one')}")
        return url


#: a run without --download warns about video URLs that expire sooner than this (seconds)
WARN_WITHIN_S = 12 * 3600.0


def expiry_lines(records: list[JobRecord], now: float, within_s: float = WARN_WITHIN_S) -> list[str]:
    """Summary lines of a run without ``--download``: per provider, how many
    succeeded videos not saved have URLs that expire within ``within_s`` (from
    ``now``, unix seconds), and the way out. Empty when none."""
    soon: dict[str, list[float]] = {}
    for r in records:
        if r.status == JobStatus.SUCCEEDED and not r.local_path and r.url_expires_at is not None \
                and r.url_expires_at - now < within_s:
            soon.setdefault(r.provider, []).append(r.url_expires_at - now)
    lines = []
    for provider, left in sorted(soon.items()):
        first = max(min(left), 0.0) / 60
        lines.append(f"  {len(left)} {provider} video URL{'s expire' if len(left) != 1 else ' expires'} "
                     f"{'now' if first < 1 else f'in {first:.0f} min'} or soon after: save them with "
                     "`run --download DIR` soon (an expired URL is asked again of the provider, free, "
                     "while it still keeps the video)")
    return lines
