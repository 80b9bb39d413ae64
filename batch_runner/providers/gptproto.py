"""gptproto: WaveSpeed-style ``/api/v3/minimax/{model}/{scene}`` predictions.

The key goes in ``Authorization``, raw (as the Hailuo pages' examples send it)
or as ``Bearer <key>`` (the authentication page, and gptproto's own SDKs:
https://github.com/gptproto-ai/gptproto-sdk ``gptproto-go-sdk/gptproto/client.go``,
``gptproto-python-sdk/gptproto/client.py``, ``docs/API.md``, commit
923e10e0fc426ee12ed6cbf96bdf94a870a4f96c). Which one a host takes is not guessed:
a submit or ``check`` answered 401 tries the other form once (``other_auth``; a
401 costs nothing), and the form that worked is used from then on; the
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
    #: the documented forms of ``Authorization``, the first tried first
    AUTH_FORMS = ("raw", "bearer")
    auth_form = "raw"

    def headers(self) -> dict[str, str]:
        """The key in ``Authorization`` in the current ``auth_form`` (raw, or
        ``Bearer <key>``), and the JSON content type."""
        key = self.api_key.reveal()
        return {"Authorization": f"Bearer {key}" if self.auth_form == "bearer" else key,
                "Content-Type": "application/json"}

    def other_auth(self, request: HttpRequest) -> HttpRequest | None:
        """``request`` with the other documented ``Authorization`` form (changed
        in place, so its later resends carry it too), switching this adapter to
        it; None once both have been tried."""
        if self.auth_form != self.AUTH_FORMS[0]:
            return None
        self.auth_form = self.AUTH_FORMS[1]
        request.headers.update(self.headers())
        return request

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
