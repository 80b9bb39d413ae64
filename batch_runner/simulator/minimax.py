"""MiniMax's own API, simulated: submit, query, files/retrieve; errors as HTTP 200
with a non-zero ``base_resp.status_code``.

Source: shared/providers/README.md and RESEARCH.md §1. gptge.py reuses this
class with its own paths (RESEARCH.md §2).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .base import ProviderSim, json_body
from .state import FAILED, PROCESSING, QUEUED, SUCCEEDED

__all__ = ["MinimaxSim", "make_app"]

#: our refusal kind -> (base_resp.status_code, status_msg, HTTP status). RESEARCH.md §1.2.
CODES = {
    "auth": (1004, "not authorized", 200),
    "invalid": (2013, "invalid params", 200),
    "rate": (1002, "rate limit", 200),
    "quota": (2056, "usage limit exceeded", 200),
    "balance": (1008, "insufficient balance", 200),
    "content": (1026, "input new_sensitive", 200),
    "server": (1000, "unknown error", 500),
    "not_found": (2013, "invalid params, task not found", 200),
}
T2V_MODELS = {"MiniMax-Hailuo-2.3", "MiniMax-Hailuo-02", "T2V-01-Director", "T2V-01"}
I2V_MODELS = {"MiniMax-Hailuo-2.3", "MiniMax-Hailuo-2.3-Fast", "MiniMax-Hailuo-02",
              "I2V-01-Director", "I2V-01-live", "I2V-01"}
IMAGE_PREFIXES = ("http://", "https://", "data:image/jpeg;base64,", "data:image/jpg;base64,",
                  "data:image/png;base64,", "data:image/webp;base64,")

def validate(body: Any, *, require_duration: bool = False) -> str | None:
    """What is wrong with a MiniMax-native submit body, or None. RESEARCH.md §1.2, §2."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    model, image = body.get("model"), body.get("first_frame_image")
    if image is not None and (not isinstance(image, str) or not image.startswith(IMAGE_PREFIXES)):
        return "first_frame_image must be a URL or a data:image/...;base64, URI"
    if model not in (I2V_MODELS if image else T2V_MODELS):
        return f"invalid model {model!r} for {'image' if image else 'text'}-to-video"
    prompt = body.get("prompt")
    if (prompt is None and not image) or (prompt is not None and not isinstance(prompt, str)):
        return "prompt is required"
    if isinstance(prompt, str) and len(prompt) > 2000:
        return "prompt exceeds 2000 characters"
    if require_duration and ("duration" not in body or "resolution" not in body):
        return "duration and resolution are required"
    duration, resolution = body.get("duration", 6), body.get("resolution", "768P")
    if type(duration) is not int or duration not in (6, 10):
        return "duration must be 6 or 10"
    if resolution not in ("512P", "720P", "768P", "1080P"):
        return "resolution must be one of 720P, 768P, 1080P (uppercase P)"
    if model.startswith("MiniMax-Hailuo-2.3") and not (
        (resolution == "768P") or (resolution == "1080P" and duration == 6)
    ):
        return f"{model} does not support {resolution} with {duration}s"
    for flag in ("prompt_optimizer", "fast_pretreatment", "aigc_watermark"):
        if flag in body and not isinstance(body[flag], bool):
            return f"{flag} must be a boolean"
    return None

