"""The simulator application: every provider under its own prefix, plus videos.

``create_app(config)`` mounts each provider's sub-application at ``/<name>``
(SIMULATORS registry) and serves ``GET /videos/<provider>/<task_id>.mp4`` and a
JSON index at ``GET /``. ``running_simulator`` starts it on 127.0.0.1 for
tests and ``run --simulate``; ``serve`` runs it in the foreground.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import apiframe, apiinone, gccai, gptge, gptproto, minimax
from .config import PROVIDER_NAMES, SimConfig
from .state import SUCCEEDED, SimState, video_bytes

__all__ = ["SIMULATORS", "create_app", "running_simulator", "serve", "RunningSimulator"]

#: provider name -> sub-application factory (state, name) -> web.Application
SIMULATORS: dict[str, Callable[[SimState, str], web.Application]] = {
    "minimax": minimax.make_app,
    "gptge": gptge.make_app,
    "gccai": gccai.make_app,
    "gptproto": gptproto.make_app,
    "apiinone": apiinone.make_app,
    "apiframe": apiframe.make_app,
}
STATE_KEY = web.AppKey("state", SimState)


async def _video(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    provider, task_id = request.match_info["provider"], request.match_info["task_id"]
    task = state.tasks.get(task_id)
    if task is None or task.provider != provider or task.phase(state.now()) != SUCCEEDED:
        state.record(provider, "video", 404, task_id)
        raise web.HTTPNotFound()
    state.record(provider, "video", 200, task_id)
    return web.Response(body=video_bytes(state.config.video_bytes, task_id), content_type="video/mp4")


async def _index(request: web.Request) -> web.StreamResponse:
    base = f"{request.scheme}://{request.host}"
    return web.json_response({"providers": {n: f"{base}/{n}" for n in SIMULATORS}})


def create_app(config: SimConfig | None = None) -> web.Application:
    """The simulator of every provider; its state is ``app[STATE_KEY]``."""
    state = SimState(config or SimConfig())
    app = web.Application()
    app[STATE_KEY] = state
    for name, factory in SIMULATORS.items():
        app.add_subapp(f"/{name}", factory(state, name))
    app.router.add_get("/videos/{provider}/{task_id}.mp4", _video)
    app.router.add_get("/", _index)
    return app


@dataclass
class RunningSimulator:
    """A started simulator: ``base_url`` like http://127.0.0.1:41234."""

    base_url: str
    state: SimState
    config: SimConfig

    def url(self, provider: str) -> str:
        """Base URL to give a provider's client, e.g. http://127.0.0.1:41234/apiframe."""
        return f"{self.base_url}/{provider}"


@contextlib.asynccontextmanager
async def running_simulator(
    config: SimConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningSimulator]:
    """Start the simulator on ``host:port`` (0: a free port) for the block."""
    app = create_app(config)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = site._server.sockets if site._server else []  # noqa: SLF001 - the bound port
    bound = sockets[0].getsockname()[1] if sockets else port
    try:
        yield RunningSimulator(f"http://{host}:{bound}", app[STATE_KEY], app[STATE_KEY].config)
    finally:
        await runner.cleanup()


def serve(config: SimConfig, host: str = "127.0.0.1", port: int = 8765, *, echo: Callable[[str], Any] = print) -> None:
    """Serve the simulator in the foreground until interrupted."""

    async def main() -> None:
        async with running_simulator(config, host, port) as sim:
            echo(f"simulator at {sim.base_url} (Ctrl-C to stop); every provider accepts the key it is configured with:")
            for name in PROVIDER_NAMES:
                echo(f"  {name.upper()}_BASE_URL={sim.url(name)}  {name.upper()}_API_KEY={config.providers[name].api_key}")
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
