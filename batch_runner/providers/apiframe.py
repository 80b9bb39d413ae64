"""apiframe v2: ``POST /v2/videos/generate`` (HTTP 202) and ``GET /v2/jobs/{id}``.

Parameters nest under ``hailuoParams`` with lower-case resolution, and the
schema has ``additionalProperties: false``; the key goes in ``X-API-Key``.
Every submit carries an ``Idempotency-Key`` derived from the job id and its
attempt generation (base.idempotency_key): the same key within 24 h returns the
original job, so a lost submit answer is safe to resend, and a deliberate new
attempt (``--retry-failed``) sends a new key and makes a new task.

Sources (seen 2026-11):
- the Hailuo 2.3 request and credits: https://docs-v2.apiframe.ai/docs/videos/hailuo/hailuo-2-3
- the job answer (QUEUED, PROCESSING, COMPLETED, FAILED, CANCELLED;
  ``result.videoUrl``): https://docs-v2.apiframe.ai/docs/jobs/get
- ``expired``: "true once a COMPLETED job's CDN assets have been purged
  (default 24h retention). result URLs may 404" (the OpenAPI ``Job`` schema):
  such a job's URL is recorded as already expired, so a download says so.
- the OpenAPI spec (X-API-Key, Idempotency-Key, error bodies, 202):
  https://github.com/apiframe-ai/apiframe-nodejs-sdk (openapi.json)
- ``result`` has no declared shape in that spec (``Job.result: {}``); the SDK's
  own tests read it as a bare URL string (``test/jobs.test.ts``, commit
  9f9b4641352e7f263b1d190440d8ee9349bb667d): both shapes are read.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from batch_runner.providers.base import Adapter, dig, idempotency_key
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

__all__ = ["ApiframeAdapter"]


def _iso_to_unix(value: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class ApiframeAdapter(Adapter):
    """apiframe v2 protocol (X-API-Key, ``{"error": "..."}`` errors)."""

    name = "apiframe"
    idempotency_header = "Idempotency-Key"

    def headers(self) -> dict[str, str]:
        """``X-API-Key: <key>`` and the JSON content type."""
        return {"X-API-Key": self.api_key.reveal(), "Content-Type": "application/json"}

    def build_submit(self, job: Job) -> HttpRequest:
        params: dict[str, Any] = {
            "duration": job.duration,
            "resolution": job.resolution.lower(),  # lower-case: 768p, 1080p
        }
        if job.image:
            params["image"] = job.image
        if job.end_image:  # hailuoParams.end_image: hailuo-02 only (OpenAPI; the catalog checks it)
            params["end_image"] = job.end_image
        if job.prompt_optimizer is not None:
            params["prompt_optimizer"] = job.prompt_optimizer
        body = {"model": self.model_id(job), "prompt": job.prompt, "hailuoParams": params}
        headers = self.headers()
        headers[self.idempotency_header] = idempotency_key(job.job_id)  # submit_request: per attempt
        return HttpRequest("POST", self.url("/v2/videos/generate"), headers, body)

    def _ok(self, resp: HttpResponse) -> dict[str, Any]:
        body = resp.json()
        if resp.status >= 300:
            msg = dig(body, "error")
            details = dig(body, "details")
            if details:
                msg = f"{msg} {details}"
            raise self.error(resp, body, message=msg)
        if not isinstance(body, dict):
            raise self.bad_response(resp, "not a JSON object")
        return body

    def parse_submit(self, resp: HttpResponse) -> str:
        job_id = self._ok(resp).get("jobId")
        if not job_id:
            raise self.bad_response(resp, "no jobId in the submit answer")
        return str(job_id)

    def build_poll(self, task_id: str) -> HttpRequest:
        return HttpRequest("GET", self.url(f"/v2/jobs/{task_id}"), self.headers())

    #: the key check polls a made-up UUID (any other id is a 400); a status request is free
    key_check_task_id = "00000000-0000-4000-8000-000000000000"

    def parse_poll(self, resp: HttpResponse) -> PollResult:
        body = self._ok(resp)
        status = str(body.get("status", "")).upper()
        if status == "QUEUED":
            return PollResult(PENDING)
        if status == "PROCESSING":
            return PollResult(RUNNING)
        if status == "COMPLETED":
            # result has no declared shape (openapi.json Job.result: {}): the docs show
            # result.videoUrl, the SDK's own tests a bare URL string (test/jobs.test.ts)
            result = body.get("result")
            url = result if isinstance(result, str) else dig(result, "videoUrl")
            if not isinstance(url, str) or not url:
                raise self.bad_response(resp, "COMPLETED without result.videoUrl (or a result URL)")
            done = _iso_to_unix(body.get("completedAt"))
            ttl = self.info.url_ttl_s
            expires = done + ttl if done and ttl else None
            if body.get("expired") is True:  # the CDN assets were purged: the URL is gone
                expires = min(expires, time.time()) if expires else (done or time.time())
            return PollResult(SUCCEEDED, video_url=url, url_expires_at=expires)
        if status in ("FAILED", "CANCELLED"):
            msg = str(body.get("error") or status.lower())
            return PollResult(FAILED, error_code=failure_code(msg), provider_code=status, message=msg)
        raise self.bad_response(resp, f"unknown status {status!r}")
