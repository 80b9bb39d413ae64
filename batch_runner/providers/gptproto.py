"""gptproto: WaveSpeed-style ``/api/v3/minimax/{model}/{scene}`` predictions.

The key is sent raw in ``Authorization`` (as every documented example does;
the authentication page speaks of Bearer, and the simulator accepts both); the
model is a URL path segment; the URL is ``data.outputs[0]``. A content-policy
refusal arrives as HTTP 400 (the error table calls it "503 ... actual status
code is 400"): either way it is ``content_policy``. The submit answer is not
shown on the Hailuo page: it is INFERRED to be WaveSpeed's (``data.id``).

Sources (seen 2026-11):
- submit, auth, error table:
  https://docs.gptproto.com/docs/allapi/MiniMax/hailuo-2.3-standard/gptproto-format/text-to-video
- query answer: https://docs.gptproto.com/docs/api/qwen/wan-2.2-animate/gptproto-format/query-task
- error bodies: https://docs.gptproto.com/authentication
- the protocol it copies: https://wavespeed.ai/docs/submit-task
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

__all__ = ["GptprotoAdapter"]


class GptprotoAdapter(Adapter):
    """WaveSpeed-compatible protocol (raw key, ``{"error": {...}}`` errors)."""

    name = "gptproto"

    def headers(self) -> dict[str, str]:
        """The raw key in ``Authorization`` (no "Bearer"), and the JSON content type."""
        return {"Authorization": self.api_key.reveal(), "Content-Type": "application/json"}

    def build_submit(self, job: Job) -> HttpRequest:
        body: dict[str, Any] = {
            "prompt": job.prompt,
            "duration": job.duration,
            "resolution": job.resolution,
        }
        if job.image:
            body["image"] = job.image
        if job.end_image:
            body["end_image"] = job.end_image
        if job.prompt_optimizer is not None:
            body["enable_prompt_expansion"] = job.prompt_optimizer
        path = f"/api/v3/minimax/{self.model_id(job)}/{job.scene}"
        return HttpRequest("POST", self.url(path), self.headers(), body)

    def _ok(self, resp: HttpResponse) -> dict[str, Any]:
        body = resp.json()
        err = dig(body, "error")
        if resp.status >= 300 or (isinstance(err, dict) and "data" not in body):
            msg = dig(err, "message") if isinstance(err, dict) else err
            code = (dig(err, "code") or dig(err, "type")) if isinstance(err, dict) else ""
            error_code = None
            if resp.status in (400, 503) and failure_code(str(msg or "")) == "content_policy":
                error_code = "content_policy"
            raise self.error(resp, body, code=code, message=msg, error_code=error_code)
        data = dig(body, "data")
        if not isinstance(data, dict):
            raise self.bad_response(resp, "no data object")
        return data

    def parse_submit(self, resp: HttpResponse) -> str:
        task_id = self._ok(resp).get("id")
        if not task_id:
            raise self.bad_response(resp, "no data.id in the submit answer")
        return str(task_id)

    def build_poll(self, task_id: str) -> HttpRequest:
        return HttpRequest("GET", self.url(f"/api/v3/predictions/{task_id}/result"), self.headers())

    #: the key check polls a made-up 32-hex prediction id; a status request is free
    key_check_task_id = "00000000000000000000000000000000"

    def parse_poll(self, resp: HttpResponse) -> PollResult:
        data = self._ok(resp)
        status = str(data.get("status", "")).lower()
        if status in ("created", ""):
            return PollResult(PENDING)
        if status == "processing":
            return PollResult(RUNNING)
        if status == "completed":
            url = dig(data, "outputs", 0)
            if not isinstance(url, str) or not url:
                raise self.bad_response(resp, "completed without outputs[0]")
            return PollResult(SUCCEEDED, video_url=url)
        if status == "failed":
            msg = str(data.get("error") or "failed")
            return PollResult(FAILED, error_code=failure_code(msg), provider_code=status, message=msg)
        raise self.bad_response(resp, f"unknown status {status!r}")
