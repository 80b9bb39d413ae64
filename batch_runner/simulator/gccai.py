"""gccai (APIMart mirror) simulated: ``POST /v1/videos/generations``,
``GET /v1/tasks/{task_id}``, Bearer auth.

- Submit answers ``{"code":200,"data":[{"status":"submitted","task_id":...}]}``
  (``data`` is a list; ids ``task_`` + 26-char ULID), SEEN.
- Resolution is lower-case ``768p``/``1080p``; 1080p only with 6 s (SEEN).
  ``MiniMax-Hailuo-2.3-Fast`` needs ``first_frame_image`` (INFERRED from
  MiniMax, which gccai resells).
- Statuses pending -> processing (+ ``progress``) -> completed (URL at
  ``data.result.videos[0].url[0]`` with ``expires_at`` = completed + url TTL)
  or failed (SEEN).
- Errors ``{"error":{"code","message","type"}}`` with the HTTP status of
  ``code``: 400 invalid_request_error, 401 authentication_error, 402
  payment_required (balance), 429 rate_limit_error, 500 server_error (SEEN on
  another APIMart model page; INFERRED for Hailuo). Unknown task: 404 (INFERRED).
- Content policy: accepted, then failed with ``error.message`` "content
  rejected" (SEEN third-party fixture). Other failures alternate between the
  object and plain-string ``error`` shapes, both seen.

- Knob ``answer_variant=v2``, APIMart's newer response version: the submit
  ``data`` is an object ``{"id", "status"}``, a running task says
  ``in_progress``, a finished one has no ``expires_at`` (its URL lives 72 h),
  and errors are HTTP 200 ``{"success": false, "code", "message"}`` (the
  shape of the errors INFERRED). ``Idempotency-Key`` is accepted and ignored
  (APIMart documents it; no replay is simulated).

Source: https://docs.apimart.ai/en/api-reference/videos/minimax-hailuo-2.3/generation and
https://docs.apimart.ai/en/api-reference/tasks/status, seen 2026-11 (docs/providers.md).
"""

from __future__ import annotations

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

__all__ = ["GccaiSim", "make_app", "validate"]


ERRORS = {  # kind -> (HTTP status / error.code, error.type)
    "auth": (401, "authentication_error"),
    "invalid": (400, "invalid_request_error"),
    "rate": (429, "rate_limit_error"),
    "balance": (402, "payment_required"),
    "quota": (429, "quota_exceeded"),  # INFERRED: the simulator's quota knob
    "not_found": (404, "invalid_request_error"),
    "server": (500, "server_error"),
}
ULID = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
ESTIMATED_S = 600  # data.estimated_time in the real examples


