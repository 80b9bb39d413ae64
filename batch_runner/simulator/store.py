"""The simulator's store: tasks, request records, limits, faults and balance.

Provider modules decide the wire format; the store decides what happens:
whether a submit is admitted (sliding-window rate limit, in-flight cap,
balance, quota), when a task finishes and how, which fault an API request
gets, and when a video URL expires. It also answers the questions tests ask
(peak concurrency, submits per window, polls per task). Random decisions come
from ``random.Random(seed)`` (ids from a second generator, so they do not
shift the fault sequence). Times are the event loop's clock, in seconds.
The videos themselves are served by ``videos.py``.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from batch_runner.simulator.clips import VIDEO_FAULTS

if TYPE_CHECKING:
    from batch_runner.simulator.config import ProviderSimConfig, SimConfig

__all__ = [
    "FAILED", "PROCESSING", "QUEUED", "RATE_REASONS", "REQUEST_FAULTS", "STORE_KEY", "STUCK", "SUCCESS",
    "RequestRecord", "SimStore", "Submission", "Task",
]

QUEUED, PROCESSING, SUCCESS, FAILED = "queued", "processing", "succeeded", "failed"
STUCK = "stuck"  # an outcome: the task never finishes
CONTENT_FAIL_FRACTION = 0.25  # a content-policy failure ends early (apiframe: 5 s vs 100 s, §6.2)
#: fault kind -> the ProviderSimConfig field with its probability per API request,
#: drawn in this order. Add new kinds here and their answer in
#: base.ProviderSim.fault_response (task-level kinds go in SimStore.create).
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
    video_fault: str | None = None
    key: str = ""  # the API key that made it (polls with another key: not found)

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
    """An accepted submit: loop time, task id, parsed body, idempotency key, API key."""

    t: float
    task_id: str
    body: dict[str, Any]
    idempotency_key: str | None = None
    key: str = ""


@dataclass
class RequestRecord:
    """One answered request. ``kind``: submit, poll, retrieve, video, other;
    ``reason``: why it was refused or faulted (``invalid``, ``rate``,
    ``in_flight``, ``balance``, ``quota``, ``content``, ``auth``, ``not_found``,
    ``idempotent_replay``, ``expired``, ``range`` (416) or a fault kind, e.g.
    ``video_cut``); ``range_start``: for a video asked with ``Range``, the
    first byte asked for; ``key``: the API key the request carried (``""``: none read)."""

    t: float
    provider: str
    kind: str
    http_status: int
    task_id: str | None
    accepted: bool
    reason: str | None = None
    range_start: int | None = None
    key: str = ""


class SimStore:
    """Everything the simulator remembers, for its handlers and for tests.

    ``requests``: every answered request; ``submissions``: provider -> accepted
    submits; ``tasks``: task_id -> Task; ``idempotency``: (provider, key) ->
    task_id; ``files``: minimax/gptge file_id -> task_id; ``video_faults``:
    task_id -> the video fault its task got (clips.VIDEO_FAULTS).
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
        self.video_faults: dict[str, str] = {}
        self._unix_offset: float | None = None

    # -- clock, config, records ---------------------------------------------------
    def now(self) -> float:
        """The event loop's clock (seconds)."""
        return asyncio.get_running_loop().time()

    def unix(self, t: float) -> int:
        """Unix seconds of loop time ``t`` (one fixed offset, so stable)."""
        return int(self.unix_exact(t))

    def unix_exact(self, t: float) -> float:
        """``unix`` with its fraction (a signed URL's ``Expires`` in a test lasting 0.3 s)."""
        if self._unix_offset is None:
            self._unix_offset = time.time() - self.now()
        return t + self._unix_offset

    def signed(self, url: str, task: Task) -> str:
        """``url`` signed until the task's URL expiry (``Expires``: unix seconds,
        as an object store's signed URL): MiniMax's ``download_url``, which
        answers 403 once that time has passed, even after a newer retrieve."""
        end = self.url_expires_at(task)
        return url if end is None else f"{url}?Expires={self.unix_exact(end):.3f}&Signature=sim"

    def signature_expired(self, expires: str | None) -> bool:
        """Whether a signed URL's ``Expires`` (unix seconds) has passed (None: not signed)."""
        if expires is None:
            return False
        try:
            return self.unix_exact(self.now()) >= float(expires)
        except ValueError:
            return True

    def cfg(self, provider: str) -> ProviderSimConfig:
        """The provider's simulator settings."""
        return self.config.providers[provider]

    def record(self, provider: str, kind: str, status: int, task_id: str | None = None,
               accepted: bool = False, reason: str | None = None, range_start: int | None = None,
               key: str = "") -> None:
        """Note one answered request (``key``: the API key it carried)."""
        self.requests.append(RequestRecord(self.now(), provider, kind, status, task_id,
                                           accepted, reason, range_start, key))

    def new_id(self, make: Callable[[random.Random], str]) -> str:
        """A fresh task id from ``make(random.Random)``, unique in this run."""
        while (task_id := make(self.ids)) in self.tasks:
            pass
        return task_id

    # -- submits ------------------------------------------------------------------
    def admit(self, provider: str, key: str = "") -> str | None:
        """Why a submit with API key ``key`` is refused now (``rate``, ``in_flight``:
        of the provider or of that key; ``balance``, ``quota``), or None."""
        c, now = self.cfg(provider), self.now()
        if c.rpm is not None and self._in_window(provider, now) + 1 > c.rpm * c.window_s / 60 + 1e-9:
            return "rate"
        key_rpm = c.rpm_of(key)
        if key_rpm is not None and self._in_window(provider, now, key) + 1 > key_rpm * c.window_s / 60 + 1e-9:
            return "rate"
        if c.max_in_flight is not None and self.in_flight(provider) >= c.max_in_flight:
            return "in_flight"
        if c.key_max_in_flight is not None and self.in_flight(provider, key) >= c.key_max_in_flight:
            return "in_flight"
        if c.balance is not None and len(self.submissions[provider]) >= c.balance:
            return "balance"
        if c.quota is not None and len(self.submissions[provider]) >= c.quota:
            return "quota"
        return None

    def _in_window(self, provider: str, now: float, key: str | None = None) -> int:
        times = [s.t for s in self.submissions[provider] if key is None or s.key == key]
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
               idempotency_key: str | None = None, meta: dict[str, Any] | None = None,
               video_path: str = "", key: str = "") -> Task:
        """Accept a submit: a new task whose fate follows the config and the
        policy markers in ``prompt``; a task that will succeed keeps
        ``video_path`` (where its video is served, see videos.video_path); ``key``:
        the API key that made it."""
        c, now = self.cfg(provider), self.now()
        task = Task(provider, task_id, body, now, now + c.generation_s,
                    idempotency_key=idempotency_key, meta=dict(meta or {}), key=key)
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
            task.video_path = video_path
            task.video_fault = self._video_fault(c)
            if task.video_fault:
                self.video_faults[task_id] = task.video_fault
                self.faults[task.video_fault] += 1
        self.tasks[task_id] = task
        self.submissions[provider].append(Submission(now, task_id, body, idempotency_key, key))
        if idempotency_key:
            self.idempotency[(provider, idempotency_key)] = task_id
        return task

    def _video_fault(self, c: ProviderSimConfig) -> str | None:
        """The video fault a succeeding task gets (one draw per configured kind)."""
        for kind, attr in VIDEO_FAULTS.items():
            rate = getattr(c, attr)
            if rate and self.rng.random() < rate:
                return kind
        return None

    def in_flight(self, provider: str, key: str | None = None) -> int:
        """Tasks of ``provider`` (made with API key ``key``, when given) submitted and
        not yet finished."""
        now = self.now()
        return sum(1 for t in self.tasks.values()
                   if t.provider == provider and t.ends_at > now and (key is None or t.key == key))

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
        if task.meta.get("purged"):  # apiframe's ``expired``: the CDN assets are gone
            return task.finishes_at
        ttl = self.config.url_ttl_s.get(task.provider)
        if ttl is None:
            return None
        start: float = task.meta.get("retrieved_at", task.finishes_at)
        return start + ttl

    def url_expired(self, task: Task) -> bool:
        """Whether the task's video URL has expired."""
        end = self.url_expires_at(task)
        return end is not None and self.now() >= end

    # -- for tests ----------------------------------------------------------------
    def max_in_flight_seen(self, provider: str) -> int:
        """Most tasks of ``provider`` in flight at once, over the whole run."""
        return _peak([t for t in self.tasks.values() if t.provider == provider])

    def max_submits_in_window(self, provider: str, window_s: float,
                              since: float | None = None) -> int:
        """Most accepted submits of ``provider`` in any ``window_s``-second window
        (only those at or after loop time ``since``, when given)."""
        return _max_in_window([s.t for s in self.submissions[provider]
                               if since is None or s.t >= since], window_s)

    def max_submits_in_window_by_key(self, provider: str, window_s: float,
                                     since: float | None = None) -> dict[str, int]:
        """API key -> most accepted submits of ``provider`` with that key in any
        ``window_s``-second window (only those at or after loop time ``since``,
        when given), so a test can see whether a key ever went over its limit."""
        by_key: dict[str, list[float]] = defaultdict(list)
        for s in self.submissions[provider]:
            if since is None or s.t >= since:
                by_key[s.key].append(s.t)
        return {key: _max_in_window(times, window_s) for key, times in by_key.items()}

    def max_in_flight_seen_by_key(self, provider: str) -> dict[str, int]:
        """API key -> most tasks of ``provider`` made with that key in flight at once."""
        by_key: dict[str, list[Task]] = defaultdict(list)
        for t in self.tasks.values():
            if t.provider == provider:
                by_key[t.key].append(t)
        return {key: _peak(tasks) for key, tasks in by_key.items()}

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


def _peak(tasks: list[Task]) -> int:
    """Most of ``tasks`` in flight at once (from submit to end)."""
    events = sorted([(t.submitted_at, 1) for t in tasks] + [(t.ends_at, -1) for t in tasks])
    peak = cur = 0
    for _, delta in events:
        cur += delta
        peak = max(peak, cur)
    return peak


def _max_in_window(times: list[float], window_s: float) -> int:
    """Most of the sorted ``times`` inside any half-open window of ``window_s``."""
    best = j = 0
    for i, t in enumerate(times):
        while times[j] <= t - window_s:
            j += 1
        best = max(best, i - j + 1)
    return best


STORE_KEY = web.AppKey("sim_store", SimStore)
