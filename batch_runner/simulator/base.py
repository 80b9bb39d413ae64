"""What every simulated provider shares: auth, faults, latency, the submit and
poll flows, and the request records.

A provider module subclasses ProviderSim and fills in its wire format:
``routes`` (its real paths), ``request_key`` (the key in its auth header),
``error_response`` (its error shape and HTTP status per error kind),
``validate``, ``make_task_id``, ``submitted`` and ``status_body``. The flow:

- every API request: latency, then auth (401 in the provider's shape: a key
  that is not one of the provider's, or a bad one), then an
  injected fault, if one is drawn (``reset`` drops the connection, ``slow``
  is handled at once but answered ``slow_s`` late, the others answer instead
  of the handler);
- submit: JSON body -> validation (400) -> rate limit / in-flight cap (429) ->
  balance -> daily quota -> content policy (refused here when ``content_at_submit``) -> task;
  the rate limit and in-flight cap also per key (``key_rpm``, ``key_max_in_flight``);
- poll: task lookup (not found in the provider's shape, also for a task another
  key made: reason ``wrong_key``) -> ``status_body``, or, with
  ``poll_drift_rate``, an undocumented shape (``drift_body``).

Each answered request is recorded with the key it carried (found in a
context variable set by ``guard``, as aiohttp serves each request in its own task).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from batch_runner.simulator.callbacks import Pusher
from batch_runner.simulator.store import SimStore, Task
from batch_runner.simulator.videos import video_path

if TYPE_CHECKING:
    from batch_runner.simulator.config import ProviderSimConfig

__all__ = ["IMAGE_URI_PREFIXES", "ProviderSim", "drift_body", "is_image", "json_body"]

_SLOW = web.RequestKey("slow", bool) if hasattr(web, "RequestKey") else "batch_runner.slow"

_KEY: contextvars.ContextVar[str] = contextvars.ContextVar("sim_request_key", default="")

HTML_502 = ("<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
            "</h1></center><hr><center>nginx</center></body></html>")

#: a public URL or a Base64 data URI (MiniMax: JPG/JPEG/PNG/WebP, its i2v page)
IMAGE_URI_PREFIXES = ("http://", "https://", "data:image/jpeg;base64,", "data:image/jpg;base64,",
                      "data:image/png;base64,", "data:image/webp;base64,")


def drift_body(task: Task, video_url: str) -> dict[str, Any]:
    """A poll answer in a shape no provider documents (a "drifted" API): the
    same facts under other names, none of the documented keys, so an adapter
    written from the documents cannot read it."""
    return {"ok": True, "result": {"job_ref": task.task_id, "phase": "COMPLETE_V2",
                                   "assets": [{"kind": "mp4", "href": video_url}]},
            "api_version": "2099-01-01"}


def is_image(value: Any, prefixes: tuple[str, ...] = IMAGE_URI_PREFIXES) -> bool:
    """Whether ``value`` is a non-empty image reference with an accepted prefix."""
    return isinstance(value, str) and value.startswith(prefixes) and len(value) > 8


async def json_body(request: web.Request) -> Any:
    """The request's JSON body, or None when it is not JSON."""
    try:
        return json.loads(await request.read() or b"null")
    except (ValueError, UnicodeDecodeError):
        return None


