"""The simulated providers: one module each, listed once, here.

``PROVIDERS`` maps a provider name (its URL prefix, ``/<name>``, and its key in
``SimConfig.providers``) to its module, which has ``make_app(store, name)``
(the sub-application) and ``URL_TTL_S`` (seconds a video URL works, None:
never expires). Adding a provider is one module and one line here; every other
list (``PROVIDER_NAMES``, ``SIMULATORS``, the default URL lifetimes) follows.

The provider modules import config.py only for type checking, since config.py
imports this module.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from aiohttp import web

from batch_runner.simulator import apiframe, apiinone, gccai, gptge, gptproto, minimax
from batch_runner.simulator.store import SimStore

__all__ = ["DEFAULT_URL_TTL_S", "PROVIDERS", "PROVIDER_NAMES", "SIMULATORS"]

#: provider name -> its simulator module (``GET /`` and the ``simulate`` banner keep this order)
PROVIDERS: dict[str, ModuleType] = {
    "minimax": minimax,
    "gptge": gptge,
    "gccai": gccai,
    "gptproto": gptproto,
    "apiinone": apiinone,
    "apiframe": apiframe,
}

#: every simulated provider, in the order of ``PROVIDERS``
PROVIDER_NAMES: tuple[str, ...] = tuple(PROVIDERS)

#: provider name -> sub-application factory ``(store, name) -> web.Application``
SIMULATORS: dict[str, Callable[[SimStore, str], web.Application]] = {
    name: module.make_app for name, module in PROVIDERS.items()
}

#: provider name -> how long a video URL works by default (seconds; None: never expires)
DEFAULT_URL_TTL_S: dict[str, float | None] = {name: module.URL_TTL_S for name, module in PROVIDERS.items()}
