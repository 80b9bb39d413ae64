"""Shared simulator machinery: tasks, records, rate limits, faults, videos.

Provider modules decide the wire format; this module decides what happens:
whether a submit is admitted (rate limit, in-flight cap, balance, quota),
when a task finishes and how, and which fault an API request gets. Everything
random comes from one ``random.Random(seed)``. Times are the event loop's clock.
"""

from __future__ import annotations

import asyncio
import random
import struct
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from .config import ProviderSimConfig, SimConfig

__all__ = ["SimState", "Task", "Submission", "RequestRecord", "video_bytes"]

QUEUED, PROCESSING, SUCCEEDED, FAILED = "queued", "processing", "succeeded", "failed"


@dataclass
class Task:
    """One simulated task: ``outcome`` is succeeded, failed or stuck."""

    provider: str
    task_id: str
    body: dict[str, Any]
    submitted_at: float
    finishes_at: float
    outcome: str = SUCCEEDED
    message: str = ""
    code: int = 0

    def phase(self, now: float) -> str:
        """queued (first fifth), processing, then the outcome."""
        if self.outcome == "stuck" or now < self.finishes_at:
            start = self.submitted_at + (self.finishes_at - self.submitted_at) / 5
            return QUEUED if now < start else PROCESSING
        return self.outcome

    def progress(self, now: float) -> int:
        """0..100."""
        span = max(self.finishes_at - self.submitted_at, 1e-9)
        return max(0, min(100, int(100 * (now - self.submitted_at) / span)))


@dataclass
class Submission:
    """An accepted submit: time, task id, parsed body, idempotency key."""

    t: float
    task_id: str
    body: dict[str, Any]
    idempotency_key: str | None = None


@dataclass
class RequestRecord:
    """Any request the simulator answered."""

    t: float
    provider: str
    kind: str
    http_status: int
    task_id: str | None
    accepted: bool
    refusal: str | None = None


def video_bytes(size: int, task_id: str) -> bytes:
    """A small deterministic body that starts with an MP4 ``ftyp`` box."""
    head = struct.pack(">I", 24) + b"ftypisom" + b"\0\0\2\0" + b"isomiso2"
    pad = (task_id.encode() * (size // max(len(task_id), 1) + 1))[: max(0, size - len(head))]
    return head + pad


@dataclass
class SimState:
    """Everything the simulator remembers, for its handlers and for tests."""

    config: SimConfig
    rng: random.Random = field(init=False)
    requests: list[RequestRecord] = field(default_factory=list)
    submissions: dict[str, list[Submission]] = field(default_factory=lambda: defaultdict(list))
    tasks: dict[str, Task] = field(default_factory=dict)
    idempotency: dict[tuple[str, str], str] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _rejected_submits: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def __post_init__(self) -> None:
        self.rng = random.Random(self.config.seed)

    # -- clock and config -----------------------------------------------------
    def now(self) -> float:
        """The event loop's clock (seconds)."""
        return asyncio.get_running_loop().time()

    def unix(self, t: float) -> int:
        """Unix seconds of loop time ``t``."""
        return int(time.time() - (self.now() - t))

    def cfg(self, provider: str) -> ProviderSimConfig:
        """The provider's simulator settings."""
        return self.config.providers[provider]

    def record(self, provider: str, kind: str, status: int, task_id: str | None = None,
               accepted: bool = False, refusal: str | None = None) -> None:
        """Note one answered request (``refusal``: why a submit was refused)."""
        self.requests.append(RequestRecord(self.now(), provider, kind, status, task_id, accepted, refusal))

    # -- submits ----------------------------------------------------------------
    def admit(self, provider: str) -> str | None:
        """Why a submit is refused now (``rate``, ``quota``, ``balance``,
        ``in_flight``), or None when it may be accepted."""
        c, now = self.cfg(provider), self.now()
        subs = self.submissions[provider]
        if c.quota_after is not None and len(subs) >= c.quota_after:
            return "quota"
        if c.balance is not None and len(subs) >= c.balance:
            return "balance"
        if c.rpm is not None:
            allowance = c.rpm * c.window_s / 60.0
            recent = sum(1 for s in subs[-int(allowance) - 2:] if s.t > now - c.window_s)
            if recent + 1 > allowance + 1e-9:
                return "rate"
        if c.max_in_flight is not None and self.in_flight(provider) >= c.max_in_flight:
            return "rate"
        return None

    def create(self, provider: str, task_id: str, body: dict[str, Any], prompt: str,
               idempotency_key: str | None = None) -> Task:
        """Accept a submit: a new task whose fate follows the config."""
        c, now = self.cfg(provider), self.now()
        task = Task(provider, task_id, body, now, now + c.generation_s)
        if c.content_policy_marker and c.content_policy_marker in (prompt or ""):
            task.outcome, task.message, task.code = FAILED, "content policy violation", 1027
        elif self.rng.random() < c.stuck_rate:
            task.outcome = "stuck"
            self.faults["stuck"] += 1
        elif self.rng.random() < c.fail_rate:
            task.outcome, task.message, task.code = FAILED, "generation failed", 1000
            self.faults["task_failure"] += 1
        self.tasks[task_id] = task
        self.submissions[provider].append(Submission(now, task_id, body, idempotency_key))
        if idempotency_key:
            self.idempotency[(provider, idempotency_key)] = task_id
        return task

    def in_flight(self, provider: str) -> int:
        """Tasks of ``provider`` submitted and not yet finished."""
        now = self.now()
        return sum(1 for t in self.tasks.values() if t.provider == provider and t.phase(now) in (QUEUED, PROCESSING))

    def fault(self, provider: str) -> str | None:
        """The fault this API request gets, if any (one draw per kind)."""
        c = self.cfg(provider)
        for kind, rate in (("reset", c.reset_rate), ("slow", c.slow_rate), ("error_5xx", c.error_rate),
                           ("html", c.html_error_rate), ("rate_limit", c.rate_limit_rate),
                           ("truncated", c.truncated_rate)):
            if rate and self.rng.random() < rate:
                self.faults[kind] += 1
                return kind
        return None

    # -- for tests --------------------------------------------------------------
    def max_in_flight_seen(self, provider: str) -> int:
        """Most tasks of ``provider`` in flight at once, over the whole run."""
        events = []
        for t in self.tasks.values():
            if t.provider == provider:
                events += [(t.submitted_at, 1), (t.finishes_at if t.outcome != "stuck" else float("inf"), -1)]
        peak = cur = 0
        for _, d in sorted(events, key=lambda e: (e[0], e[1])):
            cur += d
            peak = max(peak, cur)
        return peak

    def max_submits_in_window(self, provider: str, window_s: float, since: float = float("-inf")) -> int:
        """Most accepted submits of ``provider`` in any window of ``window_s`` s."""
        times = [s.t for s in self.submissions[provider] if s.t >= since]
        best = j = 0
        for i, t in enumerate(times):
            while times[j] <= t - window_s:
                j += 1
            best = max(best, i - j + 1)
        return best

    def polls_for(self, task_id: str) -> int:
        """Poll requests answered for one task."""
        return sum(1 for r in self.requests if r.task_id == task_id and r.kind == "poll")

    def first_429_at(self, provider: str) -> float | None:
        """Time of the first rate-limit answer to a submit of ``provider``."""
        for r in self.requests:
            if r.provider == provider and r.kind == "submit" and r.refusal in ("rate", "rate_limit"):
                return r.t
        return None
