"""What the two hand-written peers share: the jobs, the adapters, one HTTP call, the marks.

A peer reads the same manifest as batch_runner (``batch_runner.app.load_jobs``)
and builds and reads every request with the same adapter code
(``batch_runner.providers``); only the scheduling, retrying and bookkeeping are
its own. It sends with its own ``aiohttp.ClientSession`` (no batch_runner
transport). ``mark(path)`` writes, right after the imports, the wall clock and
the CPU seconds spent so far, so the harness can leave start-up out of both.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from batch_runner.app import RunRequest, load_jobs  # noqa: E402
from batch_runner.catalog.settings import ProviderSettings, resolve_settings  # noqa: E402
from batch_runner.jobs.model import Job  # noqa: E402
from batch_runner.providers import HttpRequest, HttpResponse  # noqa: E402
from batch_runner.providers.base import Adapter  # noqa: E402
from batch_runner.providers.registry import ADAPTERS  # noqa: E402

__all__ = ["Adapter", "HttpRequest", "Job", "ProviderSettings", "load", "mark", "send"]


def mark(path: str) -> None:
    """Write ``{"wall": unix seconds, "cpu": process CPU seconds}`` to ``path`` (start-up is over)."""
    Path(path).write_text(json.dumps({"wall": time.time(), "cpu": time.process_time()}), encoding="utf-8")


def load(manifest: Path) -> tuple[list[Job], dict[str, ProviderSettings], dict[str, Adapter]]:
    """The manifest's jobs, each provider's settings (the manifest's ``providers:``
    section over the defaults; base URL and key from the environment) and an adapter per provider."""
    jobs, parsed = load_jobs(RunRequest(manifest))
    settings = resolve_settings(parsed.provider_settings)
    adapters = {p: ADAPTERS[p](settings[p].base_url, settings[p].api_key) for p in {j.provider for j in jobs}}
    return jobs, settings, adapters


async def send(session: aiohttp.ClientSession, req: HttpRequest, timeout_s: float) -> HttpResponse:
    """Send one request and read its whole answer within ``timeout_s`` seconds
    (raises aiohttp.ClientError, asyncio.TimeoutError)."""
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with session.request(req.method, req.url, headers=req.headers, json=req.json, timeout=timeout) as resp:
        body = await resp.read()
        return HttpResponse(resp.status, {k.lower(): v for k, v in resp.headers.items()}, body)


def result_line(job: Job, task_id: str, status: str, video_url: str = "", error: str = "") -> dict[str, Any]:
    """One output record."""
    return {"job_id": job.job_id, "provider": job.provider, "task_id": task_id, "status": status,
            "video_url": video_url, "error": error}
