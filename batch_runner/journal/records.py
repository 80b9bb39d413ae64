"""A journal's records, shared by both backends: job statuses, JobRecord (one job's
row with its download, QA, review and earlier attempts), record_maker (a row to a
record, by position), Capture (an answer an adapter could not read) and Push (a
callback push a receive service recorded). sqlite.py and postgres.py store them;
the later stages read them.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import operator
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = ["FINAL_STATUSES", "RESUMABLE_FAILURES", "Capture", "JobRecord", "JobStatus", "Push", "record_maker"]


class JobStatus(enum.StrEnum):
    """A job's status in the journal (the word stored in the ``status`` column)."""

    PENDING = "pending"  # not yet sent
    SUBMITTING = "submitting"  # a submit's intent recorded; its answer not yet
    SUBMITTED = "submitted"  # task id known, in flight
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"  # possibly submitted, task id not received
    SKIPPED_BUDGET = "skipped_budget"  # not sent: over a budget cap
    CANCELLED = "cancelled"  # its queued task was cancelled (batch-runner cancel): never polled again


#: the statuses a job ends a run in (a later run may still take one up again)
FINAL_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.UNKNOWN, JobStatus.SKIPPED_BUDGET,
                  JobStatus.CANCELLED)


class Push(NamedTuple):
    """One callback push a ``batch-runner receive`` service recorded (table ``pushes``):
    ``received_at`` in unix seconds."""

    id: int
    job_id: str
    attempt: int
    body: str
    signature: str | None
    received_at: float


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One job's journal record: the ``jobs`` row and its download, if saved.

    ``job``: the job's fields as JSON (``job_fields()`` decodes it);
    ``attempts``: submits sent; ``submitted_at`` / ``finished_at`` /
    ``url_expires_at`` / ``updated_at``: unix seconds; ``cost_credits`` /
    ``cost_usd``: what the provider charged (None: nothing recorded);
    ``providers_tried``: provider names joined by ``|``; ``generation``: the
    job's deliberate new attempts so far (0 for its first; ``submit_generation``
    says which one a submit now uses); ``idempotency_key``: the
    ``Idempotency-Key`` header of its last submit sent (None: none sent);
    ``key_id``: the key of the provider's pool that sent it, ``label:fingerprint``
    (keys.PoolKey.key_id; its task is polled with that key); ``file_id``: the
    provider's id of the finished video where it has one (MiniMax, gpt.ge: a
    later download asks ``files/retrieve`` for a fresh URL with it). The download:
    ``local_path`` (absolute path of the saved video), ``size_bytes``,
    ``sha256``; None when not saved. QA of the saved video (output/qa.py):
    ``qa_status`` (passed/failed/warning/skipped; None: not checked),
    ``qa_problems`` (codes joined by ``;``), ``qa_details``, ``video_width`` /
    ``video_height`` px, ``video_duration_s``, ``video_codec``, ``video_fps``;
    ``rerolls``: QA-failed videos replaced by a new generation, which cost
    ``rerolled_usd`` / ``rerolled_credits`` (not in ``cost_usd``/``cost_credits``).
    Earlier attempts (table ``attempts``: tasks a later submit replaced):
    ``earlier_attempts`` (how many), ``earlier_paid`` (of them succeeded or
    charged), ``earlier_usd`` / ``earlier_credits`` (their known cost),
    ``earlier_unknown_usd`` (paid ones of unknown USD price),
    ``earlier_task_ids`` (``;``-joined, oldest first; None: none).
    ``delivered_url``: the latest copy of its video in the team's storage (run --deliver), or None.
    A person's review of its current task (table ``reviews``, output/review.py): ``review``
    (approved / rejected / None), ``review_note``; ``review_rerolls``: rejected tasks of it
    already replaced by a new submit (run --reroll-rejected).
    """

    job_id: str
    job: str = "{}"
    provider: str = ""
    status: JobStatus = JobStatus.PENDING
    task_id: str | None = None
    attempts: int = 0
    submitted_at: float | None = None
    finished_at: float | None = None
    video_url: str | None = None
    url_expires_at: float | None = None
    cost_credits: float | None = None
    cost_usd: float | None = None
    error_code: str | None = None
    provider_code: str | None = None
    error_message: str | None = None
    providers_tried: str | None = None
    updated_at: float = 0.0
    generation: int = 0
    idempotency_key: str | None = None
    key_id: str | None = None
    file_id: str | None = None
    local_path: str | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    qa_status: str | None = None
    qa_problems: str | None = None
    qa_details: str | None = None
    video_width: int | None = None
    video_height: int | None = None
    video_duration_s: float | None = None
    video_codec: str | None = None
    video_fps: float | None = None
    rerolls: int = 0
    rerolled_usd: float = 0.0
    rerolled_credits: float = 0.0
    earlier_attempts: int = 0
    earlier_paid: int = 0
    earlier_usd: float = 0.0
    earlier_unknown_usd: int = 0
    earlier_credits: float = 0.0
    earlier_task_ids: str | None = None
    delivered_url: str | None = None
    review: str | None = None
    review_note: str | None = None
    review_rerolls: int = 0

    @classmethod
    def from_row(cls, row: sqlite3.Row | Mapping[str, Any]) -> JobRecord:
        """The record of one row of the journal's ``_SELECT`` (a sqlite3.Row or a mapping)."""
        if isinstance(row, sqlite3.Row):
            return record_maker(tuple(row.keys()))(tuple(row))
        return record_maker(tuple(row))(tuple(row.values()))

    def job_fields(self) -> dict[str, Any]:
        """The job's fields as recorded (``Job`` attribute names)."""
        fields: dict[str, Any] = json.loads(self.job)
        return fields

    @property
    def charged(self) -> bool:
        """Whether a cost is recorded (the provider charged for this job)."""
        return self.cost_usd is not None or self.cost_credits is not None

    @property
    def paid_attempts(self) -> int:
        """The job's paid attempts: its earlier ones that succeeded or were
        charged, and its last one if it did."""
        return self.earlier_paid + (self.status == JobStatus.SUCCEEDED or self.charged)

    @property
    def usd_all_attempts(self) -> float | None:
        """What every paid attempt of the job cost, USD; None when a paid
        attempt's USD price is unknown (an unknown price is never 0)."""
        now_unknown = (self.status == JobStatus.SUCCEEDED or self.charged) and self.cost_usd is None
        if now_unknown or self.earlier_unknown_usd:
            return None
        return self.earlier_usd + (self.cost_usd or 0.0)

    @property
    def credits_all_attempts(self) -> float | None:
        """The credits every attempt of the job was charged (None: none recorded)."""
        if self.cost_credits is None and not self.earlier_credits:
            return None
        return self.earlier_credits + (self.cost_credits or 0.0)

    @property
    def possibly_paid(self) -> bool:
        """Whether a provider may hold a task of this job (so it may have cost
        money): a task id, a submit whose answer was lost, or a recorded cost."""
        return (self.task_id is not None or self.charged
                or self.status in (JobStatus.SUBMITTING, JobStatus.UNKNOWN))

    @property
    def submit_generation(self) -> int:
        """The attempt generation a submit of this job sends now: the same as
        the last submit's while that submit's fate is not known (``unknown``, or
        ``submitting``: a retry or a failover within a run), so a provider that
        dedupes by idempotency key makes no second task; one more once a
        submit was sent and the job then ended or was put back (a failed job
        under ``--retry-failed``, a re-roll of a finished one): a new task."""
        if self.attempts == 0 or self.status in (JobStatus.UNKNOWN, JobStatus.SUBMITTING):
            return self.generation
        return self.generation + 1

    @property
    def resumable(self) -> bool:
        """Whether a run polls this job's task again instead of submitting it:
        its task id is known and it is in flight, or it failed on ``timeout``
        (the task may still finish) or on ``unrecognised_answer`` (its answers
        could not be read: once the adapter is fixed, polling it again may
        recover the video that was paid for)."""
        return self.task_id is not None and (
            self.status == JobStatus.SUBMITTED
            or (self.status == JobStatus.FAILED and self.error_code in RESUMABLE_FAILURES)
        )

    def rerollable(self, max_rerolls: int) -> bool:
        """Whether ``run --reroll-qa-failed`` submits this job again: it
        succeeded, its saved video failed QA, and it has been re-rolled fewer
        than ``max_rerolls`` times."""
        return self.status == JobStatus.SUCCEEDED and self.qa_status == "failed" and self.rerolls < max_rerolls

    def review_rerollable(self, max_rerolls: int) -> bool:
        """Whether ``run --reroll-rejected`` submits this job again: it
        succeeded, a person rejected its video, and fewer than ``max_rerolls``
        of its rejected tasks were replaced already."""
        return (self.status == JobStatus.SUCCEEDED and self.review == "rejected"
                and self.review_rerolls < max_rerolls)

    @property
    def replacement_prompt(self) -> str | None:
        """The prompt a re-roll of this rejected job sends instead of the
        manifest's: the text after ``prompt:`` of a ``review_note`` that starts
        so (None: no replacement)."""
        note = (self.review_note or "").strip()
        if note[:7].lower() == "prompt:" and note[7:].strip():
            return note[7:].strip()
        return None


