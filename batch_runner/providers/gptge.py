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

from batch_runner.providers.base import KeyCheck, dig
from batch_runner.providers.minimax import MinimaxAdapter
from batch_runner.providers.wire import HttpRequest, HttpResponse

__all__ = ["GptgeAdapter"]


class GptgeAdapter(MinimaxAdapter):
    """gpt.ge pass-through of the MiniMax protocol."""

    name = "gptge"
    submit_path = "/task/minimax/v1/video_generation"
    retrieve_path = "/task/minimax/v1/files/retrieve"

    def build_poll(self, task_id: str) -> HttpRequest:
        return HttpRequest("GET", self.url(f"/task/{task_id}"), self.headers())

    def read_key_check(self, resp: HttpResponse) -> KeyCheck:
        """As MiniMax's, and a JSON object without ``base_resp`` (gpt.ge's own
        gateway answer for an unknown task: undocumented, INFERRED) is ``ok``
        unless it is a 401/403 or a 429/5xx."""
        verdict = super().read_key_check(resp)
        body = resp.json()
        if verdict.verdict == "not_api" and isinstance(body, dict) and body:
            if resp.status == 429 or resp.status >= 500:
                return KeyCheck("unclear", f"HTTP {resp.status}: try again later")
            msg = dig(body, "error", "message") or dig(body, "message") or ""
            return KeyCheck("ok", f"key accepted (the made-up task: HTTP {resp.status} {str(msg)[:120]!r})")
        return verdict
