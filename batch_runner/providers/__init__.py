"""Provider adapters, one module each, listed in one registry (registry.py).

What the rest of the package uses is re-exported here: the registry, the
adapter base class and the wire types.
"""

from __future__ import annotations

from batch_runner.providers.base import Adapter
from batch_runner.providers.registry import ADAPTERS
from batch_runner.providers.wire import HttpRequest, HttpResponse, PollResult

__all__ = ["ADAPTERS", "Adapter", "HttpRequest", "HttpResponse", "PollResult"]
