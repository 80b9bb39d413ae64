"""MiniMax's own Hailuo 2.3 API: submit, query, then files/retrieve for the URL.

Errors arrive as HTTP 200 with a non-zero ``base_resp.status_code``: they are
never read as success. gptge.py reuses this module (it passes MiniMax through).

Sources (seen 2026-11):
- submit: https://platform.minimax.io/docs/api-reference/video-generation-t2v and
  https://platform.minimax.io/docs/api-reference/video-generation-i2v
- query (status words Preparing, Queueing, Processing, Success, Fail):
  https://platform.minimax.io/docs/api-reference/video-generation-query
- files/retrieve (``file.download_url``, ``file.file_id`` a string):
  https://platform.minimax.io/docs/api-reference/video-generation-download and
  MiniMax's CLI, https://github.com/MiniMax-AI/cli ``src/types/api.ts``
  (``FileRetrieveResponse``, commit 9f2eab083f820f17b7c6b239cc2fb0f945b9e5d1)
- the ``download_url`` is "valid 1 hour": MiniMax's own video guide,
  https://github.com/MiniMax-AI/skills
  ``skills/frontend-dev/references/minimax-video-guide.md`` (commit
  60aaae52bb2af8162732751a4332f62a5fef518b); data/providers.yaml ``url_ttl_s``.
  The ``file_id`` is kept (journal) so a later download asks files/retrieve
  (free) for a fresh URL: ``build_url_refresh``.
- ``Fail`` is terminal whatever ``base_resp`` says, as MiniMax's own client reads
  it: https://github.com/MiniMax-AI/MiniMax-MCP (minimax_mcp/server.py)
- ``Unknown``, a word of the query's status enum that the page gives no meaning:
  read as not finished (keep polling). Failing it would abandon a task that may
  still finish and was paid for; polling it to the deadline ends in ``timeout``,
  which keeps the task id, so a later run polls it again (INFERRED).
- gpt.ge's wrapper (its query page's "Response Details"): ``code``,
  ``data.status`` (Success, Processing, Failed), ``data.resp_data`` (the native
  object as a JSON string), ``data.video_url``; read besides the native object.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from batch_runner.errors import ProviderError
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

__all__ = ["MinimaxAdapter"]

#: Query status words (compared lower-case). gpt.ge's page also writes "Failed".
_WAITING = {"preparing", "queueing", "unknown", ""}
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
    #: 1002 is "rate limit" in the error code table (https://platform.minimax.io/docs/api-reference/errorcode),
    #: but MiniMax's own CLI reads 1002 and 1039 as its content sensitivity filter
    #: (https://github.com/MiniMax-AI/cli src/errors/api.ts, commit 9f2eab0): a rate limit
    #: clears after the pause, a filtered prompt does not, so a second one for the same job
    #: is a content refusal (not retried for minutes, no failover)
    rate_or_content_codes = frozenset({"1002", "1039"})
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
        if job.end_image:  # first-and-last-frame: MiniMax-Hailuo-02 only (the catalog checks it)
            body["last_frame_image"] = job.end_image
        if job.prompt_optimizer is not None:
            body["prompt_optimizer"] = job.prompt_optimizer
        if job.fast_pretreatment is not None:
            body["fast_pretreatment"] = job.fast_pretreatment
        # no aigc_watermark: MiniMax's CLI has it on image and music requests only, not on
        # VideoRequest (https://github.com/MiniMax-AI/cli src/types/api.ts); providers.yaml
        # lists no watermark option, so a job asking for one is refused at validation
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

    #: 15 zeros: the digit-string format of MiniMax's task ids, never a real one
    #: the key check queries a made-up task id (free: only a video is billed)
    key_check_task_id = "000000000000000"

    def read_key_check(self, resp: HttpResponse) -> KeyCheck:
        """``base_resp`` 1004 / 2049 / 2038 (or HTTP 401/403): ``bad_key``; any other
        ``base_resp`` (2013 "task not found", or 0): ``ok``; rate limits and
        server codes: ``unclear``; no ``base_resp``: ``not_api``."""
        page = web_page(resp)
        if page is not None:
            return KeyCheck("not_api", f"the host answered {page}")
        body = resp.json()
        code = dig(body, "base_resp", "status_code")
        msg = str(dig(body, "base_resp", "status_msg") or "")[:120]
        if resp.status in (401, 403):
            return KeyCheck("bad_key", f"HTTP {resp.status}")
        if code is None:
            return KeyCheck("not_api", f"HTTP {resp.status} JSON without base_resp")
        said = f"base_resp {_number(code)} {msg!r}"
        error_code = MINIMAX_CODES.get(_number(code), ("", False))[0] if code != 0 else ""
        if error_code == "auth":
            return KeyCheck("bad_key", said)
        if error_code in ("rate_limited", "provider_error") or resp.status >= 500:
            return KeyCheck("unclear", f"{said}: try again later")
        return KeyCheck("ok", f"key accepted (the made-up task: {said})")

    def build_retrieve(self, file_id: str) -> HttpRequest:
        """The files/retrieve request that turns a ``file_id`` into a download URL."""
        return HttpRequest("GET", self.url(f"{self.retrieve_path}?file_id={file_id}"), self.headers())

    def build_url_refresh(self, task_id: str, file_id: str | None = None) -> HttpRequest:
        """files/retrieve of ``file_id`` (free: a fresh ``download_url``), or the
        task's query when no ``file_id`` was kept (its Success leads there too)."""
        return self.build_retrieve(file_id) if file_id else self.build_poll(task_id)

    def parse_poll(self, resp: HttpResponse) -> PollResult:
        body = self._check(resp)
        if isinstance(body.get("file"), dict):  # a files/retrieve answer
            url = dig(body, "file", "download_url") or dig(body, "file", "backup_download_url")
            if not url:
                raise self.bad_response(resp, "no file.download_url")
            ttl = self.info.url_ttl_s  # the URL lives 1 h from this answer (MiniMax's video guide)
            file_id = dig(body, "file", "file_id")  # a string (the CLI's type); a number in older pages
            return PollResult(SUCCEEDED, video_url=url, url_expires_at=time.time() + ttl if ttl else None,
                              file_id=str(file_id) if isinstance(file_id, (str, int)) else "")
        if isinstance(dig(body, "data", "resp_data"), str) or (
                "code" in body and isinstance(dig(body, "data", "status"), str)):
            return self._parse_wrapped(resp, body)
        if "status" not in body and dig(body, "data", "status") is None:  # not a documented shape
            raise self.bad_response(resp, "no status")
        return self._parse_native(resp, body, str(body.get("status") or dig(body, "data", "status") or ""))

    def _parse_native(self, resp: HttpResponse, body: dict[str, Any], status: str) -> PollResult:
        """A query answer in MiniMax's own shape (its status word ``status``)."""
        word = status.lower()
        if word == "success":
            file_id = body.get("file_id") or dig(body, "data", "file_id")
            if file_id:
                return PollResult(RUNNING, follow_up=self.build_retrieve(str(file_id)))
            url = dig(body, "data", "video_url")
            if url:
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

    def _parse_wrapped(self, resp: HttpResponse, body: dict[str, Any]) -> PollResult:
        """gpt.ge's wrapper: ``code`` (0 or 200: no error), ``data.status``,
        ``data.resp_data`` (the native object, a JSON string), ``data.video_url``."""
        data: dict[str, Any] = body["data"]
        status = str(data.get("status") or "")
        code = body.get("code")
        if code not in (0, 200, None, "0", "200", "success") and status.lower() not in _FAILED:
            raise self._base_resp_error(code, body.get("message"))
        native: Any = None
        if isinstance(data.get("resp_data"), str) and data["resp_data"]:
            try:
                native = json.loads(data["resp_data"])
            except ValueError:
                native = None
        native = native if isinstance(native, dict) else {}
        if status.lower() == "success":
            url = data.get("video_url")
            if isinstance(url, str) and url:
                file_id = native.get("file_id")
                return PollResult(SUCCEEDED, video_url=url,
                                  file_id=str(file_id) if isinstance(file_id, (str, int)) else "")
            if native.get("file_id"):
                return PollResult(RUNNING, follow_up=self.build_retrieve(str(native["file_id"])))
            raise self.bad_response(resp, "Success without data.video_url or a file_id in data.resp_data")
        if status.lower() in _FAILED:
            failed = self._parse_native(resp, {"base_resp": native.get("base_resp")}, "Fail")
            if not dig(native, "base_resp", "status_msg") and str(body.get("message") or "success") != "success":
                failed = PollResult(FAILED, error_code=failed.error_code, provider_code=failed.provider_code,
                                    message=str(body["message"]))
            return failed
        return self._parse_native(resp, native, status)
