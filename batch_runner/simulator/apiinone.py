"""apiin.one simulated: image-to-video only, ``duration`` a string.

- Submit ``POST /api/v1/videos/generations``, Bearer auth; ``model`` one of
  ``hailuo-2-3``, ``hailuo/2-3-image-to-video-standard``,
  ``hailuo/2-3-image-to-video-pro`` (all three appear in the docs); ``prompt``
  and ``image`` (a public URL) required; ``duration`` the STRING "6"/"10";
  ``resolution`` 768P/1080P; 1080P only with "6" (INFERRED from MiniMax).
  Answer ``{"code":200,"message":"success","data":{"task_id":"n51<id>_hailuo",
  "status":"IN_PROGRESS"}}`` (SEEN).
- Poll ``GET /api/v1/tasks/{task_id}``: the body is not published anywhere;
  INFERRED, as the one public client reads it: the same
  envelope, ``data.status`` IN_PROGRESS -> completed (URL at both
  ``data.output.video_url`` and ``data.video_url``) or failed (``data.error``).
- Errors ``{"error":{"code","message","type"}}`` (SEEN for 400
  ``invalid_request``); the other codes and types are INFERRED: 401
  unauthorized, 402 insufficient_credits (balance), 429 rate_limited, 404
  not_found, 500 server_error.
- Content policy (INFERRED, undocumented): the task is accepted and then fails
  with ``data.error`` "content policy violation", as the upstream model
  moderates the generated video; apiin.one documents no synchronous refusal.
- Knob ``answer_variant=short_model``: only ``model: hailuo-2-3`` (the
  "Model identifier" of the docs) is accepted; the sub-model names are
  refused as invalid, as a host that reads the docs the other way would.

Source: https://apiin.one/es/models/hailuo-2-3, seen 2026-11 (docs/providers.md).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from batch_runner.simulator.base import ProviderSim, is_image
from batch_runner.simulator.store import FAILED, SUCCESS, SimStore, Task

__all__ = ["MODELS", "ApiinoneSim", "make_app", "validate"]


MODELS = ("hailuo-2-3", "hailuo/2-3-image-to-video-standard", "hailuo/2-3-image-to-video-pro")
ERRORS = {  # kind -> (HTTP status / error.code, error.type, fixed message or "")
    "auth": (401, "unauthorized", "Invalid API key"),
    "invalid": (400, "invalid_request", ""),
    "rate": (429, "rate_limited", "Rate limit exceeded"),
    "balance": (402, "insufficient_credits", "Insufficient credits"),
    "quota": (429, "quota_exceeded", "Daily quota exceeded"),  # INFERRED
    "not_found": (404, "not_found", "Task not found"),
    "server": (500, "server_error", "Internal server error"),
}


def validate(body: Any) -> str | None:
    """What is wrong with a submit body, or None (the documented body fields)."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    if body.get("model") not in MODELS:
        return "model must be one of " + ", ".join(MODELS)
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not 1 <= len(prompt) <= 2000:
        return "prompt is required"
    if not is_image(body.get("image"), ("http://", "https://")):
        return "image is required: a public image URL (image-to-video only)"
    duration, resolution = body.get("duration", "6"), body.get("resolution", "768P")
    if not isinstance(duration, str) or duration not in ("6", "10"):
        return 'duration must be the string "6" or "10"'
    if resolution not in ("768P", "1080P"):
        return "resolution must be 768P or 1080P"
    if resolution == "1080P" and duration != "6":
        return "1080P supports 6 seconds only"
    if "callback_url" in body and not isinstance(body["callback_url"], str):
        return "callback_url must be a string"
    return None


class ApiinoneSim(ProviderSim):
    """apiin.one task protocol."""

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/api/v1/videos/generations", self.submit),
                web.get("/api/v1/tasks/{task_id}", self.poll_by_path)]

    def error_response(self, kind: str, message: str = "", task: Any = None) -> web.Response:
        status, typ, text = ERRORS.get(kind, ERRORS["server"])
        if kind == "invalid":
            text = f"Invalid parameters: {message}" if message else "Invalid parameters"
        return web.json_response({"error": {"code": status, "message": text, "type": typ}}, status=status)

    def validate(self, request: web.Request, body: Any) -> str | None:
        if self.cfg.answer_variant == "short_model" and isinstance(body, dict) and body.get("model") != MODELS[0]:
            return f"model must be {MODELS[0]}"
        return validate(body)

    def make_task_id(self, rng: Any) -> str:
        """``n51`` + digits + ``_hailuo`` (SEEN ``n51xxxx_hailuo``; "node51")."""
        return f"n51{rng.randrange(10**12):012d}_hailuo"

    def submitted(self, request: web.Request, task: Task) -> web.Response:
        return web.json_response({"code": 200, "message": "success",
                                  "data": {"task_id": task.task_id, "status": "IN_PROGRESS"}})

    def status_body(self, request: web.Request, task: Task) -> dict[str, Any]:
        phase = task.phase(self.store.now())
        data: dict[str, Any] = {"task_id": task.task_id, "status": "IN_PROGRESS"}
        if phase == SUCCESS:
            url = self.video_url(request, task)
            data.update(status="completed", output={"video_url": url}, video_url=url)
        elif phase == FAILED:
            policy = task.reason in ("content", "output")
            reason = "content policy violation" if policy else "video generation failed"
            data.update(status="failed", error=reason)
        return {"code": 200, "message": "success", "data": data}


def make_app(store: SimStore, name: str = "apiinone") -> web.Application:
    """The apiin.one sub-application, mounted at ``/<name>``."""
    return ApiinoneSim(store, name).app()
