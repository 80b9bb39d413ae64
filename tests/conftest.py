"""Shared test helpers: write manifests, run the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from batch_runner.cli import main
from batch_runner.providers import ADAPTERS

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
#: every provider, from the adapter registry (the one list on the client side)
PROVIDERS = tuple(ADAPTERS)
SIM_ENV = {f"{p.upper()}_API_KEY": "" for p in PROVIDERS}


@pytest.fixture
def cli():
    """Run the batch-runner CLI in-process; returns click's Result."""
    runner = CliRunner()

    def invoke(*args: str, env: dict | None = None):
        return runner.invoke(main, [str(a) for a in args], env={**SIM_ENV, **(env or {})},
                             catch_exceptions=False)

    return invoke


@pytest.fixture
def write(tmp_path):
    """Write a file under tmp_path and return its path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write


def sim_env(sim) -> dict[str, str]:
    """Environment pointing every provider at a running simulator with its key."""
    env = {}
    for name in PROVIDERS:
        env[f"{name.upper()}_BASE_URL"] = sim.url(name)
        env[f"{name.upper()}_API_KEY"] = sim.config.providers[name].api_key
    return env


@pytest.fixture
async def sim():
    """A simulator on 127.0.0.1 with fast tasks (0.3 s); yields the running object."""
    from batch_runner.simulator import ProviderSimConfig, SimConfig, running_simulator

    config = SimConfig(providers={p: ProviderSimConfig(generation_s=0.3) for p in PROVIDERS})
    async with running_simulator(config, host="127.0.0.1", port=0) as running:
        yield running
