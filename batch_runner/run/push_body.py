"""What the run reads in a callback push's body: a task id and whether it says the task runs on.

A push is a hint, never the truth (run/callbacks.py): the state, the video
and the cost come from a poll. Its body is read only for the task id it names
(``task_id_in``) and for whether its status word says the task runs on
(``still_running``: such a push wakes no poll).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["RUNNING_WORDS", "json_body", "still_running", "task_id_in", "task_named"]

#: where a push may name its task id (a hint: the lifecycle verifies it with a poll)
_TASK_ID_KEYS = ("task_id", "taskId", "jobId", "id")

#: status words of a task that runs on (MiniMax ``status``, gpt.ge ``data.status``, apiframe ``type``
#: ``progress`` and ``status``), lower case; any other word, or none, wakes the job's poll
RUNNING_WORDS = frozenset({"preparing", "queueing", "queued", "processing", "progress", "pending", "running",
                           "in_progress", "submitted"})


def still_running(payload: Any) -> bool:
    """Whether a push's body says its task runs on (``RUNNING_WORDS`` in ``type``,
    ``status`` or ``data.status``): such a push wakes no poll, which would only read
    that. A push saying nothing readable wakes one."""
    if not isinstance(payload, dict):
        return False
    data = payload.get("data")
    words = [payload.get("type"), payload.get("status"), data.get("status") if isinstance(data, dict) else None]
    words = [w.lower() for w in words if isinstance(w, str)]
    return bool(words) and all(w in RUNNING_WORDS for w in words)


def json_body(body: bytes) -> Any:
    """A push's body read as JSON (None when it is not)."""
    try:
        return json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        return None


def task_named(body: bytes) -> str | None:
    """The task id a push's raw ``body`` names (a hint only), or None."""
    return task_id_in(json_body(body))


def task_id_in(payload: Any) -> str | None:
    """The task id a push names, at its top level or under ``data`` (a hint only)."""
    for where in (payload, payload.get("data") if isinstance(payload, dict) else None):
        if isinstance(where, dict):
            for key in _TASK_ID_KEYS:
                value = where.get(key)
                if isinstance(value, (str, int)) and str(value):
                    return str(value)
    return None
