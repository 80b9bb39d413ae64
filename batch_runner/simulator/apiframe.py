"""apiframe v2 simulated: ``POST /v2/videos/generate`` (202), ``GET /v2/jobs/{id}``.

Source: the official OpenAPI spec in https://github.com/apiframe-ai/apiframe-nodejs-sdk
and https://docs-v2.apiframe.ai/docs/jobs/get, seen 2026-11 (SEEN):
- ``X-API-Key`` auth; 401 ``{"error": ...}``.
- Body ``additionalProperties: false`` at both levels; ``model`` hailuo-2.3,
  hailuo-2.3-fast or hailuo-02; ``prompt`` 1..2000; ``hailuoParams.duration`` number 6/10,
  ``resolution`` lower-case 768p/1080p, 1080p not with 10 s, ``image`` a URI,
  ``end_image`` a URI for hailuo-02 only (an additional property otherwise),
  ``prompt_optimizer`` bool; ``webhookUrl``, ``webhookEvents`` (pushes: simulator/callbacks.py). Invalid: 400
  ``{"error":"Validation failed","details":{"<json.path>":[msg]}}``.
- ``Idempotency-Key`` (<= 255 chars): the same key within 24 h returns the
  original job (202, its jobId and current status), not a new charge.
- 202 ``{"jobId":<UUID>,"status":"QUEUED"}``; jobs QUEUED -> PROCESSING
  (+progress) -> COMPLETED (``result.videoUrl``) or FAILED (``error`` string,
  ``creditCost`` 0: refunded); ``expired`` true once the URL TTL has passed
  ("true once a COMPLETED job's CDN assets have been purged": the URL 404s;
  knob ``answer_variant=expired``: at once). ``webhookStatus`` in the spec's
  words: null without a webhook, else ``pending`` then ``delivered``.
- 402 ``{"error":"Insufficient credits","creditsRequired","creditsAvailable"}``;
  429 ``{"error": ...}`` always with Retry-After; server faults 503.
- Content policy: accepted, then FAILED with "Provider returned an error:
  content policy violation" and creditCost 0 (SEEN docs example).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from batch_runner.simulator.base import ProviderSim
from batch_runner.simulator.callbacks import sign_apiframe
from batch_runner.simulator.store import FAILED, PROCESSING, SUCCESS, SimStore, Task

__all__ = ["ApiframeSim", "make_app", "validate"]


TOP = {"model", "prompt", "hailuoParams", "webhookUrl", "webhookEvents"}
PARAMS = {"duration", "resolution", "image", "prompt_optimizer"}
#: hailuoParams.end_image exists for hailuo-02 only (OpenAPI GenerateVideoRequest)
END_IMAGE_MODELS = ("hailuo-02",)
MODELS = ("hailuo-2.3", "hailuo-2.3-fast", "hailuo-02")
EVENTS = ("progress", "completed", "failed")
CREDITS = {("768p", 6): 5, ("768p", 10): 10, ("1080p", 6): 10}  # https://docs-v2.apiframe.ai/docs/videos/hailuo/hailuo-2-3
IDEMPOTENCY_TTL_S = 86400.0
ERRORS = {"auth": (401, "Invalid API key"), "rate": (429, "Rate limit exceeded"),
          "quota": (429, "Daily quota exceeded"),  # INFERRED: the simulator's quota knob
          "not_found": (404, "Job not found"), "server": (503, "Service temporarily unavailable")}


def credits(body: Any) -> int:
    """Credits a job costs (768p-6s 5, 768p-10s 10, 1080p-6s 10)."""
    params = body.get("hailuoParams") if isinstance(body, dict) else None
    params = params if isinstance(params, dict) else {}
    duration = params.get("duration", 6)
    key = (params.get("resolution", "768p"), int(duration) if isinstance(duration, (int, float)) else 6)
    return CREDITS.get(key, 10)


def validate(body: Any) -> dict[str, list[str]] | None:
    """Validation ``details`` ``{json.path: [messages]}``, or None when valid."""
    if not isinstance(body, dict):
        return {"body": ["must be a JSON object"]}
    out: dict[str, list[str]] = {}
    for key in sorted(set(body) - TOP):
        out[key] = ["must NOT have additional properties"]
    if body.get("model") not in MODELS:
        out["model"] = [f"must be one of {', '.join(MODELS)}"]
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not 1 <= len(prompt) <= 2000:
        out["prompt"] = ["must be a string of 1 to 2000 characters"]
    if "webhookUrl" in body and not (isinstance(body["webhookUrl"], str)
                                     and body["webhookUrl"].startswith(("http://", "https://"))):
        out["webhookUrl"] = ['must match format "uri"']
    events = body.get("webhookEvents", list(EVENTS))
    if not isinstance(events, list) or not events or any(e not in EVENTS for e in events):
        out["webhookEvents"] = [f"must be a non-empty array of {', '.join(EVENTS)}"]
    params = body.get("hailuoParams", {})
    if not isinstance(params, dict):
        out["hailuoParams"] = ["must be object"]
        return out
    allowed = PARAMS | ({"end_image"} if body.get("model") in END_IMAGE_MODELS else set())
    for key in sorted(set(params) - allowed):
        out[f"hailuoParams.{key}"] = ["must NOT have additional properties"]
    duration, resolution = params.get("duration", 6), params.get("resolution", "768p")
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or duration not in (6, 10):
        out["hailuoParams.duration"] = ["must be equal to one of the allowed values: 6, 10"]
    if resolution not in ("768p", "1080p"):
        out["hailuoParams.resolution"] = ['must be equal to one of the allowed values: "768p", "1080p"']
    elif resolution == "1080p" and duration == 10:
        out["hailuoParams.duration"] = ["1080p resolution does not support 10s duration"]
    for key in ("image", "end_image"):
        image = params.get(key)
        if image is not None and not (isinstance(image, str)
                                      and image.startswith(("http://", "https://", "data:"))):
            out[f"hailuoParams.{key}"] = ['must match format "uri"']
    if "prompt_optimizer" in params and not isinstance(params["prompt_optimizer"], bool):
        out["hailuoParams.prompt_optimizer"] = ["must be boolean"]
    return out or None


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ApiframeSim(ProviderSim):
    """apiframe v2 jobs protocol."""

    always_retry_after = True
    idempotent = True

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v2/videos/generate", self.submit), web.get("/v2/jobs/{task_id}", self.job)]

    def request_key(self, request: web.Request) -> str:
        return request.headers.get("X-API-Key", "")

    def error_response(self, kind: str, message: Any = "", task: Any = None) -> web.Response:
        if kind == "invalid":
            return web.json_response({"error": "Validation failed", "details": message}, status=400)
        if kind == "balance":
            return web.json_response({"error": "Insufficient credits", "creditsRequired": credits(task),
                                      "creditsAvailable": 0}, status=402)
        status, text = ERRORS.get(kind, ERRORS["server"])
        return web.json_response({"error": text}, status=status)

    def validate(self, request: web.Request, body: Any) -> dict[str, list[str]] | None:
        return validate(body)

    def make_task_id(self, rng: Any) -> str:
        """A version-4 UUID (SEEN ``jobId`` format)."""
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def replay(self, request: web.Request) -> web.Response | None:
        """A known ``Idempotency-Key`` within 24 h: the original job, uncharged."""
        key = request.headers.get("Idempotency-Key")
        if not key:
            return None
        if len(key) > 255:
            resp = self.error_response("invalid", {"Idempotency-Key": ["must NOT have more than 255 characters"]})
            return self.answer(resp, "submit", reason="invalid")
        task = self.store.tasks.get(self.store.idempotency.get((self.name, key), ""))
        if task is None or self.store.now() - task.submitted_at > IDEMPOTENCY_TTL_S:
            return None
        resp = web.json_response({"jobId": task.task_id, "status": self.job_status(task)}, status=202)
        return self.answer(resp, "submit", task.task_id, reason="idempotent_replay")

    def submitted(self, request: web.Request, task: Task) -> web.Response:
        return web.json_response({"jobId": task.task_id, "status": "QUEUED"}, status=202)

    def job_status(self, task: Task) -> str:
        """QUEUED, PROCESSING, COMPLETED or FAILED now."""
        phase = task.phase(self.store.now())
        return {SUCCESS: "COMPLETED", FAILED: "FAILED", PROCESSING: "PROCESSING"}.get(phase, "QUEUED")

    async def job(self, request: web.Request) -> web.StreamResponse:
        """``GET /v2/jobs/{id}``: 400 when ``id`` is not a UUID (SEEN), else the poll."""
        task_id = request.match_info["task_id"]
        try:
            uuid.UUID(task_id)
        except ValueError:
            blocked = await self.guard(request, "poll", task_id)
            if blocked is not None:
                return blocked
            return self.answer(web.json_response({"error": "Invalid job id"}, status=400), "poll",
                               task_id, reason="invalid")
        return await self.poll(request, task_id)

    def created(self, request: web.Request, task: Task) -> None:
        """Push the job's events asked for in ``webhookEvents`` to its ``webhookUrl``,
        signed with the key that made it (simulator/callbacks.py)."""
        url = task.body.get("webhookUrl")
        if not isinstance(url, str) or not url:
            return
        events = task.body.get("webhookEvents") or list(EVENTS)
        key = request.headers.get("X-API-Key", "") or self.cfg.api_key

        def event(t: Task) -> dict[str, Any] | None:
            body = self.status_body(request, t)
            kind = {"COMPLETED": "completed", "FAILED": "failed", "CANCELLED": "failed"}.get(body["status"], "progress")
            return {"jobId": t.task_id, "type": kind, **body} if kind in events else None

        self.pusher.follow(url, task, event, sign=lambda raw: {"x-webhook-signature": sign_apiframe(raw, key)})

    def status_body(self, request: web.Request, task: Task) -> dict[str, Any]:
        now = self.store.now()
        status = self.job_status(task)
        terminal = status in ("COMPLETED", "FAILED")
        hook = ("delivered" if terminal else "pending") if task.body.get("webhookUrl") else None
        out: dict[str, Any] = {
            "id": task.task_id, "status": status, "model": task.body.get("model"),
            "progress": task.progress(now) if status == "PROCESSING" else 0, "result": None,
            "error": None, "creditCost": credits(task.body), "webhookStatus": hook,
            "createdAt": _iso(self.store.unix(task.submitted_at)),
            "completedAt": _iso(self.store.unix(task.finishes_at)) if terminal else None,
            "expired": False,
        }
        if status == "COMPLETED":
            if self.cfg.answer_variant == "expired":
                task.meta["purged"] = True  # the video URL now answers 404 (store.url_expires_at)
            url = self.video_url(request, task)
            out.update(progress=100, result=url if self.cfg.answer_variant == "result_string" else {"videoUrl": url},
                       expired=self.store.url_expired(task))
        elif status == "FAILED" and self.cfg.answer_variant == "cancelled":
            out.update(status="CANCELLED", error=None, creditCost=0)  # the SDK's waitFor: 'Job was cancelled'
        elif status == "FAILED":
            policy = task.reason in ("content", "output")
            reason = "content policy violation" if policy else "video generation failed"
            out.update(error=f"Provider returned an error: {reason}", creditCost=0)
        return out


def make_app(store: SimStore, name: str = "apiframe") -> web.Application:
    """The apiframe sub-application, mounted at ``/<name>``."""
    return ApiframeSim(store, name).app()
