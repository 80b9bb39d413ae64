"""What every simulated provider shares: auth, faults, latency, records.

A provider module subclasses ProviderSim, says how its errors look
(``error_response``) and how it authenticates (``authorized``), and adds its
routes in ``routes()``. ``guard()`` runs before each API handler: latency,
auth (401 in the provider's shape), injected faults.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from .state import SimState

__all__ = ["ProviderSim", "json_body"]

HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"


async def json_body(request: web.Request) -> Any:
    """The request's JSON body, or None when it is not JSON."""
    try:
        return await request.json(loads=json.loads)
    except (ValueError, UnicodeDecodeError):
        return None


class ProviderSim:
    """One provider's protocol, served under ``/<name>``."""

    name = ""

    def __init__(self, state: SimState, name: str):
        self.state = state
        self.name = name or self.name

    @property
    def cfg(self):  # noqa: ANN201 - ProviderSimConfig
        """This provider's simulator settings."""
        return self.state.cfg(self.name)

    def app(self) -> web.Application:
        """The sub-application with this provider's routes."""
        app = web.Application()
        app.add_routes(self.routes())
        return app

    # -- to override --------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        """This provider's routes."""
        raise NotImplementedError

    def authorized(self, request: web.Request) -> bool:
        """``Authorization: Bearer <key>`` by default."""
        return request.headers.get("Authorization", "") == f"Bearer {self.cfg.api_key}"

    def error_response(self, kind: str, message: str, status: int) -> web.Response:
        """An error in this provider's own shape. ``kind``: auth, invalid,
        rate, quota, balance, content, server, not_found."""
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------
    def base_url(self, request: web.Request) -> str:
        """``http://host:port`` of the simulator, from the request."""
        return f"{request.scheme}://{request.host}"

    def video_url(self, request: web.Request, task_id: str) -> str:
        """The URL where the simulator serves this task's video."""
        return f"{self.base_url(request)}/videos/{self.name}/{task_id}.mp4"

    async def guard(self, request: web.Request, kind: str, task_id: str | None = None) -> web.StreamResponse | None:
        """Latency, auth and injected faults before a handler; returns the
        answer to send instead of the real one, or None."""
        cfg = self.cfg
        if cfg.latency_s:
            await asyncio.sleep(cfg.latency_s)
        if not self.authorized(request):
            self.state.record(self.name, kind, 401, task_id)
            return self.error_response("auth", "Invalid authentication credentials", 401)
        fault = self.state.fault(self.name)
        if fault is None:
            return None
        if fault == "slow":
            await asyncio.sleep(cfg.slow_s)
            return None
        self.state.record(self.name, kind, 0, task_id, refusal=fault)
        if fault == "reset":
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        if fault == "html":
            return web.Response(status=502, text=HTML_502, content_type="text/html")
        if fault == "truncated":
            return web.Response(status=200, text='{"task_id": "1', content_type="application/json")
        if fault == "rate_limit":
            return self.rate_limited("Rate limit exceeded")
        return self.error_response("server", "internal server error", 500)

    def rate_limited(self, message: str) -> web.Response:
        """A rate-limit answer, with Retry-After when configured."""
        resp = self.error_response("rate", message, 429)
        if self.cfg.retry_after_s is not None:
            resp.headers["Retry-After"] = f"{self.cfg.retry_after_s:g}"
        return resp

    def refuse_submit(self, reason: str) -> web.Response:
        """The answer to a submit that ``state.admit`` refused."""
        self.state.record(self.name, "submit", 429 if reason in ("rate", "quota") else 402, refusal=reason)
        if reason == "rate":
            return self.rate_limited("Rate limit exceeded")
        if reason == "quota":
            return self.error_response("quota", "daily quota exceeded", 429)
        return self.error_response("balance", "insufficient balance", 402)
