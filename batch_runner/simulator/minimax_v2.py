"""MiniMax Video Generation V2 (H3) simulated: ``POST /v2/video_generation``,
``GET /v2/query/video_generation/{task_id}``, ``DELETE /v2/video_generation/{task_id}``,
Bearer auth. Sources and the table of facts: docs/minimax-v2.md.

- Create answers ``{"task_id": "424010985738629"}`` (15 digits, SEEN).
- The body: ``model`` (MiniMax-H3, MiniMax-H3-Max), ``content`` (one non-empty
  ``text`` part up to 7,000 characters; ``image_url`` parts with role
  ``first_frame`` / ``last_frame`` (at most one each) or the reference roles
  ``reference_image`` (<= 9), ``reference_video`` (<= 3), ``reference_audio``
  (<= 3, only beside an image or video), never frames and references together),
  ``resolution`` and ``duration`` from the model's table (H3: 768P/2K, 4-15 s,
  SEEN; H3-Max: 480P/768P, 5-15 s, no references, no ``aigc_watermark``:
  INFERRED from third-party pages), ``ratio`` (text-to-video: a concrete ratio,
  not ``adaptive``, SEEN), ``callback_url``, ``aigc_watermark``.
- Query: ``{"task": {"id", "model", "status", "created_at", "updated_at",
  "resolution", "duration", "ratio", "task_type", "modality", "usage"}}``;
  statuses queued -> running -> succeeded (``content.url``) or failed
  (``error: {code, message}``), or cancelled (SEEN).
- Cancel: a queued task -> ``{"task_id", "action": "cancelled", "status":
  "cancelled"}`` and it is never run; a running or cancelled task -> HTTP 400
  in the error shape (the message INFERRED: the page says only "not allowed");
  a finished one -> ``action: deleted`` and the task is gone (SEEN).
- Errors: real HTTP statuses with ``{"type": "error", "error": {"type",
  "message" ending "(code)", "http_code"}, "request_id"}`` (SEEN shape and
  examples: 400 bad_request_error (2013), 401 authorized_error (1004), 402
  insufficient_balance_error (1008), 429 rate_limit_error (1002), 500
  server_error (1000)). Not found: 400 "invalid task_id" (INFERRED).
- Every fault knob of the other providers applies (base.ProviderSim).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from batch_runner.simulator.base import ProviderSim, is_image
from batch_runner.simulator.store import FAILED, PROCESSING, QUEUED, SUCCESS, SimStore, Task

__all__ = ["MODELS", "MinimaxV2Sim", "make_app", "validate"]

#: model -> (resolutions, durations, takes references and aigc_watermark)
MODELS: dict[str, tuple[tuple[str, ...], range, bool]] = {
    "MiniMax-H3": (("768P", "2K"), range(4, 16), True),
    "MiniMax-H3-Max": (("480P", "768P"), range(5, 16), False),
}
RATIOS = ("adaptive", "21:9", "16:9", "4:3", "1:1", "3:4", "9:16")
MEDIA_PREFIXES = ("http://", "https://", "mm_file://", "data:")
REF_LIMITS = {"reference_image": 9, "reference_video": 3, "reference_audio": 3}
PART_OF_ROLE = {"first_frame": "image_url", "last_frame": "image_url", "reference_image": "image_url",
                "reference_video": "video_url", "reference_audio": "audio_url"}
#: kind -> (HTTP status, error.type, MiniMax's internal code)
ERRORS = {
    "auth": (401, "authorized_error", 1004),
    "invalid": (400, "bad_request_error", 2013),
    "not_found": (400, "bad_request_error", 2013),
    "rate": (429, "rate_limit_error", 1002),
    "balance": (402, "insufficient_balance_error", 1008),
    "quota": (429, "rate_limit_error", 2056),
    "content": (400, "bad_request_error", 1026),
    "server": (500, "server_error", 1000),
}


def _media(part: dict[str, Any]) -> Any:
    inner = part.get(str(part.get("type")))
    return inner.get("url") if isinstance(inner, dict) else None


def _content_problem(content: Any, takes_refs: bool) -> str | None:
    """What is wrong with a ``content`` list, or None."""
    if not isinstance(content, list) or not content:
        return "content must be a non-empty array"
    texts = [c for c in content if isinstance(c, dict) and c.get("type") == "text"]
    if len(texts) != 1 or not isinstance(texts[0].get("text"), str) or not texts[0]["text"].strip():
        return "content must include a non-empty text item (prompt is required)"
    if len(texts[0]["text"]) > 7000:
        return "text must be at most 7000 characters"
    roles: dict[str, int] = {}
    for part in content:
        if not isinstance(part, dict):
            return "each content item must be an object"
        if part.get("type") == "text":
            continue
        role = part.get("role") or "first_frame"
        if role not in PART_OF_ROLE or PART_OF_ROLE[role] != part.get("type"):
            return f"role {role!r} does not go with type {part.get('type')!r}"
        url = _media(part)
        if not isinstance(url, str) or not url.startswith(MEDIA_PREFIXES) or len(url) < 9:
            return f"{part.get('type')}.url must be a public URL, mm_file://{{file_id}} or a Base64 data URI"
        if role == "first_frame" and isinstance(url, str) and url.startswith("data:") and not is_image(url):
            return "first_frame must be an image"
        roles[role] = roles.get(role, 0) + 1
    if roles.get("first_frame", 0) > 1 or roles.get("last_frame", 0) > 1:
        return "at most one first_frame and one last_frame"
    refs = {r: n for r, n in roles.items() if r in REF_LIMITS}
    if refs and (roles.get("first_frame") or roles.get("last_frame")):
        return "reference roles cannot be mixed with first_frame / last_frame"
    if refs and not takes_refs:
        return "this model does not support reference_image / reference_video / reference_audio"
    for role, n in refs.items():
        if n > REF_LIMITS[role]:
            return f"at most {REF_LIMITS[role]} {role}"
    if refs.get("reference_audio") and not (refs.get("reference_image") or refs.get("reference_video")):
        return "reference_audio must be accompanied by image or video input"
    return None


def validate(body: Any) -> str | None:
    """What is wrong with a create body, or None (the documented fields)."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    model = body.get("model")
    if model not in MODELS:
        return f"model must be one of {', '.join(MODELS)}"
    resolutions, durations, takes_refs = MODELS[model]
    problem = _content_problem(body.get("content"), takes_refs)
    if problem:
        return problem
    if body.get("resolution") not in resolutions:
        return f"resolution must be one of {', '.join(resolutions)} for {model}"
    duration = body.get("duration")
    if type(duration) is not int or duration not in durations:
        return f"duration must be an integer {durations.start}-{durations.stop - 1} for {model}"
    ratio = body.get("ratio", "adaptive")
    if ratio not in RATIOS:
        return f"ratio must be one of {', '.join(RATIOS)}"
    if len(body["content"]) == 1 and ratio == "adaptive":
        return "ratio is required for text-to-video and cannot be adaptive"
    if "aigc_watermark" in body:
        if not isinstance(body["aigc_watermark"], bool):
            return "aigc_watermark must be a boolean"
        if body["aigc_watermark"] and not takes_refs:  # H3-Max: no watermark (INFERRED, ComfyUI's node docs)
            return f"aigc_watermark is not supported by {model}"
    return None


