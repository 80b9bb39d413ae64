"""gccai (APIMart mirror) simulated: ``/v1/videos/generations``, ``/v1/tasks/{id}``.

Source: shared/providers/README.md and RESEARCH.md §3. The submit answer's
``data`` is a list; resolution is lower-case; errors are
``{"error": {"code", "message", "type"}}``; a content-policy prompt is
accepted and then fails with ``error.message`` "content rejected"; a generic
failure carries ``error`` as a plain string (both shapes are seen, §3.2).
"""

from __future__ import annotations

import string
from typing import Any

from aiohttp import web

from .base import ProviderSim, json_body
from .state import FAILED, PROCESSING, QUEUED, SUCCEEDED

__all__ = ["GccaiSim", "make_app"]

TYPES = {"auth": "authentication_error", "invalid": "invalid_request_error", "rate": "rate_limit_error",
         "quota": "rate_limit_error", "balance": "payment_required", "server": "server_error",
         "not_found": "invalid_request_error"}
ULID = string.digits + "ABCDEFGHJKMNPQRSTVWXYZ"


def validate(body: Any) -> str | None:
    """What is wrong with a submit body, or None. RESEARCH.md §3.1."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if body.get("model") not in ("MiniMax-Hailuo-2.3", "MiniMax-Hailuo-2.3-Fast"):
        return "model must be MiniMax-Hailuo-2.3 or MiniMax-Hailuo-2.3-Fast"
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not 1 <= len(prompt) <= 2000:
        return "prompt is required (max 2000 characters)"
    duration, resolution = body.get("duration", 6), body.get("resolution", "768p")
    if type(duration) is not int or duration not in (6, 10):
        return "duration must be 6 or 10"
    if resolution not in ("768p", "1080p"):
        return "resolution must be 768p or 1080p"
    if resolution == "1080p" and duration != 6:
        return "1080p only supports 6-second duration"
    if body["model"].endswith("Fast") and not body.get("first_frame_image"):
        return "MiniMax-Hailuo-2.3-Fast requires first_frame_image"
    for flag in ("prompt_optimizer", "fast_pretreatment", "watermark"):
        if flag in body and not isinstance(body[flag], bool):
            return f"{flag} must be a boolean"
    return None


class GccaiSim(ProviderSim):
    """APIMart-compatible task protocol."""

    name = "gccai"

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/videos/generations", self.submit), web.get("/v1/tasks/{task_id}", self.status)]

    def error_response(self, kind: str, message: str, status: int) -> web.Response:
        return web.json_response({"error": {"code": status, "message": message, "type": TYPES.get(kind, "server_error")}}, status=status)

    async def submit(self, request: web.Request) -> web.StreamResponse:
        blocked = await self.guard(request, "submit")
        if blocked is not None:
            return blocked
        body = await json_body(request)
        problem = validate(body)
        if problem:
            self.state.record(self.name, "submit", 400, refusal="invalid")
            return self.error_response("invalid", problem, 400)
        refusal = self.state.admit(self.name)
        if refusal:
            return self.refuse_submit(refusal)
        task_id = "task_01" + "".join(self.state.rng.choice(ULID) for _ in range(24))
        self.state.create(self.name, task_id, body, body["prompt"])
        self.state.record(self.name, "submit", 200, task_id, accepted=True)
        return web.json_response({"code": 200, "data": [{"status": "submitted", "task_id": task_id}]})

    async def status(self, request: web.Request) -> web.StreamResponse:
        task_id = request.match_info["task_id"]
        blocked = await self.guard(request, "poll", task_id)
        if blocked is not None:
            return blocked
        task = self.state.tasks.get(task_id)
        if task is None or task.provider != self.name:
            self.state.record(self.name, "poll", 404, task_id)
            return self.error_response("not_found", "task not found", 404)
        self.state.record(self.name, "poll", 200, task_id)
        now = self.state.now()
        phase = task.phase(now)
        created = self.state.unix(task.submitted_at)
        data: dict[str, Any] = {"created": created, "estimated_time": 600, "id": task_id}
        if phase == QUEUED:
            data.update(status="pending", progress=0)
        elif phase == PROCESSING:
            data.update(status="processing", progress=task.progress(now))
        elif phase == SUCCEEDED:
            done = self.state.unix(task.finishes_at)
            data.update(status="completed", progress=100, completed=done, actual_time=done - created,
                        result={"videos": [{"expires_at": done + 86400, "url": [self.video_url(request, task_id)]}]})
        elif phase == FAILED:
            content = task.code == 1027
            data.update(status="failed", error={"message": "content rejected"} if content else task.message)
        return web.json_response({"code": 200, "data": data})


def make_app(state: Any, name: str = "gccai") -> web.Application:
    """The gccai sub-application."""
    return GccaiSim(state, name).app()
