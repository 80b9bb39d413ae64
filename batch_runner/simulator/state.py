"""Shared simulator machinery: tasks, records, limits, faults, balance, videos.

Provider modules decide the wire format; this module decides what happens:
whether a submit is admitted (sliding-window rate limit, in-flight cap,
balance), when a task finishes and how, which fault an API request gets, and
whether a video URL still works. Random decisions come from
``random.Random(seed)`` (ids from a second generator, so they do not shift the
fault sequence). Times are the event loop's clock, in seconds.

Videos are ``sample.mp4`` (beside this file: 2 s of SMPTE bars, 160x90,
10 fps, AV1 in MP4, 1593 bytes; AV1 is royalty-free, so even a Chromium built
without proprietary codecs plays it) followed by an MP4 ``free`` box that
makes each task's file unique and the configured size (``video_body``), served
whole or by byte range and, as a fault, cut mid-transfer (``handle_video``). The
sample was made once, with the ffmpeg binary of ``pip install imageio-ffmpeg``
(0.6.0, ffmpeg 9.0.2) in a throwaway venv; neither is a dependency::

    ffmpeg -f lavfi -i smptebars=size=160x90:rate=10:duration=2 \
        -c:v libaom-av1 -crf 50 -cpu-used 4 -row-mt 0 -threads 1 -g 20 \
        -pix_fmt yuv420p -movflags +faststart -map_metadata -1 \
        -fflags +bitexact -flags +bitexact sample.mp4
"""

from __future__ import annotations

import asyncio
import bisect
import math
import random
import struct
import time
from collections import defaultdict
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from aiohttp import hdrs, web

from batch_runner.simulator.config import ProviderSimConfig, SimConfig

__all__ = [
    "FAILED", "PROCESSING", "QUEUED", "REQUEST_FAULTS", "STATE_KEY", "STUCK", "SUCCESS",
    "RequestRecord", "SimState", "Submission", "Task", "handle_video", "video_body",
]

QUEUED, PROCESSING, SUCCESS, FAILED = "queued", "processing", "succeeded", "failed"
STUCK = "stuck"  # an outcome: the task never finishes
CONTENT_FAIL_FRACTION = 0.25  # a content-policy failure ends early (apiframe: 5 s vs 100 s, §6.2)
#: fault kind -> the ProviderSimConfig field with its probability per API request,
#: drawn in this order. Add new kinds here and their answer in
#: base.ProviderSim.fault_response (task-level kinds go in SimState.create).
REQUEST_FAULTS: dict[str, str] = {
    "reset": "reset_rate",
    "slow": "slow_rate",
    "server_error": "error_rate",
    "html": "html_error_rate",
    "rate_limit": "rate_limit_rate",
    "truncated": "truncated_rate",
}


@dataclass
class Task:
    """One simulated task. ``outcome``: succeeded, failed or stuck (never
    finishes); ``reason``: why it failed (``content``: the input marker,
    ``output``: the output marker, ``failure``: ``fail_rate``); ``variant``: the n-th failure of its
    provider, which may pick between documented failure bodies; ``meta``:
    provider extras (gptproto model path, minimax file_id, retrieve time)."""

    provider: str
    task_id: str
    body: dict[str, Any]
    submitted_at: float
    finishes_at: float
    outcome: str = SUCCESS
    reason: str | None = None
    variant: int = 0
    video_path: str = ""
    idempotency_key: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ends_at(self) -> float:
        """When the task stops being in flight (inf when stuck)."""
        return math.inf if self.outcome == STUCK else self.finishes_at

    def phase(self, now: float) -> str:
        """queued for the first fifth of the run, processing, then the outcome."""
        if now >= self.ends_at:
            return self.outcome
        start = self.submitted_at + (self.finishes_at - self.submitted_at) / 5
        return QUEUED if now < start else PROCESSING

    def progress(self, now: float) -> int:
        """Percent 0..100 of the time from submit to finish."""
        span = max(self.finishes_at - self.submitted_at, 1e-9)
        return max(0, min(100, int(100 * (now - self.submitted_at) / span)))