RESUMABLE_FAILURES: frozenset[str] = frozenset({"timeout", "unrecognised_answer"})
"""Failure codes of a job whose task may still hold its video: a run polls it again."""

_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(JobRecord))
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(JobRecord)}
#: columns of the select that are 0 when the job has no qa or attempts row (NULL from the LEFT JOIN)
_ZERO_WHEN_NONE = ("rerolls", "rerolled_usd", "rerolled_credits", "earlier_attempts", "earlier_paid", "earlier_usd",
                   "earlier_unknown_usd", "earlier_credits", "review_rerolls")
_STATUSES = {s.value: s for s in JobStatus}


@functools.lru_cache(maxsize=16)
def record_maker(names: tuple[str, ...]) -> Callable[[tuple[Any, ...]], JobRecord]:
    """A function making the JobRecord of one row (a tuple) whose columns are ``names``
    (those of the journal's ``_SELECT``: ``bytes`` is ``size_bytes``; columns that are
    no field are ignored; fields without a column keep their default): the fields are
    picked by position, about 4 µs a row, where a dict per row cost 24 µs."""
    at = {("size_bytes" if n == "bytes" else n): i for i, n in enumerate(names)}
    absent = [name for name in _RECORD_FIELDS if name not in at]
    tail = tuple(_DEFAULTS[name] for name in absent)
    pick = operator.itemgetter(*(at[n] if n in at else len(names) + absent.index(n) for n in _RECORD_FIELDS))
    status_at = _RECORD_FIELDS.index("status")
    zero_at = [_RECORD_FIELDS.index(n) for n in _ZERO_WHEN_NONE]

    def make(row: tuple[Any, ...]) -> JobRecord:
        values = list(pick(row + tail if tail else row))
        status = values[status_at]
        values[status_at] = _STATUSES.get(status) or JobStatus(status)
        for i in zero_at:
            if not values[i]:
                values[i] = 0
        return JobRecord(*values)

    return make


@dataclass(frozen=True)
class Capture:
    """An answer an adapter could not read, kept as evidence (already redacted
    and bounded by run/captures.py): the ``job_id`` and ``provider`` it came
    for, ``captured_at`` (unix seconds), the ``request`` that caused it (a
    summary: method, url, headers, json), the answer's HTTP ``status``,
    ``headers`` and ``body`` excerpt, the adapter's ``reason``, and the capture
    ``file`` written beside the journal (None: not written)."""

    job_id: str
    provider: str
    captured_at: float
    request: dict[str, Any]
    status: int
    headers: dict[str, str]
    body: str
    reason: str
    file: str | None = None
