"""The simulator's videos: per-task MP4 files, byte ranges and cut transfers.

A finished task's video is a real H.264 clip at the size and duration it
ordered (clips.py), spoiled as the task's video fault says
(``Task.video_fault``), followed by an MP4 ``free`` box (which players skip)
holding the task id, so each task's file is unique (``task_video``). With
``SimConfig.clips`` off, the clip is ``sample.mp4`` instead (beside this file:
2 s of SMPTE bars, 160x90, 10 fps, AV1 in MP4, 1593 bytes), padded to the
configured size (``video_body``): small files for tests of byte ranges. Either
is served whole or by byte range and, as a fault, cut mid-transfer
(``handle_video``, the route ``GET /videos/{provider}/{task_id}.mp4``). The
sample was made once, with the ffmpeg binary of ``pip install imageio-ffmpeg``
(0.6.0, ffmpeg 9.0.2) in a throwaway venv; neither is a dependency::

    ffmpeg -f lavfi -i smptebars=size=160x90:rate=10:duration=2 \
        -c:v libaom-av1 -crf 50 -cpu-used 4 -row-mt 0 -threads 1 -g 20 \
        -pix_fmt yuv420p -movflags +faststart -map_metadata -1 \
        -fflags +bitexact -flags +bitexact sample.mp4
"""

from __future__ import annotations

import asyncio
import struct
from importlib import resources

from aiohttp import hdrs, web

from batch_runner.simulator.clips import clip, delivered, opening_picture
from batch_runner.simulator.store import STORE_KEY, SUCCESS, SimStore, Task

__all__ = ["SAMPLE_MP4", "VIDEO_ROUTE", "handle_video", "task_video", "video_body", "video_path"]

#: where a finished task's video is served (``Task.video_path`` follows it)
VIDEO_ROUTE = "/videos/{provider}/{task_id}.mp4"


def video_path(provider: str, task_id: str) -> str:
    """The path of a task's video on the simulator, e.g. ``/videos/gccai/abc.mp4``."""
    return VIDEO_ROUTE.format(provider=provider, task_id=task_id)

#: a real, playable MP4 (see the module docstring for how it was made)
SAMPLE_MP4 = resources.files(__package__).joinpath("sample.mp4").read_bytes()


def video_body(size: int, task_id: str, mp4: bytes = SAMPLE_MP4) -> bytes:
    """A task's video: ``mp4`` (default ``SAMPLE_MP4``) then a ``free`` box (which players
    skip) holding the task id, zero-padded so the whole is ``size`` bytes.
    Still a valid MP4, and distinct per task id. A ``size`` too small for the
    sample, the 8-byte box header and the id gives that minimum instead
    (``len(SAMPLE_MP4) + 8 + len(task_id)`` bytes): never a broken video."""
    tag = task_id.encode()
    payload = tag + bytes(max(size - len(mp4) - 8 - len(tag), 0))
    return mp4 + struct.pack(">I", 8 + len(payload)) + b"free" + payload


def task_video(store: SimStore, task: Task) -> bytes:
    """The bytes served for a finished task: its clip (clips.clip at the
    delivered size and duration, with its video fault, opening on its
    first-frame image when sent as a data URI) in ``video_body``, padded
    to ``SimConfig.video_bytes`` when that is larger; the sample instead when
    ``SimConfig.clips`` is off."""
    if not store.config.clips:
        return video_body(store.config.video_bytes, task.task_id)
    width, height, duration = delivered(task.body, task.video_fault)
    mp4 = clip(width, height, duration, task.video_fault, opening_picture(task.body))
    return video_body(store.config.video_bytes, task.task_id, mp4)


#: what a video URL serves with the ``not_video`` knob: a web page, not a video
NOT_VIDEO_PAGE = "<!DOCTYPE html><html><head><title>Sign in</title></head><body>Please sign in.</body></html>"


