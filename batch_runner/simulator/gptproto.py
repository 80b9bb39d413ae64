"""gptproto simulated: WaveSpeed-style ``/api/v3/minimax/{model}/{scene}`` predictions.

Source: shared/providers/README.md and RESEARCH.md §4. The key is accepted raw
or with Bearer (both are documented); the model is a path segment with its own
duration/resolution table; a content-policy prompt is refused with HTTP 400
(the seed's "503 ... actual status code is 400"); balance is a 403.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .base import ProviderSim, json_body
from .state import FAILED, PROCESSING, QUEUED, SUCCEEDED

__all__ = ["GptprotoSim", "make_app"]

#: model path segment -> allowed (resolution, duration). RESEARCH.md §4.1 table.
MODELS = {
    "hailuo-2.3-standard": {("768P", 6), ("768P", 10)},
    "hailuo-2.3-fast": {("768P", 6), ("768P", 10), ("1080P", 6)},
    "hailuo-2.3-pro": {("1080P", 6)},
    "hailuo-02-standard": {("768P", 6), ("768P", 10)},
    "hailuo-02-fast": {("768P", 6), ("768P", 10)},
}
ERRORS = {  # kind -> (type, code); RESEARCH.md §4.3
    "auth": ("invalid_request_error", "invalid_api_key"),
    "invalid": ("invalid_request_error", "invalid_parameters"),
    "content": ("invalid_request_error", "content_policy_violation"),
    "rate": ("rate_limit_error", "rate_limit_exceeded"),
    "quota": ("rate_limit_error", "daily_quota_exceeded"),
    "balance": ("permission_error", "insufficient_balance"),
    "server": ("server_error", "internal_error"),
    "not_found": ("invalid_request_error", "not_found"),
}


def validate(model: str, scene: str, body: Any) -> str | None:
    """What is wrong with a submit, or None."""
    if model not in MODELS:
        return f"unknown model {model}"
    if scene not in ("text-to-video", "image-to-video"):
        return f"unknown scene {scene}"
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if not isinstance(body.get("prompt"), str) or not body["prompt"]:
        return "prompt is required"
    if scene == "image-to-video" and not isinstance(body.get("image"), str):
        return "image is required in image-to-video scene"
    duration, resolution = body.get("duration", 6), body.get("resolution", "768P")
    if type(duration) is not int or duration not in (6, 10):
        return "duration must be 6 or 10"
    if resolution not in ("512P", "720P", "768P", "1080P"):
        return "resolution must be one of 512P, 720P, 768P, 1080P"
    if (resolution, duration) not in MODELS[model]:
        return f"{model} does not support {resolution} with {duration}s"
    if "enable_prompt_expansion" in body and not isinstance(body["enable_prompt_expansion"], bool):
        return "enable_prompt_expansion must be a boolean"
    return None


class GptprotoSim(ProviderSim):
    """WaveSpeed-compatible prediction protocol."""

    name = "gptproto"

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/api/v3/minimax/{model}/{scene}", self.submit),
                web.get("/api/v3/predictions/{task_id}/result", self.result)]

    def authorized(self, request: web.Request) -> bool:
        key = self.cfg.api_key
        return request.headers.get("Authorization", "") in (key, f"Bearer {key}")

    def error_response(self, kind: str, message: str, status: int) -> web.Response:
        typ, code = ERRORS.get(kind, ERRORS["server"])
        return web.json_response({"error": {"message": message, "type": typ, "code": code}}, status=status)

    def _data(self, request: web.Request, task: Any) -> dict[str, Any]:
        now = self.state.now()
        phase = task.phase(now)
        status = {QUEUED: "created", PROCESSING: "processing", SUCCEEDED: "completed", FAILED: "failed"}[phase]
        created = datetime.fromtimestamp(self.state.unix(task.submitted_at), UTC)
        elapsed = int(1000 * max(0.0, min(now, task.finishes_at) - task.submitted_at))
        return {
            "id": task.task_id,
            "model": task.body.get("_model", ""),
            "outputs": [self.video_url(request, task.task_id)] if phase == SUCCEEDED else [],
            "urls": {"get": f"{self.base_url(request)}/{self.name}/api/v3/predictions/{task.task_id}/result"},
            "has_nsfw_contents": [] if phase != SUCCEEDED else None,
            "status": status,
            "created_at": created.isoformat().replace("+00:00", "Z"),
            "error": task.message if phase == FAILED else "",
            "executionTime": elapsed,
            "timings": {"inference": elapsed},
        }

    async def submit(self, request: web.Request) -> web.StreamResponse:
        blocked = await self.guard(request, "submit")
        if blocked is not None:
            return blocked
        model, scene = request.match_info["model"], request.match_info["scene"]
        body = await json_body(request)
        problem = validate(model, scene, body)
        if problem:
            self.state.record(self.name, "submit", 400, refusal="invalid")
            return self.error_response("invalid", problem, 400)
        if self.cfg.content_policy_marker in body["prompt"]:
            self.state.record(self.name, "submit", 400, refusal="content")
            return self.error_response("content", "Content policy violation: content blocked due to safety concerns", 400)
        refusal = self.state.admit(self.name)
        if refusal:
            return self.refuse_submit(refusal)
        task_id = uuid.UUID(int=self.state.rng.getrandbits(128)).hex
        task = self.state.create(self.name, task_id, {**body, "_model": f"minimax/{model}/{scene}"}, body["prompt"])
        self.state.record(self.name, "submit", 200, task_id, accepted=True)
        return web.json_response({"code": 200, "message": "success", "data": self._data(request, task)})

    async def result(self, request: web.Request) -> web.StreamResponse:
        task_id = request.match_info["task_id"]
        blocked = await self.guard(request, "poll", task_id)
        if blocked is not None:
            return blocked
        task = self.state.tasks.get(task_id)
        if task is None or task.provider != self.name:
            self.state.record(self.name, "poll", 404, task_id)
            return self.error_response("not_found", "prediction not found", 404)
        self.state.record(self.name, "poll", 200, task_id)
        return web.json_response({"data": self._data(request, task), "message": "success", "code": 200})


def make_app(state: Any, name: str = "gptproto") -> web.Application:
    """The gptproto sub-application."""
    return GptprotoSim(state, name).app()
