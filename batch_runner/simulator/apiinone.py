"""apiin.one simulated: image-to-video only, ``duration`` a string.

Source: shared/providers/README.md and RESEARCH.md §5. The status body is not
published; following RESEARCH.md's recommendation (INFERRED): ``data.status``
in IN_PROGRESS / completed / failed, the URL at both ``data.output.video_url``
and ``data.video_url``, the failure in ``data.error``. A content-policy prompt
(INFERRED) is accepted and then fails with "content policy violation". Balance:
HTTP 402 in the documented error envelope (INFERRED status code).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .base import ProviderSim, json_body
from .state import FAILED, SUCCEEDED

__all__ = ["ApiinoneSim", "make_app"]

MODELS = ("hailuo-2-3", "hailuo/2-3-image-to-video-standard", "hailuo/2-3-image-to-video-pro")
TYPES = {"auth": "unauthorized", "invalid": "invalid_request", "rate": "rate_limited",
         "quota": "rate_limited", "balance": "payment_required", "server": "server_error",
         "not_found": "not_found"}


def validate(body: Any) -> str | None:
    """What is wrong with a submit body, or None. RESEARCH.md §5."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if body.get("model", MODELS[1]) not in MODELS:
        return "model must be one of " + ", ".join(MODELS)
    if not isinstance(body.get("prompt"), str) or not body["prompt"]:
        return "prompt is required"
    image = body.get("image")
    if not isinstance(image, str) or not image.startswith(("http://", "https://")):
        return "image is required: a public image URL"
    duration, resolution = body.get("duration", "6"), body.get("resolution", "768P")
    if duration not in ("6", "10"):
        return 'duration must be the string "6" or "10"'
    if resolution not in ("768P", "1080P"):
        return "resolution must be 768P or 1080P"
    if resolution == "1080P" and duration != "6":
        return "1080P supports 6 seconds only"
    return None


class ApiinoneSim(ProviderSim):
    """apiin.one task protocol."""

    name = "apiinone"

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/api/v1/videos/generations", self.submit), web.get("/api/v1/tasks/{task_id}", self.status)]

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
            return self.error_response("invalid", f"Invalid parameters: {problem}", 400)
        refusal = self.state.admit(self.name)
        if refusal:
            return self.refuse_submit(refusal)
        task_id = f"n51{self.state.rng.randrange(10**12):012d}_hailuo"
        self.state.create(self.name, task_id, body, body["prompt"])
        self.state.record(self.name, "submit", 200, task_id, accepted=True)
        return web.json_response({"code": 200, "message": "success", "data": {"task_id": task_id, "status": "IN_PROGRESS"}})

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
        phase = task.phase(self.state.now())
        data: dict[str, Any] = {"task_id": task_id, "status": "IN_PROGRESS"}
        if phase == SUCCEEDED:
            url = self.video_url(request, task_id)
            data.update(status="completed", output={"video_url": url}, video_url=url)
        elif phase == FAILED:
            data.update(status="failed", error="content policy violation" if task.code == 1027 else task.message)
        return web.json_response({"code": 200, "message": "success", "data": data})


def make_app(state: Any, name: str = "apiinone") -> web.Application:
    """The apiin.one sub-application."""
    return ApiinoneSim(state, name).app()