def validate(body: Any) -> str | None:
    """What is wrong with a submit body, or None (the documented body fields)."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    if body.get("model") not in ("MiniMax-Hailuo-2.3", "MiniMax-Hailuo-2.3-Fast"):
        return "model must be MiniMax-Hailuo-2.3 or MiniMax-Hailuo-2.3-Fast"
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not 1 <= len(prompt) <= 2000:
        return "prompt is required (1 to 2000 characters)"
    duration, resolution = body.get("duration", 6), body.get("resolution", "768p")
    if type(duration) is not int or duration not in (6, 10):
        return "duration must be 6 or 10"
    if resolution not in ("768p", "1080p"):
        return "resolution must be 768p or 1080p"
    if resolution == "1080p" and duration != 6:
        return "1080p only supports 6-second duration"
    image = body.get("first_frame_image")
    if image is not None and not is_image(image):
        return "first_frame_image must be a public URL or a data:image/...;base64, URI"
    if body["model"].endswith("-Fast") and image is None:
        return "MiniMax-Hailuo-2.3-Fast requires first_frame_image (image-to-video only)"
    for flag in ("prompt_optimizer", "fast_pretreatment", "watermark"):
        if flag in body and not isinstance(body[flag], bool):
            return f"{flag} must be a boolean"
    return None


#: how long APIMart keeps an ``Idempotency-Key`` (INFERRED: apiframe's 24 h; APIMart's figure not seen)
IDEMPOTENCY_TTL_S = 24 * 3600.0
#: the longest ``Idempotency-Key`` (1-191 characters: issue 27's reading of APIMart's
#: references/api-contract.md, https://github.com/apimart-ai/apimart-skills; INFERRED here)
MAX_KEY_CHARS = 191


class GccaiSim(ProviderSim):
    """APIMart-compatible task protocol. An ``Idempotency-Key`` seen within
    ``IDEMPOTENCY_TTL_S`` is answered with the original task and the header
    ``Idempotency-Replayed: true`` (recorded with reason ``idempotent_replay``)."""

    idempotent = True

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/videos/generations", self.submit),
                web.get("/v1/tasks/{task_id}", self.poll_by_path)]

    def error_response(self, kind: str, message: str = "", task: Any = None) -> web.Response:
        status, typ = ERRORS.get(kind, ERRORS["server"])
        if self.cfg.answer_variant == "v2" and kind != "server":
            return web.json_response({"success": False, "code": status, "message": message or typ})
        return web.json_response({"error": {"code": status, "message": message, "type": typ}},
                                 status=status)

    def validate(self, request: web.Request, body: Any) -> str | None:
        return validate(body)

    def make_task_id(self, rng: Any) -> str:
        """``task_01`` + 24 Crockford characters (a ULID, SEEN examples)."""
        return "task_01" + "".join(rng.choice(ULID) for _ in range(24))

    def replay(self, request: web.Request) -> web.Response | None:
        """A known ``Idempotency-Key``: the original task's submit answer, not charged again."""
        key = request.headers.get("Idempotency-Key")
        if not key:
            return None
        if len(key) > MAX_KEY_CHARS:
            resp = self.error_response("invalid", f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} characters")
            return self.answer(resp, "submit", reason="invalid")
        task = self.store.tasks.get(self.store.idempotency.get((self.name, key), ""))
        if task is None or self.store.now() - task.submitted_at > IDEMPOTENCY_TTL_S:
            return None
        resp = self.submitted(request, task)
        resp.headers["Idempotency-Replayed"] = "true"
        return self.answer(resp, "submit", task.task_id, reason="idempotent_replay")

    def submitted(self, request: web.Request, task: Task) -> web.Response:
        if self.cfg.answer_variant == "v2":
            return web.json_response({"code": 200, "data": {"id": task.task_id, "status": "submitted"}})
        return web.json_response({"code": 200, "data": [{"status": "submitted", "task_id": task.task_id}]})

    def status_body(self, request: web.Request, task: Task) -> dict[str, Any]:
        now = self.store.now()
        phase = task.phase(now)
        created = self.store.unix(task.submitted_at)
        data: dict[str, Any] = {"created": created, "estimated_time": ESTIMATED_S, "id": task.task_id}
        if phase == QUEUED:
            data.update(progress=0, status="pending")
        elif phase == PROCESSING:
            data.update(progress=task.progress(now),
                        status="in_progress" if self.cfg.answer_variant == "v2" else "processing")
        elif phase == SUCCESS:
            done = self.store.unix(task.finishes_at)
            ttl = self.store.config.url_ttl_s.get(self.name)
            video: dict[str, Any] = {"url": [self.video_url(request, task)]}
            if ttl is not None and self.cfg.answer_variant != "v2":
                video = {"expires_at": int(done + ttl), **video}
            data.update(actual_time=done - created, completed=done, progress=100,
                        status="completed", result={"videos": [video]})
        elif phase == FAILED:
            if task.reason in ("content", "output"):
                error: Any = {"message": "content rejected"}
            elif task.variant % 2 == 0:
                error = {"message": "video generation failed"}
            else:
                error = "video generation failed"
            data.update(completed=self.store.unix(task.finishes_at), status="failed", error=error)
        return {"code": 200, "data": data}


def make_app(store: SimStore, name: str = "gccai") -> web.Application:
    """The gccai sub-application, mounted at ``/<name>``."""
    return GccaiSim(store, name).app()
