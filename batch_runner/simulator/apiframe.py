"""apiframe v2 simulated: ``POST /v2/videos/generate`` (202), ``GET /v2/jobs/{id}``.

Source: shared/providers/README.md and RESEARCH.md §6 (official OpenAPI):
``X-API-Key`` auth; ``additionalProperties: false`` at both levels; lower-case
resolution; ``Idempotency-Key`` (the same key within 24 h returns the original
job and is not a new charge); 402 with credits; 429 with Retry-After; a
content-policy prompt is accepted and then FAILED with ``creditCost: 0``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .base import ProviderSim, json_body
from .state import FAILED, PROCESSING, SUCCEEDED

__all__ = ["ApiframeSim", "make_app"]

TOP = {"model", "prompt", "hailuoParams", "webhookUrl", "webhookEvents"}
PARAMS = {"duration", "resolution", "image", "prompt_optimizer"}
MODELS = ("hailuo-2.3", "hailuo-2.3-fast", "hailuo-02", "hailuo-03")
CREDITS = {("768p", 6): 5, ("768p", 10): 10, ("1080p", 6): 10}  # seed-docs/apiframe.txt
MESSAGES = {"auth": "Invalid API key", "rate": "Too many requests", "quota": "Daily quota exceeded",
            "server": "Service unavailable", "not_found": "Job not found"}


def validate(body: Any) -> dict[str, list[str]]:
    """Validation details ``{json.path: [messages]}``; empty when valid."""
    if not isinstance(body, dict):
        return {"body": ["must be a JSON object"]}
    out: dict[str, list[str]] = {}
    for key in set(body) - TOP:
        out[key] = ["additional property not allowed"]
    if body.get("model") not in MODELS:
        out["model"] = [f"must be one of {', '.join(MODELS)}"]
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not 1 <= len(prompt) <= 2000:
        out["prompt"] = ["must be a string of 1 to 2000 characters"]
    params = body.get("hailuoParams", {})
    if not isinstance(params, dict):
        return {**out, "hailuoParams": ["must be an object"]}
    for key in set(params) - PARAMS:
        out[f"hailuoParams.{key}"] = ["additional property not allowed"]
    duration, resolution = params.get("duration", 6), params.get("resolution", "768p")
    if not isinstance(duration, (int, float)) or isinstance(duration, bool) or duration not in (6, 10):
        out["hailuoParams.duration"] = ["must be 6 or 10"]
    if resolution not in ("768p", "1080p"):
        out["hailuoParams.resolution"] = ['must be "768p" or "1080p"']
    elif resolution == "1080p" and duration == 10:
        out["hailuoParams.duration"] = ["1080p resolution does not support 10s duration"]
    image = params.get("image")
    if image is not None and (not isinstance(image, str) or not image.startswith(("http://", "https://"))):
        out["hailuoParams.image"] = ["must be a URI"]
    if "prompt_optimizer" in params and not isinstance(params["prompt_optimizer"], bool):
        out["hailuoParams.prompt_optimizer"] = ["must be a boolean"]
    return out


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ApiframeSim(ProviderSim):
    """apiframe v2 jobs protocol."""

    name = "apiframe"

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v2/videos/generate", self.submit), web.get("/v2/jobs/{task_id}", self.job)]

    def authorized(self, request: web.Request) -> bool:
        return request.headers.get("X-API-Key", "") == self.cfg.api_key

    def error_response(self, kind: str, message: str, status: int) -> web.Response:
        if kind == "balance":
            return web.json_response({"error": "Insufficient credits", "creditsRequired": 10, "creditsAvailable": 0}, status=402)
        resp = web.json_response({"error": MESSAGES.get(kind, message)}, status=503 if kind == "server" else status)
        if kind in ("rate", "quota"):
            resp.headers["Retry-After"] = f"{self.cfg.retry_after_s if self.cfg.retry_after_s is not None else 1:g}"
        return resp

    async def submit(self, request: web.Request) -> web.StreamResponse:
        blocked = await self.guard(request, "submit")
        if blocked is not None:
            return blocked
        key = request.headers.get("Idempotency-Key")
        if key and (self.name, key) in self.state.idempotency:  # replay: the original job
            task_id = self.state.idempotency[(self.name, key)]
            self.state.record(self.name, "submit", 202, task_id, refusal="idempotent_replay")
            return web.json_response({"jobId": task_id, "status": "QUEUED"}, status=202)
        body = await json_body(request)
        details = validate(body)
        if details:
            self.state.record(self.name, "submit", 400, refusal="invalid")
            return web.json_response({"error": "Validation failed", "details": details}, status=400)
        refusal = self.state.admit(self.name)
        if refusal:
            return self.refuse_submit(refusal)
        task_id = str(uuid.UUID(int=self.state.rng.getrandbits(128), version=4))
        self.state.create(self.name, task_id, body, body["prompt"], idempotency_key=key)
        self.state.record(self.name, "submit", 202, task_id, accepted=True)
        return web.json_response({"jobId": task_id, "status": "QUEUED"}, status=202)

    async def job(self, request: web.Request) -> web.StreamResponse:
        task_id = request.match_info["task_id"]
        blocked = await self.guard(request, "poll", task_id)
        if blocked is not None:
            return blocked
        try:
            uuid.UUID(task_id)
        except ValueError:
            self.state.record(self.name, "poll", 400, task_id)
            return web.json_response({"error": "Invalid job id"}, status=400)
        task = self.state.tasks.get(task_id)
        if task is None or task.provider != self.name:
            self.state.record(self.name, "poll", 404, task_id)
            return self.error_response("not_found", "", 404)
        self.state.record(self.name, "poll", 200, task_id)
        now = self.state.now()
        phase = task.phase(now)
        params = task.body.get("hailuoParams") or {}
        credits = CREDITS.get((params.get("resolution", "768p"), int(params.get("duration", 6))), 10)
        out: dict[str, Any] = {
            "id": task_id, "status": "QUEUED", "model": task.body.get("model"), "progress": 0,
            "result": None, "error": None, "creditCost": credits, "webhookStatus": None,
            "createdAt": _iso(self.state.unix(task.submitted_at)), "completedAt": None, "expired": False,
        }
        if phase == PROCESSING:
            out.update(status="PROCESSING", progress=task.progress(now))
        elif phase == SUCCEEDED:
            out.update(status="COMPLETED", progress=100, result={"videoUrl": self.video_url(request, task_id)},
                       completedAt=_iso(self.state.unix(task.finishes_at)))
        elif phase == FAILED:
            message = "Provider returned an error: content policy violation" if task.code == 1027 else f"Provider returned an error: {task.message}"
            out.update(status="FAILED", error=message, creditCost=0, completedAt=_iso(self.state.unix(task.finishes_at)))
        return web.json_response(out)


def make_app(state: Any, name: str = "apiframe") -> web.Application:
    """The apiframe sub-application."""
    return ApiframeSim(state, name).app()
