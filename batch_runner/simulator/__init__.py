"""A local simulator of every provider's wire protocol (aiohttp.web).

Each provider is one module (``minimax``, ``gptge``, ``gccai``, ``gptproto``,
``apiinone``, ``apiframe``) following docs/providers.md, served under
``/<name>``; ``state.py`` holds the shared behaviour (task lifecycle, rate
limits, faults, balance, records for tests), ``base.py`` the shared request
flow. Start it with ``async with running_simulator(SimConfig()) as sim:`` and
point a client at ``sim.url("apiframe")``.
"""

from __future__ import annotations

from batch_runner.simulator.app import (
    SIMULATORS,
    RunningSimulator,
    create_app,
    running_simulator,
    serve,
)
from batch_runner.simulator.config import (
    PROVIDER_NAMES,
    ProviderSimConfig,
    SimConfig,
    apply_settings,
)

__all__ = [
    "PROVIDER_NAMES",
    "SIMULATORS",
    "ProviderSimConfig",
    "RunningSimulator",
    "SimConfig",
    "apply_settings",
    "create_app",
    "running_simulator",
    "serve",
]
