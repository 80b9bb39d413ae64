"""MiniMax's own API, simulated: submit, query, files/retrieve.

Errors arrive as HTTP 200 with a non-zero ``base_resp.status_code`` (1002
rate limit, 1004 auth, 1008 balance, 1026 sensitive input, 2013 invalid
params: a model outside its resolution/duration table, a last_frame_image on a
model other than MiniMax-Hailuo-02; 2056 usage limit exceeded); an injected
server fault is HTTP 500 with code 1000. A content-policy prompt is refused
at submit with 1026. Query statuses Preparing -> Queueing -> Processing ->
Success (with a string ``file_id``) or Fail, in both documented variants:
``base_resp`` 1027 "output new_sensitive" for a prompt with the output-policy
marker, ``base_resp`` 0 for other failures (``Failed`` instead of ``Fail``
with ``answer_variant=failed``: the word in MiniMax's CLI's
``VideoTaskResponse``, https://github.com/MiniMax-AI/cli ``src/types/api.ts``).
files/retrieve answers ``file.file_id`` as a string and a signed
``file.download_url`` that answers 403 once its ``url_ttl_s`` has passed.

Knobs: ``refusal_code`` refuses every submit with that ``base_resp`` code
(1028 / 1030 quota exhausted, 2061 not available on this plan; the texts
INFERRED); ``answer_variant=unknown`` makes a queued task's status word
``Unknown`` (a word of the query enum). gptge.py adds ``wrapped``.

Source: https://platform.minimax.io/docs/api-reference/video-generation-t2v and its
sibling pages (SEEN unless noted; docs/providers.md). gptge.py reuses this class
with its own paths.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from batch_runner.simulator.base import ProviderSim, is_image, json_body
from batch_runner.simulator.clips import delivered
from batch_runner.simulator.store import (
    FAILED,
    PROCESSING,
    QUEUED,
    SUCCESS,
    SimStore,
    Task,
)

__all__ = ["MinimaxSim", "make_app", "validate_native"]


#: error kind -> (base_resp.status_code, status_msg, HTTP status): https://platform.minimax.io/docs/api-reference/errorcode
CODES = {
    "auth": (1004, "not authorized", 200),
    "invalid": (2013, "invalid params", 200),
    "rate": (1002, "rate limit", 200),
    "balance": (1008, "insufficient balance", 200),
    "quota": (2056, "usage limit exceeded", 200),  # errorcode page: usage quota, stop
    "content": (1026, "input new_sensitive", 200),
    "not_found": (2013, "invalid params, task not found", 200),  # INFERRED
    "server": (1000, "unknown error", 500),  # injected fault: a 500 (brief), MiniMax's code
}
T2V_MODELS = {"MiniMax-Hailuo-2.3", "MiniMax-Hailuo-02", "T2V-01-Director", "T2V-01"}
I2V_MODELS = {"MiniMax-Hailuo-2.3", "MiniMax-Hailuo-2.3-Fast", "MiniMax-Hailuo-02",
              "I2V-01-Director", "I2V-01-live", "I2V-01"}
#: model -> (resolution, duration) pairs it takes. 2.3 and 02: 768P with 6 or 10 s,
#: 1080P with 6 s (SEEN for 2.3; INFERRED for 02), 02 also 512P with 6 or 10 s
#: (i2v enum, "only for 02": SEEN); the 01 models 720P with 6 s (INFERRED).
TABLES = {
    "MiniMax-Hailuo-2.3": {("768P", 6), ("768P", 10), ("1080P", 6)},
    "MiniMax-Hailuo-2.3-Fast": {("768P", 6), ("768P", 10), ("1080P", 6)},
    "MiniMax-Hailuo-02": {("512P", 6), ("512P", 10), ("768P", 6), ("768P", 10), ("1080P", 6)},
}
OLD_TABLE = {("720P", 6)}  # T2V-01, T2V-01-Director, I2V-01, I2V-01-Director, I2V-01-live
#: the models that take a last_frame_image (first-and-last-frame video)
LAST_FRAME_MODELS = {"MiniMax-Hailuo-02"}
OK = {"status_code": 0, "status_msg": "success"}
#: refusal_code -> status_msg (the codes: MiniMax's error code page; the texts INFERRED)
REFUSALS = {1028: "quota exhausted", 1030: "quota exhausted", 2061: "the model is not available on your plan"}


def validate_native(body: Any, *, strict: bool = False) -> str | None:
    """What is wrong with a MiniMax-native submit body, or None.

    T2V (no ``first_frame_image``): ``prompt`` 1..2000 required, model in the
    T2V enum (no 2.3-Fast). I2V: ``first_frame_image`` a URL or data URI,
    prompt optional. ``duration`` int 6/10 (default 6), ``resolution``
    uppercase P (default 768P), each model's table (``TABLES``: Hailuo 2.3 768P, or
    1080P with 6 s only; 02 also 512P with an image; the 01 models 720P 6 s);
    ``last_frame_image`` (first-and-last-frame) on MiniMax-Hailuo-02 only.
    ``strict`` (gptge): ``prompt``, ``duration`` and ``resolution`` required.
    Source: MiniMax's t2v/i2v pages (enums, SEEN), gpt.ge's submit page (required fields, SEEN).
    """
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    image = body.get("first_frame_image")
    if image is not None and not is_image(image):
        return "first_frame_image must be a public URL or a data:image/...;base64, URI"
    model = body.get("model")
    if model not in (I2V_MODELS if image else T2V_MODELS):
        return f"model {model!r} is not supported for {'image' if image else 'text'}-to-video"
    prompt = body.get("prompt")
    if (prompt is None and (strict or not image)) or (prompt is not None and not isinstance(prompt, str)):
        return "prompt is required"
    if isinstance(prompt, str) and (len(prompt) > 2000 or (not prompt and not image)):
        return "prompt must be 1 to 2000 characters"
    if strict and ("duration" not in body or "resolution" not in body):
        return "duration and resolution are required"
    duration, resolution = body.get("duration", 6), body.get("resolution", "768P")
    if type(duration) is not int or duration not in (6, 10):
        return "duration must be 6 or 10"
    if resolution not in (("512P", "720P", "768P", "1080P") if image else ("720P", "768P", "1080P")):
        return "resolution must be one of 720P, 768P, 1080P (uppercase P)"
    table = TABLES.get(model, OLD_TABLE)
    if (resolution, duration) not in table:
        allowed = ", ".join(f"{r} with {d} s" for r, d in sorted(table))
        return f"{model} supports {allowed} only"
    last = body.get("last_frame_image")
    if last is not None:
        if model not in LAST_FRAME_MODELS:
            return f"last_frame_image is supported by {', '.join(sorted(LAST_FRAME_MODELS))} only, not {model}"
        if not is_image(last):
            return "last_frame_image must be a public URL or a data:image/...;base64, URI"
    for flag in ("prompt_optimizer", "fast_pretreatment", "aigc_watermark"):
        if flag in body and not isinstance(body[flag], bool):
            return f"{flag} must be a boolean"
    if "callback_url" in body and not isinstance(body["callback_url"], str):
        return "callback_url must be a string"
    return None


class MinimaxSim(ProviderSim):
    """``/v1/video_generation`` -> ``/v1/query/video_generation?task_id=`` ->
    ``/v1/files/retrieve?file_id=``, Bearer auth."""

    content_at_submit = True
    submit_path = "/v1/video_generation"
    retrieve_path = "/v1/files/retrieve"
    strict = False

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(self.submit_path, self.submit),
            web.get("/v1/query/video_generation", self.poll_by_query),
            web.get(self.retrieve_path, self.retrieve),
        ]

    def error_response(self, kind: str, message: str = "", task: Any = None) -> web.Response:
        code, msg, http = CODES.get(kind, CODES["server"])
        if kind == "invalid" and message:
            msg = f"invalid params, {message}"
        task_id = task if kind == "not_found" and isinstance(task, str) else ""
        return web.json_response({"task_id": task_id, "base_resp": {"status_code": code, "status_msg": msg}},
                                 status=http)

    def validate(self, request: web.Request, body: Any) -> str | None:
        # Content-Type: application/json is a required header (SEEN in MiniMax's OpenAPI)
        if request.content_type != "application/json":
            return "Content-Type must be application/json"
        return validate_native(body, strict=self.strict)

    def make_task_id(self, rng: Any) -> str:
        """A 15-digit string like ``106916112212032`` (SEEN examples)."""
        return str(rng.randrange(10**14, 10**15))

    def submitted(self, request: web.Request, task: Task) -> web.Response:
        return web.json_response({"task_id": task.task_id, "base_resp": OK})

    async def submit(self, request: web.Request) -> web.StreamResponse:
        """The submit flow, or with the ``refusal_code`` knob its refusal."""
        code = self.cfg.refusal_code
        refused = await self._challenge(request)
        if refused is not None:
            return refused
        if code is None:
            return await super().submit(request)
        blocked = await self.guard(request, "submit")
        if blocked is not None:
            return blocked
        resp = web.json_response({"task_id": "", "base_resp": {
            "status_code": code, "status_msg": REFUSALS.get(code, "refused")}})
        return self.answer(resp, "submit", reason="refused")

    async def _challenge(self, request: web.Request) -> web.Response | None:
        """A body with ``callback_url``: its challenge first (callbacks.Pusher);
        the refusal when it is not echoed within 3 s (2013, INFERRED), else None."""
        body = await json_body(request)
        url = body.get("callback_url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url or await self.pusher.challenge(url):
            return None
        return self.answer(self.error_response("invalid", "callback_url verification failed"),
                           "submit", reason="challenge")

    def created(self, request: web.Request, task: Task) -> None:
        """Push the task's status changes to its ``callback_url``, if it has one."""
        url = task.body.get("callback_url")
        if isinstance(url, str) and url:
            self.pusher.follow(url, task, lambda t: self.status_body(request, t))

    async def poll_by_query(self, request: web.Request) -> web.StreamResponse:
        """``GET /v1/query/video_generation?task_id=``."""
        return await self.poll(request, request.query.get("task_id", ""))

    def file_id(self, task: Task) -> str:
        """The task's ``file_id`` (a digit string), assigned at first success."""
        if "file_id" not in task.meta:
            file_id = self.store.new_id(self.make_task_id)
            while file_id in self.store.files:
                file_id = self.store.new_id(self.make_task_id)
            task.meta["file_id"] = file_id
            self.store.files[file_id] = task.task_id
        return str(task.meta["file_id"])

    def status_body(self, request: web.Request, task: Task) -> dict[str, Any]:
        """Pending bodies carry ``file_id: ""`` (INFERRED §1.3); Success adds
        file_id and video size; Fail carries base_resp 1027 "output
        new_sensitive" after output moderation, else base_resp 0 (both
        variants, §1.3)."""
        now = self.store.now()
        phase = task.phase(now)
        body: dict[str, Any] = {"task_id": task.task_id, "status": "", "file_id": "", "base_resp": OK}
        if phase == QUEUED:
            body["status"] = "Preparing" if task.progress(now) < 10 else "Queueing"
            if self.cfg.answer_variant == "unknown":
                body["status"] = "Unknown"
        elif phase == PROCESSING:
            body["status"] = "Processing"
        elif phase == SUCCESS:
            width, height, _ = delivered(task.body, task.video_fault)
            body.update(status="Success", file_id=self.file_id(task), video_width=width,
                        video_height=height)
        elif phase == FAILED:
            body["status"] = "Failed" if self.cfg.answer_variant == "failed" else "Fail"
            if task.reason == "output":
                body["base_resp"] = {"status_code": 1027, "status_msg": "output new_sensitive"}
        return body

    async def retrieve(self, request: web.Request) -> web.StreamResponse:
        """``GET files/retrieve?file_id=``: ``file.file_id`` a string (MiniMax's
        CLI, ``FileRetrieveResponse`` in https://github.com/MiniMax-AI/cli
        ``src/types/api.ts``), ``download_url`` signed for ``url_ttl_s`` from this
        call (1 h: MiniMax's video guide, https://github.com/MiniMax-AI/skills
        ``skills/frontend-dev/references/minimax-video-guide.md``), 403 after it."""
        file_id = request.query.get("file_id", "")
        task_id = self.store.files.get(file_id)
        blocked = await self.guard(request, "retrieve", task_id)
        if blocked is not None:
            return blocked
        if not file_id.isdigit():
            return self.answer(self.error_response("invalid", "file_id must be an integer"),
                               "retrieve", reason="invalid")
        task = self.store.tasks.get(task_id or "")
        wrong_key = task is not None and bool(task.key) and task.key != self.request_key(request)
        if task is None or task.provider != self.name or task.phase(self.store.now()) != SUCCESS or wrong_key:
            resp = web.json_response(
                {"base_resp": {"status_code": 2013, "status_msg": "invalid params, file not found"}})
            return self.answer(resp, "retrieve", task_id, reason="wrong_key" if wrong_key else "not_found")
        task.meta["retrieved_at"] = self.store.now()
        return self.answer(web.json_response({
            "file": {"file_id": file_id, "bytes": 0, "created_at": self.store.unix(task.finishes_at),
                     "filename": "output.mp4", "purpose": "video_generation",
                     "download_url": self.store.signed(self.video_url(request, task), task)},
            "base_resp": OK,
        }), "retrieve", task.task_id)


def make_app(store: SimStore, name: str = "minimax") -> web.Application:
    """The MiniMax sub-application, mounted at ``/<name>``."""
    return MinimaxSim(store, name).app()
