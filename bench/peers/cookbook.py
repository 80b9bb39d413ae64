"""Peer 2, the cookbook processor: the algorithm of the OpenAI cookbook's
``api_request_parallel_processor.py`` (https://github.com/openai/openai-cookbook,
examples/api_request_parallel_processor.py, seen 2026-12), written here from its
description and adapted to a submit-then-poll video API the way its users adapt it:
one "request" is a job's submit and its polls until the task ends.

- Per provider a capacity of requests per minute (``rpm``) that refills
  continuously and starts full, so a minute's allowance goes out at once.
- A main loop takes the next request (retries first), spends one unit of capacity
  when there is one, starts the request as a task, and sleeps 1 ms.
- After any rate-limit answer every provider pauses 15 s (scaled) from that answer.
- A failed request (any exception) is re-queued until its attempts (5) are spent.
- Each result is appended to the output file as it arrives; a rerun starts over.
- Polls every ``poll_interval_s``; no cap on tasks in flight (the algorithm has none).

    python bench/peers/cookbook.py MANIFEST OUT.jsonl MARKFILE SCALE
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import deque
from pathlib import Path

import aiohttp
from common import Job, load, mark, result_line, send

MAX_ATTEMPTS = 5
PAUSE_AFTER_RATE_LIMIT_S = 15.0


class RateLimited(Exception):
    """The provider answered with a rate limit."""


async def main(manifest: Path, out: Path, scale: float) -> None:
    jobs, settings, adapters = load(manifest)
    pause_s = PAUSE_AFTER_RATE_LIMIT_S / scale
    capacity = {p: settings[p].rpm for p in adapters}  # starts full
    updated = {p: time.monotonic() for p in adapters}
    queue: deque[tuple[Job, int]] = deque((j, MAX_ATTEMPTS) for j in jobs)
    retries: deque[tuple[Job, int]] = deque()
    last_rate_limit = -1e18
    in_progress = 0

    with out.open("a", encoding="utf-8") as sink:
        async with aiohttp.ClientSession() as session:

            async def call(job: Job, attempts_left: int) -> None:
                nonlocal in_progress, last_rate_limit
                adapter, s = adapters[job.provider], settings[job.provider]
                try:
                    resp = await send(session, adapter.build_submit(job), s.timeout_s)
                    if resp.status == 429:
                        raise RateLimited
                    task_id = adapter.read_submit(resp)
                    while True:
                        await asyncio.sleep(s.poll_interval_s)
                        resp = await send(session, adapter.build_poll(task_id), s.timeout_s)
                        if resp.status == 429:
                            raise RateLimited
                        state = adapter.read_poll(resp)
                        while state.follow_up is not None:
                            state = adapter.read_poll(await send(session, state.follow_up, s.timeout_s))
                        if state.finished:
                            sink.write(json.dumps(result_line(job, task_id, state.status, state.video_url)) + "\n")
                            sink.flush()
                            break
                except Exception as exc:
                    if isinstance(exc, RateLimited) or getattr(exc, "error_code", "") == "rate_limited":
                        last_rate_limit = time.monotonic()
                    if attempts_left:
                        retries.append((job, attempts_left))
                    else:
                        sink.write(json.dumps(result_line(job, "", "failed", error=repr(exc))) + "\n")
                        sink.flush()
                finally:
                    in_progress -= 1

            pending: tuple[Job, int] | None = None
            tasks = set()
            while True:
                if pending is None and (retries or queue):
                    pending = (retries or queue).popleft()
                now = time.monotonic()
                for p in capacity:
                    rpm = settings[p].rpm
                    capacity[p] = min(rpm, capacity[p] + rpm * (now - updated[p]) / 60.0)
                    updated[p] = now
                if pending is not None and capacity[pending[0].provider] >= 1:
                    job, attempts = pending
                    capacity[job.provider] -= 1
                    in_progress += 1
                    task = asyncio.create_task(call(job, attempts - 1))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    pending = None
                if pending is None and not queue and not retries and in_progress == 0:
                    break
                await asyncio.sleep(0.001)
                since = time.monotonic() - last_rate_limit
                if since < pause_s:
                    await asyncio.sleep(pause_s - since)


if __name__ == "__main__":
    mark(sys.argv[3])
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[4])))
