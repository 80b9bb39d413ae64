"""MiniMax's own Hailuo 2.3 API: submit, query, then files/retrieve for the URL.

Errors arrive as HTTP 200 with a non-zero ``base_resp.status_code``: they are
never read as success. gptge.py reuses this module (it passes MiniMax through).

Sources (seen 2026-11):
- submit: https://platform.minimax.io/docs/api-reference/video-generation-t2v and
  https://platform.minimax.io/docs/api-reference/video-generation-i2v
- query (status words Preparing, Queueing, Processing, Success, Fail):
  https://platform.minimax.io/docs/api-reference/video-generation-query
- files/retrieve (``file.download_url``):
  https://platform.minimax.io/docs/api-reference/video-generation-download
- ``Fail`` is terminal whatever ``base_resp`` says, as MiniMax's own client reads
  it: https://github.com/MiniMax-AI/MiniMax-MCP (minimax_mcp/server.py)
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from batch_runner.errors import ProviderError
from batch_runner.providers.base import Adapter, dig
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

__all__ = ["MinimaxAdapter"]

#: Query status words (compared lower-case). gpt.ge's page also writes "Failed".
_WAITING = {"preparing", "queueing", ""}
_FAILED = {"fail", "failed"}


def _number(code: Any) -> int:
    """A ``base_resp.status_code`` as an int (-1 when it is not a number)."""
    try:
        return int(code)
    except (TypeError, ValueError, OverflowError):  # "x", {}, NaN, Infinity
        return -1


class MinimaxAdapter(Adapter):
    """MiniMax ``/v1/video_generation`` protocol (Bearer key, base_resp errors)."""

    name = "minimax"
    submit_path = "/v1/video_generation"
    retrieve_path = "/v1/files/retrieve"

    def build_submit(self, job: Job) -> HttpRequest:
        body: dict[str, Any] = {
            "model": self.model_id(job),
            "prompt": job.prompt,
            "duration": job.duration,
            "resolution": job.resolution,  # upper-case P: 768P, 1080P
        }
        if job.image:
            body["first_frame_image"] = job.image
        if job.prompt_optimizer is not None:
            body["prompt_optimizer"] = job.prompt_optimizer
        if job.fast_pretreatment is not None:
            body["fast_pretreatment"] = job.fast_pretreatment
        if job.watermark is not None and "watermark" in self.info.options:
            body["aigc_watermark"] = job.watermark  # INFERRED: only in third-party wrappers
        return HttpRequest("POST", self.url(self.submit_path), self.headers(), body)

    def _check(self, resp: HttpResponse) -> dict[str, Any]:
        """The JSON body of a 200 answer whose base_resp is 0; raises otherwise."""
        body = resp.json()
        if resp.status != 200:
            raise self.error(resp, body, message=dig(body, "base_resp", "status_msg") or "")
        if not isinstance(body, dict):
            raise self.bad_response(resp, "not a JSON object")
        code = dig(body, "base_resp", "status_code")
        # A non-zero code is an error whatever the status word says (it must not
        # be read as Success, nor as still running); only a "Fail" query is
        # terminal whatever base_resp says.
        status = body.get("status") or dig(body, "data", "status") or ""
        if code not in (0, None) and str(status).lower() not in _FAILED:
            raise self._base_resp_error(code, dig(body, "base_resp", "status_msg"))
        return body

    def _base_resp_error(self, code: Any, msg: Any) -> ProviderError:
        """ProviderError for a non-zero ``base_resp.status_code`` (taxonomy.MINIMAX_CODES)."""
        error_code, retryable = MINIMAX_CODES.get(_number(code), ("provider_error", False))
        return ProviderError(
            self.name,
            error_code,
            str(msg or ""),
            retryable=retryable,
            http_status=200,
            provider_code=str(code),
        )

    def parse_submit(self, resp: HttpResponse) -> str:
        task_id = self._check(resp).get("task_id")
        if not task_id or not isinstance(task_id, (str, int)):
            raise self.bad_response(resp, "no task_id in the submit answer")
        return str(task_id)

    def build_poll(self, task_id: str) -> HttpRequest:
        return HttpRequest(
            "GET", self.url(f"/v1/query/video_generation?task_id={task_id}"), self.headers()
        )

    def build_retrieve(self, file_id: str) -> HttpRequest:
        """The files/retrieve request that turns a ``file_id`` into a download URL."""
        return HttpRequest("GET", self.url(f"{self.retrieve_path}?file_id={file_id}"), self.headers())

    def parse_poll(self, resp: HttpResponse) -> PollResult:
        body = self._check(resp)
        if isinstance(body.get("file"), dict):  # a files/retrieve answer
            url = dig(body, "file", "download_url") or dig(body, "file", "backup_download_url")
            if not url:
                raise self.bad_response(resp, "no file.download_url")
            ttl = self.info.url_ttl_s  # the URL lives 9 h from this answer
            return PollResult(SUCCEEDED, video_url=url, url_expires_at=time.time() + ttl if ttl else None)
        if "status" not in body and dig(body, "data", "status") is None:  # not a documented shape
            raise self.bad_response(resp, "no status")
        status = body.get("status") or dig(body, "data", "status") or ""
        word = str(status).lower()
        if word == "success":
            file_id = body.get("file_id") or dig(body, "data", "file_id")
            if file_id:
                return PollResult(RUNNING, follow_up=self.build_retrieve(str(file_id)))
            url = dig(body, "data", "video_url")
            if url:  # the wrapper shape gpt.ge's prose describes (INFERRED)
                return PollResult(SUCCEEDED, video_url=url)
            raise self.bad_response(resp, "Success without file_id")
        if word in _FAILED:
            code = dig(body, "base_resp", "status_code")
            msg = dig(body, "base_resp", "status_msg") or "task failed"
            error_code = "task_failed"
            if code not in (0, None) and MINIMAX_CODES.get(_number(code), ("",))[0] == "content_policy":
                error_code = "content_policy"
            return PollResult(FAILED, error_code=error_code, provider_code=str(code or ""), message=str(msg))
        if word == "processing":
            return PollResult(RUNNING)
        if word in _WAITING:
            return PollResult(PENDING)
        raise self.bad_response(resp, f"unknown status {status!r}")
