"""api.gpt.ge simulated: MiniMax's protocol passed through under ``/task/minimax``.

- submit ``POST /task/minimax/v1/video_generation`` (MiniMax-native body;
  ``prompt``, ``duration`` and ``resolution`` required, SEEN; a missing one is
  refused with MiniMax's 2013, INFERRED code);
- query ``GET /task/{task_id}`` answers the native MiniMax object (SEEN example);
- download ``GET /task/minimax/v1/files/retrieve?file_id=`` (SEEN).
Errors, statuses, content policy (1026), balance (1008) and rate limit (1002)
pass through from MiniMax (INFERRED). Everything else is minimax.MinimaxSim.

Source: https://gpt.morphogen.top/en/video/hailuo/query-results.html and its sibling
pages, seen 2026-11 (docs/providers.md).
"""

from __future__ import annotations

from aiohttp import web

from batch_runner.simulator.minimax import MinimaxSim
from batch_runner.simulator.store import SimStore

__all__ = ["GptgeSim", "make_app"]


class GptgeSim(MinimaxSim):
    """gpt.ge pass-through of the MiniMax protocol, stricter on required fields."""

    submit_path = "/task/minimax/v1/video_generation"
    retrieve_path = "/task/minimax/v1/files/retrieve"
    strict = True

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(self.submit_path, self.submit),
            web.get(self.retrieve_path, self.retrieve),
            web.get("/task/{task_id}", self.poll_by_path),
        ]


def make_app(store: SimStore, name: str = "gptge") -> web.Application:
    """The gpt.ge sub-application, mounted at ``/<name>``."""
    return GptgeSim(store, name).app()
