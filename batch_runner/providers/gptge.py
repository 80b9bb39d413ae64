"""api.gpt.ge: MiniMax's protocol passed through under ``/task/minimax``.

Source: shared/providers/RESEARCH.md §2. Differences from minimax.py: the paths,
``duration`` and ``resolution`` are required (always sent), the query is
``GET /task/{task_id}``, and a failed task may say ``Failed``.
"""

from __future__ import annotations

from batch_runner.providers.base import HttpRequest
from batch_runner.providers.minimax import MinimaxAdapter

__all__ = ["GptgeAdapter"]


class GptgeAdapter(MinimaxAdapter):
    """gpt.ge pass-through of the MiniMax protocol."""

    name = "gptge"
    submit_path = "/task/minimax/v1/video_generation"
    retrieve_path = "/task/minimax/v1/files/retrieve"

    def build_poll(self, task_id: str) -> HttpRequest:
        return HttpRequest("GET", self.url(f"/task/{task_id}"), self.bearer())