def _byte_range(request: web.Request, total: int) -> tuple[int, int] | None:
    """The ``Range`` asked for as ``(start, end)`` (end exclusive, clipped to
    ``total``), or None for the whole file: no Range, or one this server does
    not take (several ranges, bad syntax), which RFC 9110 lets it ignore. A
    start at or beyond the end is returned as it is (the caller answers 416)."""
    if hdrs.RANGE not in request.headers:
        return None
    try:
        wanted = request.http_range
    except ValueError:
        return None
    if wanted.start is not None and wanted.start < 0:  # bytes=-N: the last N bytes
        return max(total + wanted.start, 0), total
    return wanted.start or 0, total if wanted.stop is None else min(wanted.stop, total)


async def handle_video(request: web.Request) -> web.StreamResponse:
    """``GET /videos/{provider}/{task_id}.mp4``: the task's video as video/mp4,
    404 while unfinished, unknown or after its URL lifetime.

    Byte ranges as CDNs serve them: ``Range: bytes=N-`` (also ``N-M``, ``-N``)
    gets 206 with ``Content-Range: bytes N-M/TOTAL``, a start beyond the end
    416 with ``Content-Range: bytes */TOTAL``; no Range (or one not
    understood) the whole file, 200. With ``video_cut_rate`` a transfer may be
    cut: the full length is announced, ``video_cut_after_bytes`` (None: half)
    are sent, then the connection drops (recorded with reason ``video_cut``).
    With ``not_video`` a finished task's URL serves NOT_VIDEO_PAGE as text/html.
    """
    store = request.app[STORE_KEY]
    provider, task_id = request.match_info["provider"], request.match_info["task_id"]
    task = store.tasks.get(task_id)
    if provider in store.config.providers and store.cfg(provider).latency_s:
        await asyncio.sleep(store.cfg(provider).latency_s)
    if task is None or task.provider != provider or task.phase(store.now()) != SUCCESS:
        store.record(provider, "video", 404, task_id, reason="not_found")
        return web.Response(status=404, text="Not Found")
    if store.signature_expired(request.query.get("Expires")):  # a signed URL past its time: 403, as OSS
        store.record(provider, "video", 403, task_id, reason="expired")
        return web.Response(status=403, text="AccessDenied: Request has expired", content_type="application/xml")
    if store.url_expired(task):
        store.record(provider, "video", 404, task_id, reason="expired")
        return web.Response(status=404, text="Not Found")
    if store.cfg(provider).not_video:
        store.record(provider, "video", 200, task_id, reason="not_video")
        return web.Response(status=200, text=NOT_VIDEO_PAGE, content_type="text/html")
    body = await asyncio.to_thread(task_video, store, task)  # a first encode takes ~0.2 s
    total, headers = len(body), {"Accept-Ranges": "bytes"}
    wanted = _byte_range(request, total)
    start, end, status = 0, total, 200
    if wanted is not None:
        start, end = wanted
        if start >= total:
            store.record(provider, "video", 416, task_id, reason="range", range_start=start)
            return web.Response(status=416, headers={**headers, "Content-Range": f"bytes */{total}"})
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{total}"
    c = store.cfg(provider)
    keep = (end - start) // 2 if c.video_cut_after_bytes is None else max(c.video_cut_after_bytes, 0)
    cut = (request.method == "GET" and keep < end - start and bool(c.video_cut_rate)
           and store.rng.random() < c.video_cut_rate)
    store.record(provider, "video", status, task_id, reason="video_cut" if cut else None,
                 range_start=None if wanted is None else start)
    if not cut:
        return web.Response(status=status, body=body[start:end], content_type="video/mp4", headers=headers)
    store.faults["video_cut"] += 1
    resp = web.StreamResponse(status=status, headers=headers)
    resp.content_type, resp.content_length = "video/mp4", end - start
    await resp.prepare(request)
    await resp.write(body[start:start + keep])
    assert request.transport is not None
    request.transport.close()  # the connection drops mid-body, after what was sent
    return resp
