"""Peer 1, the short script: what a user writes in an afternoon.

``asyncio.gather`` over every job; per provider an ``asyncio.Semaphore(max_in_flight)``
held around the job's submit and polls; a fixed poll interval (the provider's
``poll_interval_s``, scaled like the simulator); any exception (an error
answer, a timeout, a dropped connection) retried up to 3 times after 1, 2, 4 s
(scaled); the results written at the end, no journal: a rerun starts over.

    python bench/peers/short_script.py MANIFEST OUT.jsonl MARKFILE SCALE
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp
from common import Adapter, HttpRequest, Job, load, mark, result_line, send


async def main(manifest: Path, out: Path, scale: float) -> None:
    jobs, settings, adapters = load(manifest)
    sems = {p: asyncio.Semaphore(settings[p].max_in_flight) for p in adapters}

    async with aiohttp.ClientSession() as session:

        async def call(adapter: Adapter, req: HttpRequest, timeout_s: float, read: Any) -> Any:
            for attempt in range(4):
                try:
                    return read(await send(session, req, timeout_s))
                except Exception:
                    if attempt == 3:
                        raise
                    await asyncio.sleep(2 ** attempt / scale)
            return None

        async def one(job: Job) -> dict[str, Any]:
            adapter, s = adapters[job.provider], settings[job.provider]
            async with sems[job.provider]:
                try:
                    task_id = await call(adapter, adapter.build_submit(job), s.timeout_s, adapter.read_submit)
                    while True:
                        await asyncio.sleep(s.poll_interval_s)
                        state = await call(adapter, adapter.build_poll(task_id), s.timeout_s, adapter.read_poll)
                        while state.follow_up is not None:
                            state = await call(adapter, state.follow_up, s.timeout_s, adapter.read_poll)
                        if state.finished:
                            return result_line(job, task_id, state.status, state.video_url)
                except Exception as exc:
                    return result_line(job, "", "failed", error=repr(exc))

        results = await asyncio.gather(*(one(j) for j in jobs))
    out.write_text("".join(json.dumps(r) + "\n" for r in results), encoding="utf-8")


if __name__ == "__main__":
    mark(sys.argv[3])
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[4])))