@dataclass
class Submission:
    """An accepted submit: loop time, task id, parsed body, idempotency key."""

    t: float
    task_id: str
    body: dict[str, Any]
    idempotency_key: str | None = None


@dataclass
class RequestRecord:
    """One answered request. ``kind``: submit, poll, retrieve, video, other;
    ``reason``: why it was refused or faulted (``invalid``, ``rate``,
    ``in_flight``, ``balance``, ``quota``, ``content``, ``auth``, ``not_found``,
    ``idempotent_replay``, ``expired``, ``range`` (416) or a fault kind, e.g.
    ``video_cut``); ``range_start``: for a video asked with ``Range``, the
    first byte asked for."""

    t: float
    provider: str
    kind: str
    http_status: int
    task_id: str | None
    accepted: bool
    reason: str | None = None
    range_start: int | None = None


#: a real, playable MP4 (see the module docstring for how it was made)
SAMPLE_MP4 = resources.files(__package__).joinpath("sample.mp4").read_bytes()


def video_body(size: int, task_id: str) -> bytes:
    """The task's video: ``SAMPLE_MP4`` then a ``free`` box (which players
    skip) holding the task id, zero-padded so the whole is ``size`` bytes.
    Still a valid MP4, and distinct per task id. A ``size`` too small for the
    sample, the 8-byte box header and the id gives that minimum instead
    (``len(SAMPLE_MP4) + 8 + len(task_id)`` bytes): never a broken video."""
    tag = task_id.encode()
    payload = tag + bytes(max(size - len(SAMPLE_MP4) - 8 - len(tag), 0))
    return SAMPLE_MP4 + struct.pack(">I", 8 + len(payload)) + b"free" + payload