class MinimaxSim(ProviderSim):
    """``/v1/video_generation`` -> ``/v1/query/video_generation`` -> ``/v1/files/retrieve``."""

    name = "minimax"
    submit_path = "/v1/video_generation"
    query_path = "/v1/query/video_generation"
    retrieve_path = "/v1/files/retrieve"
    require_duration = False
    fail_word = "Fail"

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(self.submit_path, self.submit),
            web.get(self.query_path, self.query_by_param),
            web.get(self.retrieve_path, self.retrieve),
        ]

    def error_response(self, kind: str, message: str, status: int) -> web.Response:
        code, msg, http = CODES.get(kind, CODES["server"])
        body = {"task_id": "", "base_resp": {"status_code": code, "status_msg": message if kind == "invalid" else msg}}
        return web.json_response(body, status=http)

    async def submit(self, request: web.Request) -> web.StreamResponse:
        """Create a task. Content-policy prompts are refused with 1026 (input sensitive)."""
        blocked = await self.guard(request, "submit")
        if blocked is not None:
            return blocked
        if not request.content_type.startswith("application/json"):
            return self.error_response("invalid", "invalid params, Content-Type must be application/json", 200)
        body = await json_body(request)
        problem = validate(body, require_duration=self.require_duration)
        if problem:
            self.state.record(self.name, "submit", 200, refusal="invalid")
            return self.error_response("invalid", f"invalid params, {problem}", 200)
        if self.cfg.content_policy_marker in (body.get("prompt") or ""):
            self.state.record(self.name, "submit", 200, refusal="content")
            return self.error_response("content", "", 200)
        refusal = self.state.admit(self.name)
        if refusal:
            return self.refuse_submit(refusal)
        task_id = str(100000000000000 + self.state.rng.randrange(10**14))
        self.state.create(self.name, task_id, body, body.get("prompt") or "")
        self.state.record(self.name, "submit", 200, task_id, accepted=True)
        return web.json_response({"task_id": task_id, "base_resp": {"status_code": 0, "status_msg": "success"}})

    async def query_by_param(self, request: web.Request) -> web.StreamResponse:
        return await self.query(request, request.query.get("task_id", ""))

    async def query(self, request: web.Request, task_id: str) -> web.StreamResponse:
        """Preparing -> Queueing -> Processing -> Success (file_id) or Fail."""
        blocked = await self.guard(request, "poll", task_id)
        if blocked is not None:
            return blocked
        task = self.state.tasks.get(task_id)
        self.state.record(self.name, "poll", 200, task_id)
        if task is None or task.provider != self.name:
            return self.error_response("not_found", "", 200)
        now = self.state.now()
        phase = task.phase(now)
        ok = {"status_code": 0, "status_msg": "success"}
        body: dict[str, Any] = {"task_id": task_id, "status": "", "file_id": "", "base_resp": ok}
        if phase == QUEUED:
            body["status"] = "Preparing" if task.progress(now) < 10 else "Queueing"
        elif phase == PROCESSING:
            body["status"] = "Processing"
        elif phase == SUCCEEDED:
            body.update(status="Success", file_id=str(int(task_id) + 1), video_width=1366, video_height=768)
        elif phase == FAILED:
            body["status"] = self.fail_word
            if task.code == 1027:  # both Fail variants are emitted (RESEARCH.md §1.3)
                body["base_resp"] = {"status_code": 1027, "status_msg": "output new_sensitive"}
        return web.json_response(body)

    async def retrieve(self, request: web.Request) -> web.StreamResponse:
        """file_id -> file.download_url (``file_id`` a number here, RESEARCH.md §1.4)."""
        file_id = request.query.get("file_id", "")
        task_id = str(int(file_id) - 1) if file_id.isdigit() else ""
        blocked = await self.guard(request, "retrieve", task_id)
        if blocked is not None:
            return blocked
        task = self.state.tasks.get(task_id)
        self.state.record(self.name, "retrieve", 200, task_id)
        if task is None or task.phase(self.state.now()) != SUCCEEDED:
            return self.error_response("not_found", "", 200)
        size = self.state.config.video_bytes
        return web.json_response({
            "file": {"file_id": int(file_id), "bytes": size, "created_at": self.state.unix(task.finishes_at),
                     "filename": "output.mp4", "purpose": "video_generation",
                     "download_url": self.video_url(request, task_id)},
            "base_resp": {"status_code": 0, "status_msg": "success"},
        })

def make_app(state: Any, name: str = "minimax") -> web.Application:
    """The MiniMax sub-application."""
    return MinimaxSim(state, name).app()
