"""apiin.one: image-to-video only; ``duration`` is a string.

The status answer is not published anywhere: its shape is INFERRED. The URL is
looked for at ``data.output.video_url``, then ``data.video_url``, then
``output.video_url``, and status words are compared without case (as the one
public client does); the failure text is read from ``data.error``.

Source (seen 2026-11): https://apiin.one/es/models/hailuo-2-3 (submit body and
answer, ``GET /api/v1/tasks/{task_id}`` "until status is 'completed' or
'failed'", the error body).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from batch_runner.providers.base import Adapter, dig
from batch_runner.providers.taxonomy import failure_code
from batch_runner.providers.wire import (
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    HttpRequest,
    HttpResponse,
    PollResult,
)

if TYPE_CHECKING:
    from batch_runner.jobs.model import Job

__all__ = ["ApiinoneAdapter"]

_DONE = {"completed", "success", "succeeded"}
_FAIL = {"failed", "error", "cancelled"}


class ApiinoneAdapter(Adapter):
    """apiin.one BFF protocol (Bearer key, ``{"error": {...}}`` errors)."""

    name = "apiinone"

    def build_submit(self, job: Job) -> HttpRequest:
        body = {
            "model": self.model_id(job),
            "prompt": job.prompt,
            "image": job.image,
            "duration": str(job.duration),  # a string: "6" / "10"
            "resolution": job.resolution,
        }
        return HttpRequest("POST", self.url("/api/v1/videos/generations"), self.headers(), body)

    def _ok(self, resp: HttpResponse) -> dict[str, Any]:
        body = resp.json()
        err = dig(body, "error")
        if resp.status >= 300 or (isinstance(err, dict) and "data" not in body):
            msg = dig(err, "message") if isinstance(err, dict) else err
            code = dig(err, "type") if isinstance(err, dict) else ""
            error_code = None
            if failure_code(str(msg or "")) == "content_policy" and resp.status < 500:
                error_code = "content_policy"
            raise self.error(resp, body, code=code, message=msg, error_code=error_code)
        if not isinstance(body, dict):
            raise self.bad_response(resp, "not a JSON object")
        return body

    def parse_submit(self, resp: HttpResponse) -> str:
        task_id = dig(self._ok(resp), "data", "task_id")
        if not task_id:
            raise self.bad_response(resp, "no data.task_id in the submit answer")
        return str(task_id)

    def build_poll(self, task_id: str) -> HttpRequest:
        return HttpRequest("GET", self.url(f"/api/v1/tasks/{task_id}"), self.headers())

    #: the key check polls a made-up task id (``n<node>_...``); a status request is free
    key_check_task_id = "n0_batch-runner-key-check"

    def parse_poll(self, resp: HttpResponse) -> PollResult:
        body = self._ok(resp)
        inner = body.get("data")
        data: dict[str, Any] = inner if isinstance(inner, dict) else body
        if "status" not in data:  # not a documented shape
            raise self.bad_response(resp, "no status")
        status = str(data.get("status", "")).lower()
        if status in _DONE:
            url = (
                dig(data, "output", "video_url")
                or dig(data, "video_url")
                or dig(body, "output", "video_url")
            )
            if not isinstance(url, str) or not url:
                raise self.bad_response(resp, "completed without a video_url")
            return PollResult(SUCCEEDED, video_url=url)
        if status in _FAIL:
            err = data.get("error")
            msg = str((dig(err, "message") if isinstance(err, dict) else err) or status)
            return PollResult(FAILED, error_code=failure_code(msg), provider_code=status, message=msg)
        if status in ("in_progress", "processing", "running"):
            return PollResult(RUNNING)
        if status in ("pending", "queued", ""):
            return PollResult(PENDING)
        raise self.bad_response(resp, f"unknown status {status!r}")
