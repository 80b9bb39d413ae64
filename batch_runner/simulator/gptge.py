"""api.gpt.ge simulated: MiniMax's protocol under ``/task/minimax``, query at
``GET /task/{task_id}``; ``duration`` and ``resolution`` required.

Source: shared/providers/RESEARCH.md §2 (the 2013 code for a missing field is INFERRED).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .minimax import MinimaxSim

__all__ = ["GptgeSim", "make_app"]


class GptgeSim(MinimaxSim):
    """gpt.ge pass-through of the MiniMax protocol."""

    name = "gptge"
    submit_path = "/task/minimax/v1/video_generation"
    retrieve_path = "/task/minimax/v1/files/retrieve"
    require_duration = True

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(self.submit_path, self.submit),
            web.get(self.retrieve_path, self.retrieve),
            web.get("/task/{task_id}", self.query_by_path),
        ]

    async def query_by_path(self, request: web.Request) -> web.StreamResponse:
        return await self.query(request, request.match_info["task_id"])


def make_app(state: Any, name: str = "gptge") -> web.Application:
    """The gpt.ge sub-application."""
    return GptgeSim(state, name).app()
