"""Provider adapters, one module each, listed in one registry.

Adding a provider: one module here, one line in ADAPTERS, its facts in
data/providers.yaml, one simulator module.
"""

from __future__ import annotations

from batch_runner.providers.apiframe import ApiframeAdapter
from batch_runner.providers.apiinone import ApiinoneAdapter
from batch_runner.providers.base import Adapter, HttpRequest, HttpResponse, TaskState
from batch_runner.providers.gccai import GccaiAdapter
from batch_runner.providers.gptge import GptgeAdapter
from batch_runner.providers.gptproto import GptprotoAdapter
from batch_runner.providers.minimax import MinimaxAdapter

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
