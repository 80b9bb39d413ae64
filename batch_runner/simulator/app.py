"""The simulator application: every provider under its own prefix, plus videos.

``create_app(config)`` mounts each provider's sub-application at ``/<name>``
(registry.SIMULATORS), serves the videos (videos.py: ``GET
/videos/<provider>/<task_id>.mp4``) and a JSON index at ``GET /``.
``running_simulator`` starts it (tests, in-process runs); ``serve`` runs it in
the foreground (``batch-runner simulate``).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

from aiohttp import web

from batch_runner.simulator.config import SimConfig
from batch_runner.simulator.registry import KEY_VARIABLE, PROVIDER_NAMES
from batch_runner.simulator.store import STORE_KEY, SimStore
from batch_runner.simulator.videos import VIDEO_ROUTE, handle_video

__all__ = ["SIMULATORS", "RunningSimulator", "banner", "create_app", "running_simulator", "serve"]

#: provider name -> sub-application factory ``(store, name) -> web.Application``, from
#: the module of each name of the registry
SIMULATORS: dict[str, Callable[[SimStore, str], web.Application]] = {
    name: importlib.import_module(f"batch_runner.simulator.{name}").make_app for name in PROVIDER_NAMES
}

#: largest request body taken, bytes: two 20 MB images as base64 data URIs fit
#: (aiohttp's own default, 1 MiB, refuses a single photo)
MAX_BODY_BYTES = 64 * 2**20


@web.middleware
async def _record_unrouted(request: web.Request,
                           handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                           ) -> web.StreamResponse:
    """Record requests no handler answered (404/405) as kind ``other``."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        prefix = request.path.strip("/").split("/", 1)[0]
        provider = prefix if prefix in SIMULATORS else ""
        request.app[STORE_KEY].record(provider, "other", exc.status, reason="not_found")
        raise


HTML_SITE = ("<!DOCTYPE html><html><head><title>Hailuo 2.3 API: pricing and docs</title></head>"
             "<body><h1>Create videos with Hailuo 2.3</h1><p>Sign in to get your API key.</p></body></html>")


@web.middleware
async def _html_host(request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """A provider with ``html_host`` answers every request under its prefix with
    a web site's page (HTTP 200, text/html), recorded as kind ``other``."""
    prefix = request.path.strip("/").split("/", 1)[0]
    store = request.app[STORE_KEY]
    if prefix in SIMULATORS and store.cfg(prefix).html_host:
        await request.read()
        store.record(prefix, "other", 200, reason="html_host")
        return web.Response(status=200, text=HTML_SITE, content_type="text/html")
    return await handler(request)


async def _index(request: web.Request) -> web.StreamResponse:
    """``GET /``: ``{"providers": {name: base URL}, "videos": URL pattern}``."""
    store = request.app[STORE_KEY]
    base = f"{request.scheme}://{request.host}"
    store.record("", "other", 200)
    return web.json_response({
        "providers": {name: f"{base}/{name}" for name in SIMULATORS},
        "videos": base + VIDEO_ROUTE,
    })


def create_app(config: SimConfig | None = None) -> web.Application:
    """The simulator of every provider; its SimStore is ``app[STORE_KEY]``."""
    store = SimStore(config or SimConfig())
    app = web.Application(middlewares=[_html_host, _record_unrouted], client_max_size=MAX_BODY_BYTES)
    app[STORE_KEY] = store
    for name, factory in SIMULATORS.items():
        app.add_subapp(f"/{name}", factory(store, name))
    app.router.add_get(VIDEO_ROUTE, handle_video)
    app.router.add_get("/", _index)
    return app


@dataclass
class RunningSimulator:
    """A started simulator: ``base_url`` like ``http://127.0.0.1:41234``,
    ``store`` (its tasks and request records, for tests) and ``config``."""

    base_url: str
    store: SimStore
    config: SimConfig

    def url(self, provider: str) -> str:
        """Base URL for a provider's client, e.g. ``http://127.0.0.1:41234/apiframe``."""
        return f"{self.base_url}/{provider}"


@contextlib.asynccontextmanager
async def running_simulator(config: SimConfig | None = None, host: str = "127.0.0.1",
                            port: int = 0) -> AsyncIterator[RunningSimulator]:
    """Serve the simulator on ``host:port`` (0: a free port) for the block."""
    app = create_app(config)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        bound = runner.addresses[0][1]
        store = app[STORE_KEY]
        yield RunningSimulator(f"http://{host}:{bound}", store, store.config)
    finally:
        await runner.cleanup()


@contextlib.contextmanager
def simulator_in_thread(config: SimConfig | None = None, host: str = "127.0.0.1",
                        port: int = 0) -> Iterator[RunningSimulator]:
    """``running_simulator`` served from its own thread and event loop for the block,
    so the caller's loop (a client under test or measure) runs beside it; its
    ``config`` may be changed between requests, its ``store`` read once idle."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    serving = running_simulator(config, host, port)
    running = asyncio.run_coroutine_threadsafe(serving.__aenter__(), loop).result(10)
    try:
        yield running
    finally:
        asyncio.run_coroutine_threadsafe(serving.__aexit__(None, None, None), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def banner(sim: RunningSimulator) -> list[str]:
    """The lines ``serve`` prints: each provider's base URL and dummy key."""
    lines = [f"simulator at {sim.base_url} (Ctrl-C to stop)"]
    for name in SIMULATORS:
        c = sim.config.providers[name]
        var = KEY_VARIABLE.get(name, f"{name.upper()}_API_KEY")
        keys = f"{var}S={','.join((c.api_key, *c.keys))}" if c.keys else f"{var}={c.api_key}"
        lines.append(f"  {name.upper()}_BASE_URL={sim.url(name)}  {keys}")
    return lines


def serve(config: SimConfig, host: str = "127.0.0.1", port: int = 8765, *,
          echo: Callable[[str], object] = print) -> None:
    """Serve the simulator in the foreground until interrupted (blocking)."""

    async def main() -> None:
        async with running_simulator(config, host, port) as sim:
            for line in banner(sim):
                echo(line)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
