"""gptproto: WaveSpeed-style ``/api/v3/minimax/{model}/{scene}`` predictions.

Source: shared/providers/README.md and RESEARCH.md §4. The key is sent raw in
``Authorization`` (the documented examples; the simulator also accepts Bearer);
the model is a URL path segment; the URL is ``data.outputs[0]``. A content-policy
refusal arrives as HTTP 400 (the seed's "503", also read as content policy).
"""

from __future__ import annotations

from typing import Any

from batch_runner.providers.base import (
    FAILED,
    RUNNING,
    SUCCEEDED,
    Adapter,
    HttpRequest,
    HttpResponse,
    TaskState,
    dig,
    failure_code,
)

__all__ = ["GptprotoAdapter"]


class GptprotoAdapter(Adapter):
    """WaveSpeed-compatible protocol (raw key, ``{"error": {...}}`` errors)."""

    name = "gptproto"

    def headers(self) -> dict[str, str]:
        """Raw-key ``Authorization`` header (SEEN §4.1)."""
        return {"Authorization": self.api_key.reveal(), "Content-Type": "application/json"}

    def build_submit(self, job: Any) -> HttpRequest:
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
        return HttpRequest("POST", self.url(path), self.headers(), body, "submit")

    def _ok(self, resp: HttpResponse) -> dict[str, Any]:
        body = resp.json()
        err = dig(body, "error")
        if resp.status >= 300 or (isinstance(err, dict) and "data" not in body):
            msg = dig(err, "message") if isinstance(err, dict) else err
            code = dig(err, "code") or dig(err, "type") if isinstance(err, dict) else ""
            error_code = None
            # content policy: HTTP 400 in practice, 503 in gptproto's own table (RESEARCH.md §4)
            if resp.status in (400, 503) and failure_code(str(msg or "")) == "content_policy":
                error_code = "content_policy"
            raise self.error(resp, body, code=code, message=msg, error_code=error_code)
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise self.bad_response(resp, "no data object")
        return body["data"]

    def parse_submit(self, resp: HttpResponse) -> str:
        data = self._ok(resp)
        task_id = data.get("id")
        if not task_id:
            raise self.bad_response(resp, "no data.id in the submit answer")
        return str(task_id)

    def build_poll(self, task_id: str) -> HttpRequest:
        return HttpRequest("GET", self.url(f"/api/v3/predictions/{task_id}/result"), self.headers())

    def parse_poll(self, resp: HttpResponse) -> TaskState:
        data = self._ok(resp)
        status = str(data.get("status", "")).lower()
        if status in ("created", ""):
            return TaskState("pending")
        if status == "processing":
            return TaskState(RUNNING)
        if status == "completed":
            url = dig(data, "outputs", 0)
            if not isinstance(url, str) or not url:
                raise self.bad_response(resp, "completed without outputs[0]")
            return TaskState(SUCCEEDED, video_url=url)
        if status == "failed":
            msg = str(data.get("error") or "failed")
            return TaskState(FAILED, error_code=failure_code(msg), provider_code=status, message=msg)
        raise self.bad_response(resp, f"unknown status {status!r}")