class MinimaxV2Sim(ProviderSim):
    """MiniMax's V2 video protocol, with cancel."""

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v2/video_generation", self.submit),
                web.get("/v2/query/video_generation/{task_id}", self.poll_by_path),
                web.delete("/v2/video_generation/{task_id}", self.cancel)]

    def error_response(self, kind: str, message: str = "", task: Any = None) -> web.Response:
        status, typ, code = ERRORS.get(kind, ERRORS["server"])
        if kind == "not_found":
            message = "invalid task_id"
        return web.json_response({"type": "error", "error": {"type": typ, "message": f"{message} ({code})",
                                                             "http_code": str(status)},
                                  "request_id": "0217852290155" + "0" * 19}, status=status)

    def validate(self, request: web.Request, body: Any) -> str | None:
        return validate(body)

    def prompt_of(self, body: dict[str, Any]) -> str:
        return next((str(c.get("text") or "") for c in body.get("content") or []
                     if isinstance(c, dict) and c.get("type") == "text"), "")

    def make_task_id(self, rng: Any) -> str:
        return str(rng.randrange(10**14, 10**15))

    def submitted(self, request: web.Request, task: Task) -> web.Response:
        return web.json_response({"task_id": task.task_id})

    def status_body(self, request: web.Request, task: Task) -> dict[str, Any]:
        now = self.store.now()
        phase = "cancelled" if task.meta.get("cancelled") else task.phase(now)
        body = task.body
        images = sum(1 for c in body.get("content") or [] if isinstance(c, dict) and c.get("type") == "image_url")
        out: dict[str, Any] = {
            "id": task.task_id, "model": body.get("model"), "status": "",
            "created_at": self.store.unix(task.submitted_at), "updated_at": self.store.unix(min(now, task.ends_at)),
            "resolution": body.get("resolution"), "duration": body.get("duration"), "usage": {},
            "ratio": body.get("ratio", "adaptive"), "task_type": "generation", "modality": "video",
        }
        if phase == QUEUED:
            out["status"] = "queued"
        elif phase == PROCESSING:
            out["status"] = "running"
        elif phase == SUCCESS:
            out.update(status="succeeded", content={"url": self.video_url(request, task)},
                       usage={"total_seconds": body.get("duration"), "input_seconds": 0,
                              "output_seconds": body.get("duration"), "input_image_count": images})
        elif phase == FAILED:
            error = ({"code": "1026", "message": "video description contains sensitive content"}
                     if task.reason in ("content", "output") else {"code": "1000", "message": "internal error"})
            out.update(status="failed", error=error)
        else:
            out["status"] = "cancelled"
        return {"task": out}

    async def cancel(self, request: web.Request) -> web.StreamResponse:
        """``DELETE /v2/video_generation/{task_id}``: cancel a queued task, refuse a
        running or cancelled one, delete a finished one's record."""
        task_id = request.match_info["task_id"]
        blocked = await self.guard(request, "cancel", task_id)
        if blocked is not None:
            return blocked
        task = self.store.tasks.get(task_id)
        if task is None or task.provider != self.name or (task.key and task.key != self.request_key(request)):
            return self.answer(self.error_response("not_found"), "cancel", task_id, reason="not_found")
        now = self.store.now()
        phase = "cancelled" if task.meta.get("cancelled") else task.phase(now)
        if phase == QUEUED:
            task.meta["cancelled"] = True
            task.outcome, task.finishes_at, task.video_path = "cancelled", now, ""
            resp = web.json_response({"task_id": task_id, "action": "cancelled", "status": "cancelled"})
            return self.answer(resp, "cancel", task_id, accepted=True)
        if phase in (PROCESSING, "cancelled"):
            word = "running" if phase == PROCESSING else "cancelled"
            resp = self.error_response("invalid", f"task is {word} and cannot be cancelled or deleted")
            return self.answer(resp, "cancel", task_id, reason=word)
        del self.store.tasks[task_id]
        resp = web.json_response({"task_id": task_id, "action": "deleted", "status": "deleted"})
        return self.answer(resp, "cancel", task_id, accepted=True, reason="deleted")


def make_app(store: SimStore, name: str = "minimax_v2") -> web.Application:
    """The MiniMax V2 sub-application, mounted at ``/<name>``."""
    return MinimaxV2Sim(store, name).app()