class SimState:
    """Everything the simulator remembers, for its handlers and for tests.

    ``requests``: every answered request; ``submissions``: provider -> accepted
    submits; ``tasks``: task_id -> Task; ``idempotency``: (provider, key) ->
    task_id; ``files``: minimax/gptge file_id -> task_id.
    """

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.ids = random.Random(f"ids-{config.seed}")
        self.requests: list[RequestRecord] = []
        self.submissions: dict[str, list[Submission]] = defaultdict(list)
        self.tasks: dict[str, Task] = {}
        self.idempotency: dict[tuple[str, str], str] = {}
        self.files: dict[str, str] = {}
        self.failures: dict[str, int] = defaultdict(int)
        self.faults: dict[str, int] = defaultdict(int)  # kind -> times injected
        self._unix_offset: float | None = None

    # -- clock, config, records ---------------------------------------------------
    def now(self) -> float:
        """The event loop's clock (seconds)."""
        return asyncio.get_running_loop().time()

    def unix(self, t: float) -> int:
        """Unix seconds of loop time ``t`` (one fixed offset, so stable)."""
        if self._unix_offset is None:
            self._unix_offset = time.time() - self.now()
        return int(t + self._unix_offset)

    def cfg(self, provider: str) -> ProviderSimConfig:
        """The provider's simulator settings."""
        return self.config.providers[provider]

    def record(self, provider: str, kind: str, status: int, task_id: str | None = None,
               accepted: bool = False, reason: str | None = None, range_start: int | None = None) -> None:
        """Note one answered request."""
        self.requests.append(RequestRecord(self.now(), provider, kind, status, task_id,
                                           accepted, reason, range_start))

    def new_id(self, make: Any) -> str:
        """A fresh task id from ``make(random.Random)``, unique in this run."""
        while (task_id := make(self.ids)) in self.tasks:
            pass
        return task_id

    # -- submits ------------------------------------------------------------------
    def admit(self, provider: str) -> str | None:
        """Why a submit is refused now (``rate``, ``in_flight``, ``balance``,
        ``quota``), or None."""
        c, now = self.cfg(provider), self.now()
        if c.rpm is not None and self._in_window(provider, now) + 1 > c.rpm * c.window_s / 60 + 1e-9:
            return "rate"
        if c.max_in_flight is not None and self.in_flight(provider) >= c.max_in_flight:
            return "in_flight"
        if c.balance is not None and len(self.submissions[provider]) >= c.balance:
            return "balance"
        if c.quota is not None and len(self.submissions[provider]) >= c.quota:
            return "quota"
        return None

    def _in_window(self, provider: str, now: float) -> int:
        times = [s.t for s in self.submissions[provider]]
        return len(times) - bisect.bisect_right(times, now - self.cfg(provider).window_s)

    def retry_after(self, provider: str, refusal: str) -> float:
        """Seconds until a refused submit (``rate``/``in_flight``) could pass."""
        c, now = self.cfg(provider), self.now()
        if refusal == "rate":
            times = [s.t for s in self.submissions[provider]]
            inside = times[bisect.bisect_right(times, now - c.window_s):]
            return max(0.0, inside[0] + c.window_s - now) if inside else 0.0
        ends = [t.ends_at for t in self.tasks.values()
                if t.provider == provider and now < t.ends_at < math.inf]
        return max(0.0, min(ends) - now) if ends else 0.0

    def create(self, provider: str, task_id: str, body: dict[str, Any], *, prompt: str = "",
               idempotency_key: str | None = None, meta: dict[str, Any] | None = None) -> Task:
        """Accept a submit: a new task whose fate follows the config and the
        policy markers in ``prompt``."""
        c, now = self.cfg(provider), self.now()
        task = Task(provider, task_id, body, now, now + c.generation_s,
                    idempotency_key=idempotency_key, meta=dict(meta or {}))
        if c.content_policy_marker and c.content_policy_marker in prompt:
            task.outcome, task.reason = FAILED, "content"
            task.finishes_at = now + c.generation_s * CONTENT_FAIL_FRACTION
        elif c.output_policy_marker and c.output_policy_marker in prompt:
            task.outcome, task.reason = FAILED, "output"
        elif c.stuck_rate and self.rng.random() < c.stuck_rate:
            task.outcome = STUCK
            self.faults["stuck"] += 1
        elif c.fail_rate and self.rng.random() < c.fail_rate:
            task.outcome, task.reason = FAILED, "failure"
            self.faults["task_failure"] += 1
        # further task-level fault kinds are decided here
        if task.outcome == FAILED:
            task.variant = self.failures[provider]
            self.failures[provider] += 1
        elif task.outcome == SUCCESS:
            task.video_path = f"/videos/{provider}/{task_id}.mp4"
        self.tasks[task_id] = task
        self.submissions[provider].append(Submission(now, task_id, body, idempotency_key))
        if idempotency_key:
            self.idempotency[(provider, idempotency_key)] = task_id
        return task

    def in_flight(self, provider: str) -> int:
        """Tasks of ``provider`` submitted and not yet finished."""
        now = self.now()
        return sum(1 for t in self.tasks.values() if t.provider == provider and t.ends_at > now)

    def fault(self, provider: str) -> str | None:
        """The fault this API request gets, if any (one draw per configured kind)."""
        c = self.cfg(provider)
        for kind, attr in REQUEST_FAULTS.items():
            rate = getattr(c, attr)
            if rate and self.rng.random() < rate:
                self.faults[kind] += 1
                return kind
        return None

    # -- video URLs ---------------------------------------------------------------
    def url_expires_at(self, task: Task) -> float | None:
        """Loop time when the task's video URL stops working (None: never).
        minimax/gptge count from the latest files/retrieve, others from completion."""
        ttl = self.config.url_ttl_s.get(task.provider)
        if ttl is None:
            return None
        return task.meta.get("retrieved_at", task.finishes_at) + ttl

    def url_expired(self, task: Task) -> bool:
        """Whether the task's video URL has expired."""
        end = self.url_expires_at(task)
        return end is not None and self.now() >= end

    # -- for tests ----------------------------------------------------------------
    def max_in_flight_seen(self, provider: str) -> int:
        """Most tasks of ``provider`` in flight at once, over the whole run."""
        events = []
        for t in self.tasks.values():
            if t.provider == provider:
                events += [(t.submitted_at, 1), (t.ends_at, -1)]
        peak = cur = 0
        for _, delta in sorted(events):
            cur += delta
            peak = max(peak, cur)
        return peak

    def max_submits_in_window(self, provider: str, window_s: float,
                              since: float | None = None) -> int:
        """Most accepted submits of ``provider`` in any ``window_s``-second window
        (only those at or after loop time ``since``, when given)."""
        return _max_in_window([s.t for s in self.submissions[provider]
                               if since is None or s.t >= since], window_s)

    def max_requests_in_window(self, provider: str, kind: str, window_s: float,
                               since: float | None = None) -> int:
        """Most requests of ``kind`` (accepted or not) to ``provider`` in any
        ``window_s``-second window, at or after ``since`` when given."""
        return _max_in_window([r.t for r in self.requests if r.provider == provider
                               and r.kind == kind and (since is None or r.t >= since)], window_s)

    def first_429_at(self, provider: str) -> float | None:
        """Loop time of the first rate-limit answer to a submit of ``provider``
        (HTTP 429, or MiniMax's 1002 on HTTP 200), or None."""
        for r in self.requests:
            if r.provider == provider and r.kind == "submit" and r.reason in RATE_REASONS:
                return r.t
        return None

    def polls_for(self, task_id: str) -> int:
        """Poll requests answered for one task."""
        return sum(1 for r in self.requests if r.task_id == task_id and r.kind == "poll")


