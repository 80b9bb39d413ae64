"""A local simulator of every provider's wire protocol (aiohttp.web).

Each provider is one module (``minimax``, ``gptge``, ``gccai``, ``gptproto``,
``apiinone``, ``apiframe``), listed once in ``registry.py`` and served under
``/<name>``; ``store.py`` holds the shared behaviour (task lifecycle, rate
limits, faults, balance, records for tests), ``base.py`` the shared request
flow, ``videos.py`` the videos (byte ranges, cut transfers). It imports nothing
from the rest of batch_runner, so it stands for the real providers on its own.
Start it with ``async with running_simulator(SimConfig()) as sim:`` and point
a client at ``sim.url("apiframe")``.
"""

from __future__ import annotations

from batch_runner.simulator.app import (
    SIMULATORS,
    RunningSimulator,
    create_app,
    running_simulator,
    serve,
    simulator_in_thread,
)
from batch_runner.simulator.config import (
    ProviderSimConfig,
    SimConfig,
    apply_knobs,
    make_config,
)
from batch_runner.simulator.registry import PROVIDER_NAMES

__all__ = [
    "PROVIDER_NAMES",
    "SIMULATORS",
    "ProviderSimConfig",
    "RunningSimulator",
    "SimConfig",
    "apply_knobs",
    "create_app",
    "make_config",
    "running_simulator",
    "serve",
    "simulator_in_thread",
]
