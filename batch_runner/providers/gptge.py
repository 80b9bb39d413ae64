"""api.gpt.ge: MiniMax's protocol passed through under ``/task/minimax``.

Differences from minimax.py: the paths, ``duration`` and ``resolution`` are
required (always sent: minimax.py sends them too), the query is
``GET /task/{task_id}``, and a failed task may say ``Failed``. Errors are
MiniMax's ``base_resp`` codes (INFERRED: gpt.ge documents no error codes).

Sources (seen 2026-11):
- submit: https://gpt.morphogen.top/en/video/hailuo/generate-text-to-video.html and
  https://gpt.morphogen.top/en/video/hailuo/generate-image-to-video.html
- query: https://gpt.morphogen.top/en/video/hailuo/query-results.html
- files/retrieve: https://gpt.morphogen.top/en/video/hailuo/address.html
"""

from __future__ import annotations

from batch_runner.providers.minimax import MinimaxAdapter
from batch_runner.providers.wire import HttpRequest

__all__ = ["GptgeAdapter"]


class GptgeAdapter(MinimaxAdapter):
    """gpt.ge pass-through of the MiniMax protocol."""

    name = "gptge"
    submit_path = "/task/minimax/v1/video_generation"
    retrieve_path = "/task/minimax/v1/files/retrieve"

    def build_poll(self, task_id: str) -> HttpRequest:
        return HttpRequest("GET", self.url(f"/task/{task_id}"), self.headers())
