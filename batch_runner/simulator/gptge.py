"""api.gpt.ge simulated: MiniMax's protocol passed through under ``/task/minimax``.

- submit ``POST /task/minimax/v1/video_generation`` (MiniMax-native body;
  ``prompt``, ``duration`` and ``resolution`` required, SEEN; a missing one is
  refused with MiniMax's 2013, INFERRED code);
- query ``GET /task/{task_id}`` answers the native MiniMax object (SEEN example);
- download ``GET /task/minimax/v1/files/retrieve?file_id=`` (SEEN).
Errors, statuses, content policy (1026), balance (1008) and rate limit (1002)
pass through from MiniMax (INFERRED). Everything else is minimax.MinimaxSim.
- knob ``answer_variant=wrapped``: the query answer is the wrapper gpt.ge's
  query page describes in prose (SEEN field names): ``code``, ``message``,
  ``request_id``, ``data.status`` in Success / Processing / Failed,
  ``data.resp_data`` (the native MiniMax object as a JSON string),
  ``data.video_url`` once it succeeded (the values INFERRED: ``code`` 0).

Source: https://gpt.morphogen.top/en/video/hailuo/query-results.html and its sibling
pages, seen 2026-11 (docs/providers.md).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from batch_runner.simulator.minimax import MinimaxSim
from batch_runner.simulator.store import SUCCESS, SimStore, Task

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

    def status_body(self, request: web.Request, task: Task) -> dict[str, Any]:
        """The native MiniMax object, or (``answer_variant=wrapped``) the wrapper around it."""
        native = super().status_body(request, task)
        if self.cfg.answer_variant != "wrapped":
            return native
        word = {"Success": "Success", "Fail": "Failed"}.get(native["status"], "Processing")
        data: dict[str, Any] = {"task_id": task.task_id, "status": word, "resp_data": json.dumps(native),
                                "video_url": "", "image_urls": []}
        if task.phase(self.store.now()) == SUCCESS:
            data["video_url"] = self.video_url(request, task)
        return {"code": 0, "message": "success", "request_id": f"req-{task.task_id}", "data": data}


def make_app(store: SimStore, name: str = "gptge") -> web.Application:
    """The gpt.ge sub-application, mounted at ``/<name>``."""
    return GptgeSim(store, name).app()
