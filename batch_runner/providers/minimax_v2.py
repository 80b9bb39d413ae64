"""MiniMax's Video Generation V2 API (the H3 models): create, query, cancel.

One request shape for every mode: ``content`` is a list of parts, each with a
``type`` (``text``, ``image_url``, ``video_url``, ``audio_url``) and, for
media, a ``role`` (``first_frame``, ``last_frame``, ``reference_image``,
``reference_video``, ``reference_audio``). The query answers ``task.status``
(``queued``, ``running``, ``succeeded``, ``failed``, ``cancelled``) and, on
success, the video's URL at ``task.content.url`` (no files/retrieve step).
Errors are real HTTP statuses with an OpenAI-style body
``{"type": "error", "error": {"type", "message", "http_code"}, "request_id"}``;
the message ends with MiniMax's internal code in brackets, e.g. ``(2013)``.

Sources (seen 2026-12; docs/minimax-v2.md has the table of facts):
- create: https://platform.minimax.io/docs/api-reference/video-generation-v2-create
  (CN: https://platform.minimaxi.com/docs/api-reference/video-generation-v2-create)
- query: https://platform.minimax.io/docs/api-reference/video-generation-v2-query
- cancel or delete: https://platform.minimax.io/docs/api-reference/video-generation-v2-delete:
  ``DELETE /v2/video_generation/{task_id}`` cancels a ``queued`` task (``action``
  ``cancelled``, not billed); a ``running`` or ``cancelled`` task is refused
  with an error; a finished one has its record deleted (``action`` ``deleted``).
- request examples: https://github.com/MiniMax-AI/MiniMax-H3 (scripts/readme/*.sh,
  commit 8d8824efaf94586c0cc9ac7ad8d0723d4d6420ea)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from batch_runner.providers.base import Adapter, KeyCheck, dig, web_page
from batch_runner.providers.taxonomy import MINIMAX_CODES
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

__all__ = ["CancelResult", "MinimaxV2Adapter"]

#: content part type of each reference role
_PART = {"reference_image": "image_url", "reference_video": "video_url", "reference_audio": "audio_url"}
#: MiniMax's internal code at the end of an error message: "... (2013)"
_CODE = re.compile(r"\((\d{3,5})\)\s*$")
#: the ratio sent for a text-to-video task, which must name one (not ``adaptive``, SEEN);
#: 16:9 is INFERRED (the create page's example; a manifest has no ratio field yet)
TEXT_RATIO = "16:9"


@dataclass(frozen=True)
class CancelResult:
    """What a cancel request did: ``cancelled`` True when the task was queued and
    is now cancelled (not billed); otherwise ``message`` is the provider's
    answer (a running task cannot be cancelled), ``code`` its internal code."""

    cancelled: bool
    message: str = ""
    code: str = ""


class MinimaxV2Adapter(Adapter):
    """MiniMax ``/v2/video_generation`` protocol (Bearer key, OpenAI-style errors)."""

    name = "minimax_v2"
    submit_path = "/v2/video_generation"
    query_path = "/v2/query/video_generation/"
    key_check_task_id = "000000000000000"

    def build_submit(self, job: Job) -> HttpRequest:
        content: list[dict[str, Any]] = [{"type": "text", "text": job.prompt}]
        if job.image:
            content.append({"type": "image_url", "image_url": {"url": job.image}, "role": "first_frame"})
        if job.end_image:
            content.append({"type": "image_url", "image_url": {"url": job.end_image}, "role": "last_frame"})
        for role, ref in job.references:
            part = _PART[role]
            content.append({"type": part, part: {"url": ref}, "role": role})
        body: dict[str, Any] = {
            "model": self.model_id(job),
            "content": content,
            "resolution": job.resolution,  # 768P, 2K (H3); 480P, 768P (H3-Max)
            "duration": job.duration,
            # SEEN: text-to-video needs a concrete ratio; frames and references: adaptive
            "ratio": TEXT_RATIO if len(content) == 1 else "adaptive",
        }
        if job.watermark is not None:
            body["aigc_watermark"] = job.watermark
        return HttpRequest("POST", self.url(self.submit_path), self.headers(), body)

    def _raise_for_error(self, resp: HttpResponse) -> Any:
        """The JSON body of a 2xx answer; raises ProviderError for an error answer."""
        body = resp.json()
        if 200 <= resp.status < 300 and not (isinstance(body, dict) and body.get("type") == "error"):
            return body
        message = str(dig(body, "error", "message") or dig(body, "message") or "")
        found = _CODE.search(message)
        code = found.group(1) if found else ""
        mapped = MINIMAX_CODES.get(int(code)) if code else None
        if mapped is not None and resp.status < 500:
            return self._raise(resp, body, code, message, mapped[0])
        return self._raise(resp, body, code, message, None)

    def _raise(self, resp: HttpResponse, body: Any, code: str, message: str, error_code: str | None) -> Any:
        raise self.error(resp, body, code=code or dig(body, "error", "type") or "", message=message,
                         error_code=error_code)

    def parse_submit(self, resp: HttpResponse) -> str:
        body = self._raise_for_error(resp)
        task_id = dig(body, "task_id")
        if not isinstance(task_id, (str, int)) or isinstance(task_id, bool) or not str(task_id):
            raise self.bad_response(resp, "no task_id in the submit answer")
        return str(task_id)

    def build_poll(self, task_id: str) -> HttpRequest:
        return HttpRequest("GET", self.url(self.query_path + task_id), self.headers())

    def parse_poll(self, resp: HttpResponse) -> PollResult:
        body = self._raise_for_error(resp)
        task = dig(body, "task")
        if not isinstance(task, dict) or not isinstance(task.get("status"), str):
            raise self.bad_response(resp, "no task.status")
        status = task["status"].lower()
        if status == "succeeded":
            url = dig(task, "content", "url")
            if not isinstance(url, str) or not url:
                raise self.bad_response(resp, "succeeded without task.content.url")
            return PollResult(SUCCEEDED, video_url=url)
        if status == "queued":
            return PollResult(PENDING)
        if status == "running":
            return PollResult(RUNNING)
        if status == "cancelled":
            return PollResult(FAILED, error_code="cancelled", message="the task was cancelled while queued")
        if status == "failed":
            code = str(dig(task, "error", "code") or "")
            message = str(dig(task, "error", "message") or "task failed")
            mapped = MINIMAX_CODES.get(int(code)) if code.isdigit() else None
            error_code = "content_policy" if mapped and mapped[0] == "content_policy" else "task_failed"
            return PollResult(FAILED, error_code=error_code, provider_code=code, message=message)
        raise self.bad_response(resp, f"unknown status {task['status']!r}")

    # -- cancel ------------------------------------------------------------------
    def build_cancel(self, task_id: str) -> HttpRequest:
        """The request that cancels a queued task: ``DELETE /v2/video_generation/{task_id}``."""
        return HttpRequest("DELETE", self.url(f"{self.submit_path}/{task_id}"), self.headers())

    def parse_cancel(self, resp: HttpResponse) -> CancelResult:
        """What the cancel did. A refusal (the task is running, or already
        cancelled) is a CancelResult with the provider's message, not an error;
        a rate limit, a bad key or a server error raises ProviderError."""
        body = resp.json()
        if 200 <= resp.status < 300 and isinstance(body, dict) and body.get("type") != "error":
            action = str(body.get("action") or body.get("status") or "")
            if action == "cancelled":
                return CancelResult(True)
            return CancelResult(False, f"the provider answered action {action!r} (the task had finished)")
        if resp.status in (400, 404, 409, 422):
            message = str(dig(body, "error", "message") or resp.body[:200].decode("utf-8", "replace"))
            found = _CODE.search(message)
            return CancelResult(False, message, found.group(1) if found else "")
        return self._raise_for_error(resp) or CancelResult(False, f"HTTP {resp.status}")

    def read_key_check(self, resp: HttpResponse) -> KeyCheck:
        """401/403 ``bad_key``; 429 and 5xx ``unclear``; another answer in V2's
        error shape (the made-up task unknown) or a task ``ok``; else ``not_api``."""
        page = web_page(resp)
        if page is not None:
            return KeyCheck("not_api", f"the host answered {page}")
        body = resp.json()
        message = str(dig(body, "error", "message") or "")[:120]
        said = f": {message}" if message else ""
        if resp.status in (401, 403):
            return KeyCheck("bad_key", f"HTTP {resp.status}{said}")
        if resp.status == 429 or resp.status >= 500:
            return KeyCheck("unclear", f"HTTP {resp.status}{said}: try again later")
        if isinstance(body, dict) and (body.get("type") == "error" or "task" in body):
            return KeyCheck("ok", f"key accepted (the made-up task: HTTP {resp.status}{said})")
        return KeyCheck("not_api", f"HTTP {resp.status} JSON that is not this provider's")

