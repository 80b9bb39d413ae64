"""The registry of adapters: the one list of providers on the client side.

``ADAPTERS`` maps a provider name (as in manifests, data/providers.yaml and the
``<NAME>_API_KEY`` variables) to its adapter class. Adding a provider: one
module in providers/, one line here, its facts in data/providers.yaml, its
fixtures in tests/fixtures/<name>/ (the contract suite), one simulator module.
"""

from __future__ import annotations

from batch_runner.providers.apiframe import ApiframeAdapter
from batch_runner.providers.apiinone import ApiinoneAdapter
from batch_runner.providers.base import Adapter
from batch_runner.providers.gccai import GccaiAdapter
from batch_runner.providers.gptge import GptgeAdapter
from batch_runner.providers.gptproto import GptprotoAdapter
from batch_runner.providers.minimax import MinimaxAdapter
from batch_runner.providers.minimax_v2 import MinimaxV2Adapter

__all__ = ["ADAPTERS"]

#: provider name -> adapter class, in the order providers are listed to users
ADAPTERS: dict[str, type[Adapter]] = {
    cls.name: cls
    for cls in (
        MinimaxAdapter,
        GptgeAdapter,
        GccaiAdapter,
        GptprotoAdapter,
        ApiinoneAdapter,
        ApiframeAdapter,
        MinimaxV2Adapter,
    )
}
