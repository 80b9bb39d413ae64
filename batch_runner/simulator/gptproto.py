"""gptproto simulated: WaveSpeed-style predictions.

- Submit ``POST /api/v3/minimax/{model}/{scene}``; ``model`` a path segment
  (``hailuo-2.3-standard|fast|pro``, ``hailuo-02-*``) with its own
  duration/resolution table, ``scene`` ``text-to-video|image-to-video``,
  ``image`` required for image-to-video (SEEN; 2.3-pro INFERRED).
- Auth ``Authorization: <key>`` raw or ``Bearer <key>``: both are documented,
  both accepted.
- Submit answer: the WaveSpeed prediction object, ``status: "created"``, 32-hex
  ``data.id`` and ``data.urls.get`` (INFERRED shape).
- Poll ``GET /api/v3/predictions/{id}/result``: created -> processing ->
  completed (``data.outputs[0]``) or failed (``data.error``).
- Errors (SEEN bodies): 401 invalid_api_key, 403 permission_error (also
  insufficient balance), 429 rate_limit_exceeded; validation 400 and server
  500 in the same envelope (INFERRED codes). Content policy: HTTP 400 at
  submit (the docs' "503 ... actual status code is 400"); a prompt with the
  output-policy marker ends failed with ``has_nsfw_contents: [true]`` (INFERRED).

Source: https://docs.gptproto.com/docs/allapi/MiniMax/hailuo-2.3-standard/gptproto-format/text-to-video,
seen 2026-11 (docs/providers.md).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from batch_runner.simulator.base import ProviderSim, is_image
from batch_runner.simulator.store import (
    FAILED,
    PROCESSING,
    QUEUED,
    SUCCESS,
    SimStore,
    Task,
)

__all__ = ["MODELS", "GptprotoSim", "make_app", "validate"]


#: model path segment -> allowed (resolution, duration). Seed "Duration & Resolution".
MODELS = {
    "hailuo-2.3-standard": {("768P", 6), ("768P", 10)},
    "hailuo-2.3-fast": {("768P", 6), ("768P", 10), ("1080P", 6)},
    "hailuo-2.3-pro": {("1080P", 6)},
    "hailuo-02-standard": {("768P", 6), ("768P", 10)},
    "hailuo-02-fast": {("768P", 6), ("768P", 10)},
    "hailuo-02-pro": {("1080P", 6)},
}
SCENES = ("text-to-video", "image-to-video")
ERRORS = {  # kind -> (HTTP status, message, type, code)
    "auth": (401, "Invalid authentication credentials", "invalid_request_error", "invalid_api_key"),
    "balance": (403, "Insufficient balance for the requested operation", "permission_error",
                "insufficient_permissions"),
    "rate": (429, "Rate limit exceeded", "rate_limit_error", "rate_limit_exceeded"),
    "quota": (429, "Daily quota exceeded", "rate_limit_error", "quota_exceeded"),  # INFERRED
    "invalid": (400, "", "invalid_request_error", "invalid_parameters"),
    "content": (400, "Content policy violation: content blocked due to safety concerns",
                "invalid_request_error", "content_policy_violation"),
    "not_found": (404, "Prediction not found", "invalid_request_error", "not_found"),
    "server": (500, "Internal server error", "server_error", "internal_error"),
}
NSFW = {False: None, True: [True]}  # done: null (SEEN), or flagged on output moderation
PHASES = {QUEUED: "created", PROCESSING: "processing", SUCCESS: "completed", FAILED: "failed"}


def validate(model: str, scene: str, body: Any) -> str | None:
    """What is wrong with a submit to ``{model}/{scene}``, or None (seed table)."""
    if model not in MODELS:
        return f"unsupported model {model!r}; one of {', '.join(MODELS)}"
    if scene not in SCENES:
        return f"unsupported scene {scene!r}; text-to-video or image-to-video"
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not 1 <= len(prompt) <= 2000:
        return "prompt is required (1 to 2000 characters)"
    if scene == "image-to-video" and not is_image(body.get("image")):
        return "image is required in the image-to-video scene (URL or data:image/...;base64,)"
    for key in ("image", "end_image"):
        if key in body and body[key] is not None and not is_image(body[key]):
            return f"{key} must be a public URL or a data:image/...;base64, URI"
    duration, resolution = body.get("duration", 6), body.get("resolution", "768P")
    if type(duration) is not int or duration not in (6, 10):
        return "duration must be 6 or 10"
    if resolution not in ("512P", "720P", "768P", "1080P"):
        return "resolution must be one of 512P, 720P, 768P, 1080P"
    if (resolution, duration) not in MODELS[model]:
        allowed = ", ".join(f"{r} {d}s" for r, d in sorted(MODELS[model]))
        return f"{model} supports {allowed}"
    if "enable_prompt_expansion" in body and not isinstance(body["enable_prompt_expansion"], bool):
        return "enable_prompt_expansion must be a boolean"
    return None


class GptprotoSim(ProviderSim):
    """WaveSpeed-compatible prediction protocol."""

    content_at_submit = True

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/api/v3/minimax/{model}/{scene}", self.submit),
                web.get("/api/v3/predictions/{task_id}/result", self.poll_by_path)]

    def request_key(self, request: web.Request) -> str:
        """The key in ``Authorization``, raw or Bearer (both documented); with
        ``answer_variant=bearer_only`` a raw key is not read (401), as a host
        that follows gptproto's SDKs (https://github.com/gptproto-ai/gptproto-sdk) would."""
        value = request.headers.get("Authorization", "")
        if self.cfg.answer_variant == "bearer_only" and not value.startswith("Bearer "):
            return ""
        return value.removeprefix("Bearer ")

    def error_response(self, kind: str, message: str = "", task: Any = None) -> web.Response:
        status, text, typ, code = ERRORS.get(kind, ERRORS["server"])
        return web.json_response({"error": {"message": text or message, "type": typ, "code": code}},
                                 status=status)

    def validate(self, request: web.Request, body: Any) -> str | None:
        return validate(request.match_info["model"], request.match_info["scene"], body)

    def make_task_id(self, rng: Any) -> str:
        """32 lower-case hex digits (SEEN example id)."""
        return f"{rng.getrandbits(128):032x}"

    def task_meta(self, request: web.Request) -> dict[str, Any]:
        return {"model": f"minimax/{request.match_info['model']}/{request.match_info['scene']}"}

    def prediction(self, request: web.Request, task: Task) -> dict[str, Any]:
        """The ``data`` object: id, model, outputs, urls.get, status, error, timings."""
        now = self.store.now()
        phase = task.phase(now)
        created = datetime.fromtimestamp(self.store.unix(task.submitted_at), UTC)
        elapsed = int(1000 * max(0.0, min(now, task.finishes_at) - task.submitted_at))
        done = phase in (SUCCESS, FAILED)
        return {
            "id": task.task_id,
            "model": task.meta["model"],
            "outputs": [self.video_url(request, task)] if phase == SUCCESS else [],
            "urls": {"get": f"{self.base_url(request)}/{self.name}/api/v3/predictions/{task.task_id}/result"},
            "status": PHASES[phase],
            "error": self.failure(task) if phase == FAILED else "",
            "executionTime": elapsed if done else 0,
            "timings": {"inference": elapsed if done else 0},
            "has_nsfw_contents": NSFW[task.reason == "output"] if done else [],
            "created_at": created.isoformat().replace("+00:00", "Z"),
        }

    def failure(self, task: Task) -> str:
        """``data.error`` of a failed prediction (INFERRED wording)."""
        if task.reason == "output":
            return "Content policy violation: the generated video was flagged"
        return "video generation failed"

    def submitted(self, request: web.Request, task: Task) -> web.Response:
        return web.json_response({"code": 200, "message": "success", "data": self.prediction(request, task)})

    def status_body(self, request: web.Request, task: Task) -> dict[str, Any]:
        return {"data": self.prediction(request, task), "message": "success", "code": 200}


def make_app(store: SimStore, name: str = "gptproto") -> web.Application:
    """The gptproto sub-application, mounted at ``/<name>``."""
    return GptprotoSim(store, name).app()
