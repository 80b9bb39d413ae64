"""gccai (a white-label mirror of APIMart): ``/v1/videos/generations`` and ``/v1/tasks/{id}``.

The submit answer's ``data`` is a list (``data[0].task_id``) or, in APIMart's
newer response version, an object with ``id``; resolution is lower-case; a
running task says ``processing`` or ``in_progress``; the URL sits at
``data.result.videos[0].url[0]`` with ``expires_at`` (unix seconds), which wins
over the documented 72 h lifetime (data/providers.yaml ``url_ttl_s``, counted
from ``data.completed``). An answer with ``"success": false`` is an error
whatever its HTTP status. The wire protocol is INFERRED to be APIMart's
(gccai's page is APIMart's, word for word), and so is the error envelope
``{"error": {"code", "message", "type"}}``. Submits carry ``Idempotency-Key``
(per attempt, base.idempotency_key); gccai is treated as idempotent (data/providers.yaml),
so an ``unknown`` submit is sent again under the same key and answered with the
original task, the answer saying ``Idempotency-Replayed: true`` (logged). INFERRED:
issue 27's reading of APIMart's ``references/api-contract.md``
(https://github.com/apimart-ai/apimart-skills), a repository not available to check.

Sources (seen 2026-11):
- submit: https://gccai.heqingsong.uk/en/api-reference/videos/minimax-hailuo-2.3/generation
  (same text: https://docs.apimart.ai/en/api-reference/videos/minimax-hailuo-2.3/generation)
- status (pending, processing, completed, failed, cancelled):
  https://docs.apimart.ai/en/api-reference/tasks/status
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from batch_runner.errors import ProviderError
from batch_runner.logs import event
from batch_runner.providers.base import Adapter, KeyCheck, dig
from batch_runner.providers.taxonomy import classify_http, failure_code
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

__all__ = ["GccaiAdapter"]


class GccaiAdapter(Adapter):
    """APIMart-compatible protocol (Bearer key, ``{"error": {...}}`` errors)."""

    name = "gccai"
    idempotency_header = "Idempotency-Key"

    def build_submit(self, job: Job) -> HttpRequest:
        body: dict[str, Any] = {
            "model": self.model_id(job),
            "prompt": job.prompt,
            "duration": job.duration,
            "resolution": job.resolution.lower(),  # lower-case: 768p, 1080p
        }
        if job.image:
            body["first_frame_image"] = job.image
        for name, value in (("prompt_optimizer", job.prompt_optimizer),
                            ("fast_pretreatment", job.fast_pretreatment),
                            ("watermark", job.watermark)):
            if value is not None:
                body[name] = value
        return HttpRequest("POST", self.url("/v1/videos/generations"), self.headers(), body)

    def _ok(self, resp: HttpResponse) -> dict[str, Any]:
        body = resp.json()
        if isinstance(body, dict) and body.get("success") is False:
            raise self._refused(resp, body)
        if resp.status >= 300 or (isinstance(body, dict) and "error" in body and "data" not in body):
            err = dig(body, "error")
            msg = dig(err, "message") if isinstance(err, dict) else err
            return_code = dig(err, "code") if isinstance(err, dict) else ""
            raise self.error(resp, body, code=dig(err, "type") or return_code, message=msg)
        if not isinstance(body, dict):
            raise self.bad_response(resp, "not a JSON object")
        return body

    def _refused(self, resp: HttpResponse, body: dict[str, Any]) -> ProviderError:
        """The ProviderError of a ``"success": false`` answer: classified by its
        ``code`` when that is an HTTP status (the answer itself may be a 200)."""
        err = body.get("error")
        msg = body.get("message") or (dig(err, "message") if isinstance(err, dict) else err) or "success: false"
        code = body.get("code")
        status = code if isinstance(code, int) and 400 <= code < 600 else resp.status
        error_code, _ = classify_http(status if status >= 400 else 400, str(msg), True)
        return self.error(resp, body, code=code if code is not None else "", message=msg, error_code=error_code)

    def parse_submit(self, resp: HttpResponse) -> str:
        body = self._ok(resp)
        task_id = dig(body, "data", 0, "task_id") or dig(body, "data", "task_id") or dig(body, "data", "id")
        if not task_id:
            raise self.bad_response(resp, "no data[0].task_id (or data.id) in the submit answer")
        if resp.headers.get("idempotency-replayed", "").lower() == "true":
            event("idempotent_replay", "gccai answered a resent submit with its original task %s "
                  "(Idempotency-Replayed: nothing paid twice)", task_id, task_id=str(task_id))
        return str(task_id)

    def build_poll(self, task_id: str) -> HttpRequest:
        return HttpRequest("GET", self.url(f"/v1/tasks/{task_id}"), self.headers())

    #: the key check polls a made-up ``task_<ULID>``; a status request is free
    key_check_task_id = "task_00000000000000000000000000"

    def read_key_check(self, resp: HttpResponse) -> KeyCheck:
        """401/403 ``bad_key``; the provider's JSON "not found" ``ok`` (Adapter.read_key_check).
        APIMart's newer answers carry the error as HTTP 200 ``{"success": false, "code": N}``:
        N is read as the status would be."""
        body = resp.json()
        if isinstance(body, dict) and body.get("success") is False:
            code = body.get("code")
            said = f": {str(body.get('message', ''))[:120]}" if body.get("message") else ""
            if code in (401, 403, "401", "403"):
                return KeyCheck("bad_key", f"success false, code {code}{said}")
            if code in (429, "429") or (isinstance(code, int) and code >= 500):
                return KeyCheck("unclear", f"success false, code {code}{said}: try again later")
            return KeyCheck("ok", f"key accepted (the made-up task: success false, code {code}{said})")
        return super().read_key_check(resp)

    def parse_poll(self, resp: HttpResponse) -> PollResult:
        data = dig(self._ok(resp), "data")
        if not isinstance(data, dict):
            raise self.bad_response(resp, "no data object")
        status = str(data.get("status", "")).lower()
        if status in ("pending", "submitted", ""):
            return PollResult(PENDING)
        if status in ("processing", "in_progress"):
            return PollResult(RUNNING)
        if status == "completed":
            video = dig(data, "result", "videos", 0) or {}
            url = dig(video, "url")
            url = url[0] if isinstance(url, list) and url else url
            if not isinstance(url, str) or not url:
                raise self.bad_response(resp, "completed without result.videos[0].url[0]")
            expires = video.get("expires_at") if isinstance(video, dict) else None
            if not isinstance(expires, (int, float)) or isinstance(expires, bool):
                done = data.get("completed")
                start = done if isinstance(done, (int, float)) and not isinstance(done, bool) else time.time()
                expires = start + self.info.url_ttl_s if self.info.url_ttl_s else None
            return PollResult(SUCCEEDED, video_url=url, url_expires_at=expires)
        if status in ("failed", "cancelled"):
            err = data.get("error")
            msg = dig(err, "message") if isinstance(err, dict) else err
            msg = str(msg or status)
            return PollResult(FAILED, error_code=failure_code(msg), provider_code=status, message=msg)
        raise self.bad_response(resp, f"unknown status {status!r}")