RATE_REASONS = ("rate", "in_flight", "rate_limit")


def _max_in_window(times: list[float], window_s: float) -> int:
    """Most of the sorted ``times`` inside any half-open window of ``window_s``."""
    best = j = 0
    for i, t in enumerate(times):
        while times[j] <= t - window_s:
            j += 1
        best = max(best, i - j + 1)
    return best


STATE_KEY = web.AppKey("sim_state", SimState)


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
    """
    state = request.app[STATE_KEY]
    provider, task_id = request.match_info["provider"], request.match_info["task_id"]
    task = state.tasks.get(task_id)
    if provider in state.config.providers and state.cfg(provider).latency_s:
        await asyncio.sleep(state.cfg(provider).latency_s)
    if task is None or task.provider != provider or task.phase(state.now()) != SUCCESS:
        state.record(provider, "video", 404, task_id, reason="not_found")
        return web.Response(status=404, text="Not Found")
    if state.url_expired(task):
        state.record(provider, "video", 404, task_id, reason="expired")
        return web.Response(status=404, text="Not Found")
    body = video_body(state.config.video_bytes, task_id)
    total, headers = len(body), {"Accept-Ranges": "bytes"}
    wanted = _byte_range(request, total)
    start, end, status = 0, total, 200
    if wanted is not None:
        start, end = wanted
        if start >= total:
            state.record(provider, "video", 416, task_id, reason="range", range_start=start)
            return web.Response(status=416, headers={**headers, "Content-Range": f"bytes */{total}"})
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{total}"
    c = state.cfg(provider)
    keep = (end - start) // 2 if c.video_cut_after_bytes is None else max(c.video_cut_after_bytes, 0)
    cut = (request.method == "GET" and keep < end - start and bool(c.video_cut_rate)
           and state.rng.random() < c.video_cut_rate)
    state.record(provider, "video", status, task_id, reason="video_cut" if cut else None,
                 range_start=None if wanted is None else start)
    if not cut:
        return web.Response(status=status, body=body[start:end], content_type="video/mp4", headers=headers)
    state.faults["video_cut"] += 1
    resp = web.StreamResponse(status=status, headers=headers)
    resp.content_type, resp.content_length = "video/mp4", end - start
    await resp.prepare(request)
    await resp.write(body[start:start + keep])
    assert request.transport is not None
    request.transport.close()  # the connection drops mid-body, after what was sent
    return resp
