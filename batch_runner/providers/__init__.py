"""Provider adapters, one module each, listed in one registry.

Adding a provider: one module here, one line in ADAPTERS, its facts in
data/providers.yaml, one simulator module.
"""

from __future__ import annotations

from .apiframe import ApiframeAdapter
from .apiinone import ApiinoneAdapter
from .base import Adapter, HttpRequest, HttpResponse, TaskState
from .gccai import GccaiAdapter
from .gptge import GptgeAdapter
from .gptproto import GptprotoAdapter
from .minimax import MinimaxAdapter

__all__ = ["ADAPTERS", "Adapter", "HttpRequest", "HttpResponse", "TaskState"]

#: provider name -> adapter class
ADAPTERS: dict[str, type[Adapter]] = {
    cls.name: cls
    for cls in (
        MinimaxAdapter,
        GptgeAdapter,
        GccaiAdapter,
        GptprotoAdapter,
        ApiinoneAdapter,
        ApiframeAdapter,
    )
}