class ProviderSim:
    """One provider's protocol, served under ``/<name>``.

    ``content_at_submit``: a content-policy prompt is refused at submit (else it
    is accepted and the task fails). ``always_retry_after``: every 429 carries
    Retry-After even when ``retry_after_s`` is None (apiframe documents it).
    ``idempotent``: the ``Idempotency-Key`` header is honoured (apiframe).
    """

    content_at_submit = False
    always_retry_after = False
    idempotent = False

    def __init__(self, store: SimStore, name: str) -> None:
        self.store = store
        self.name = name

    @property
    def cfg(self) -> ProviderSimConfig:
        """This provider's simulator settings."""
        return self.store.cfg(self.name)

    def app(self) -> web.Application:
        """The sub-application with this provider's routes."""
        app = web.Application(middlewares=[self._late_answer])
        app.add_routes(self.routes())
        return app

    @web.middleware
    async def _late_answer(self, request: web.Request,
                           handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        """A ``slow`` request is handled (and recorded) when it arrives, as a real
        provider would; only its answer leaves ``slow_s`` late."""
        resp = await handler(request)
        if request.get(_SLOW):
            await asyncio.sleep(self.cfg.slow_s)
        return resp

    # -- the wire format, per provider ----------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        """This provider's routes (paths after ``/<name>``)."""
        raise NotImplementedError

    def request_key(self, request: web.Request) -> str:
        """The API key the request carries: ``Authorization: Bearer <key>`` unless
        overridden (``""``: none)."""
        value = request.headers.get("Authorization", "")
        return value[len("Bearer "):] if value.startswith("Bearer ") else ""

    def authorized(self, request: web.Request) -> bool:
        """Whether the request's key is one of this provider's and not a bad one."""
        return self.cfg.accepts(self.request_key(request))

    def error_response(self, kind: str, message: str = "", task: Any = None) -> web.Response:
        """An error in this provider's own shape and HTTP status. ``kind``: auth,
        invalid, rate, balance, quota, content, server, not_found. ``task``: the refused
        body (balance) or the unknown id (not_found), when useful."""
        raise NotImplementedError

    def validate(self, request: web.Request, body: Any) -> Any:
        """What is wrong with a submit (a message or details), or None."""
        raise NotImplementedError

    def make_task_id(self, rng: Any) -> str:
        """A task id in the provider's documented format."""
        raise NotImplementedError

    def prompt_of(self, body: dict[str, Any]) -> str:
        """The prompt of a valid submit body (its policy markers decide the task's fate)."""
        return str(body.get("prompt") or "")

    def task_meta(self, request: web.Request) -> dict[str, Any]:
        """Provider extras stored on the task at submit."""
        return {}

    def submitted(self, request: web.Request, task: Task) -> web.Response:
        """The answer to an accepted submit."""
        raise NotImplementedError

    def status_body(self, request: web.Request, task: Task) -> Any:
        """The poll answer's JSON body for a known task."""
        raise NotImplementedError

    # -- shared helpers -------------------------------------------------------------
    def base_url(self, request: web.Request) -> str:
        """``http://host:port`` of the simulator, from the request."""
        return f"{request.scheme}://{request.host}"

    def video_url(self, request: web.Request, task: Task) -> str:
        """The absolute URL where the simulator serves this task's video."""
        return self.base_url(request) + task.video_path

    def answer(self, resp: web.Response, kind: str, task_id: str | None = None,
               accepted: bool = False, reason: str | None = None) -> web.Response:
        """Record ``resp`` (with its real HTTP status) and return it."""
        self.store.record(self.name, kind, resp.status, task_id, accepted, reason, key=_KEY.get())
        return resp

    def with_retry_after(self, resp: web.Response, refusal: str) -> web.Response:
        """Add ``Retry-After`` (whole seconds, or ``retry_after_s`` as set) to a 429."""
        if resp.status != 429:
            return resp
        if self.cfg.retry_after_s is not None:
            resp.headers["Retry-After"] = f"{self.cfg.retry_after_s:g}"
        elif self.always_retry_after:
            wait = self.store.retry_after(self.name, refusal)
            resp.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return resp

    def fault_response(self, kind: str) -> web.Response:
        """The answer to an injected request fault (see store.REQUEST_FAULTS):
        ``server_error`` the provider's 500/503, ``rate_limit`` its rate-limit
        answer, ``html`` a proxy's 502 page, ``truncated`` JSON cut short."""
        if kind == "rate_limit":
            return self.with_retry_after(self.error_response("rate", "rate limit exceeded"), "rate")
        if kind == "html":
            return web.Response(status=502, text=HTML_502, content_type="text/html")
        if kind == "truncated":
            return web.Response(status=200, text='{"task_id": "1', content_type="application/json")
        return self.error_response("server", "internal server error")

    async def guard(self, request: web.Request, kind: str,
                    task_id: str | None = None) -> web.Response | None:
        """Latency, auth and injected faults before a handler: the answer to
        send instead of the real one (already recorded), or None."""
        await request.read()  # the body arrived; a later fault must not depend on the client
        if self.cfg.latency_s:
            await asyncio.sleep(self.cfg.latency_s)
        _KEY.set(self.request_key(request))
        if not self.authorized(request):
            return self.answer(self.error_response("auth", "Invalid API key"), kind, task_id,
                               reason="auth")
        fault = self.store.fault(self.name)
        if fault == "slow":  # handled now, answered slow_s late (see _late_answer)
            request[_SLOW] = True
        elif fault == "reset":  # no answer at all: the connection is dropped
            self.store.record(self.name, kind, 0, task_id, reason=fault)
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        elif fault is not None:
            return self.answer(self.fault_response(fault), kind, task_id, reason=fault)
        return None

    # -- flows ----------------------------------------------------------------------
    def replay(self, request: web.Request) -> web.Response | None:
        """The answer to a replayed ``Idempotency-Key`` (None: not a replay)."""
        return None

    async def submit(self, request: web.Request) -> web.StreamResponse:
        """The submit flow (see the module docstring)."""
        blocked = await self.guard(request, "submit")
        if blocked is not None:
            return blocked
        body = await json_body(request)
        replayed = self.replay(request)  # after the last await: no race with create()
        if replayed is not None:
            return replayed
        problem = self.validate(request, body)
        if problem is not None:
            return self.answer(self.error_response("invalid", problem), "submit", reason="invalid")
        key = self.request_key(request)
        refusal = self.store.admit(self.name, key)
        if refusal == "balance":
            resp = self.error_response("balance", "insufficient balance", body)
            return self.answer(resp, "submit", reason=refusal)
        if refusal == "quota":  # not a rate limit: no Retry-After, waiting a minute does not help
            resp = self.error_response("quota", "daily quota exceeded")
            return self.answer(resp, "submit", reason=refusal)
        if refusal is not None:  # rate or in_flight: both answered as a rate limit
            resp = self.with_retry_after(self.error_response("rate", "rate limit exceeded"), refusal)
            return self.answer(resp, "submit", reason=refusal)
        prompt = self.prompt_of(body)
        marker = self.cfg.content_policy_marker
        if self.content_at_submit and marker and marker in prompt:
            return self.answer(self.error_response("content", "content policy violation"),
                               "submit", reason="content")
        idem = request.headers.get("Idempotency-Key") if self.idempotent else None
        task_id = self.store.new_id(self.make_task_id)
        task = self.store.create(self.name, task_id, body, prompt=prompt, idempotency_key=idem or None,
                                 meta=self.task_meta(request), video_path=video_path(self.name, task_id), key=key)
        self.created(request, task)
        cut = self.cfg.cut_after_create_rate
        if cut and self.store.rng.random() < cut:  # the task exists (paid); its answer never arrives
            self.store.record(self.name, "submit", 0, task.task_id, accepted=True, reason="cut_after_create")
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        return self.answer(self.submitted(request, task), "submit", task.task_id, accepted=True)

    def created(self, request: web.Request, task: Task) -> None:
        """Called as a submit makes its task, before its answer (callback pushes start here)."""

    @property
    def pusher(self) -> Pusher:
        """This provider's callback pushes (simulator/callbacks.py; made on first use)."""
        if not hasattr(self, "_pusher"):
            self._pusher = Pusher(self)
        return self._pusher

    async def poll(self, request: web.Request, task_id: str) -> web.StreamResponse:
        """The poll flow: the task's status, or not found in the provider's shape."""
        blocked = await self.guard(request, "poll", task_id)
        if blocked is not None:
            return blocked
        task = self.store.tasks.get(task_id)
        if task is None or task.provider != self.name:
            resp = self.error_response("not_found", "task not found", task_id)
            return self.answer(resp, "poll", task_id, reason="not_found")
        if task.key and task.key != self.request_key(request):  # another account's task
            resp = self.error_response("not_found", "task not found", task_id)
            return self.answer(resp, "poll", task_id, reason="wrong_key")
        drift = self.cfg.poll_drift_rate
        if drift and (drift >= 1 or self.store.rng.random() < drift):
            body = drift_body(task, self.video_url(request, task))
            return self.answer(web.json_response(body), "poll", task_id, reason="drift")
        return self.answer(web.json_response(self.status_body(request, task)), "poll", task_id)

    async def poll_by_path(self, request: web.Request) -> web.StreamResponse:
        """Poll with the id in the path (``{task_id}``)."""
        return await self.poll(request, request.match_info["task_id"])
