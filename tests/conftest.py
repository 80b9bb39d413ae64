"""Shared test helpers: write manifests, run the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from batch_runner.catalog.settings import ProviderSettings
from batch_runner.cli import main
from batch_runner.keys import Secret
from batch_runner.providers import ADAPTERS

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
#: every provider, from the adapter registry (the one list on the client side)
PROVIDERS = tuple(ADAPTERS)
SIM_ENV = {f"{p.upper()}_API_KEY": "" for p in PROVIDERS}


def pytest_collection_modifyitems(items):
    """Under pytest-xdist, the ``serial`` tests go first, while the other workers
    run short tests, so none of them waits for a long test to end (see ``_serial``)."""
    if "PYTEST_XDIST_WORKER" in os.environ:
        items.sort(key=lambda item: item.get_closest_marker("serial") is None)


@pytest.fixture(autouse=True)
def _keys_of_this_test_only():
    """The keys one test's runs remember (batch_runner.keys, masked in every text for
    the life of a process) are forgotten after it: a CLI run is a process of its own,
    and a key such as 'from-the-environment-0001' must not mask 'environment' in the
    messages of the tests that run after it in the same worker."""
    from batch_runner import keys

    saved = (set(keys._KNOWN), keys._frozen, keys._runs)
    yield
    keys._KNOWN.clear()
    keys._KNOWN.update(saved[0])
    keys._frozen, keys._runs = saved[1], saved[2]


@pytest.fixture(autouse=True)
def _serial(request, tmp_path_factory):
    """Under pytest-xdist (``-n``), a test marked ``serial`` runs alone: it holds a
    lock file exclusively that every other test holds shared. For tests whose
    assertions bound real time (rate windows, TTLs, timer gaps), which a second
    worker's CPU load could break. Without xdist this does nothing."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    shared = tmp_path_factory.getbasetemp().parent  # one folder for all the workers of a run
    mode = fcntl.LOCK_EX if request.node.get_closest_marker("serial") else fcntl.LOCK_SH
    with open(shared / "serial.gate", "a") as gate, open(shared / "serial.lock", "a") as lock:
        fcntl.flock(gate, fcntl.LOCK_EX)  # a waiting serial test lets no new test start
        try:
            fcntl.flock(lock, mode)
        finally:
            fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


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


@contextlib.contextmanager
def simulator_in_thread(generation_s: float = 0.1):
    """The simulator of every provider on 127.0.0.1, served from its own thread and
    event loop so a test can drive the CLI (which runs its own loop) in this one;
    yields the RunningSimulator (its ``config`` may be changed between commands)."""
    from batch_runner.simulator import ProviderSimConfig, SimConfig
    from batch_runner.simulator import simulator_in_thread as serving

    with serving(SimConfig(providers={p: ProviderSimConfig(generation_s=generation_s) for p in PROVIDERS})) as running:
        yield running


@pytest.fixture
def threaded_sim():
    """simulator_in_thread for one test."""
    with simulator_in_thread() as running:
        yield running


class FakeClock:
    """A clock (seconds) that moves only when something sleeps on it: ``clock()``
    reads it, ``await clock.sleep(s)`` advances it by ``s`` (records it in
    ``sleeps``) and yields to the event loop once, as a real sleep would."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


async def run_cli(manifest: Path, out: Path, sim, *args: str) -> tuple[int, str]:
    """``batch-runner run MANIFEST -o OUT --quiet ARGS`` in its own process against the
    running simulator ``sim``; returns (exit status, stderr)."""
    import sys

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "batch_runner", "run", str(manifest), "-o", str(out), "--quiet", *args,
        env={**os.environ, **sim_env(sim), "PYTHONPATH": str(ROOT)}, cwd=str(ROOT),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, err.decode()


def provider_settings(**kw: object) -> ProviderSettings:
    """gccai settings for unit tests of run/ (a fake clock, no network); ``kw`` overrides."""
    values: dict[str, Any] = {"name": "gccai", "base_url": "http://127.0.0.1:9", "api_key": Secret("k"), "rpm": 60_000,
              "max_in_flight": 4, "poll_interval_s": 10.0, "timeout_s": 5.0, "task_timeout_s": 1800.0,
              "typical_generation_s": 100.0, "max_attempts": 3, "backoff_base_s": 0.001, "retry_total_s": 600.0}
    values.update(kw)
    return ProviderSettings(**values)


def tiny_video(path: Path, rgb: tuple[int, int, int] = (40, 120, 200), seconds: float = 1.5,
               size: tuple[int, int] = (160, 90)) -> Path:
    """A small H.264 MP4 of one colour at ``path`` (PyAV, libx264, 4 fps), for
    posters and contact sheets; returns ``path``."""
    import av
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=4)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        frame = np.zeros((size[1], size[0], 3), dtype=np.uint8)
        frame[:] = rgb
        for _ in range(max(1, round(seconds * 4))):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="session")
def pg_url():
    """A throwaway PostgreSQL server for the session (tests/pgserver.py); yields its URL.
    Without PostgreSQL's server the test is skipped, saying what to install; under CI
    (CI=true, where .ci/run installs it) it fails instead."""
    from pgserver import pg_bin, postgres_server

    if pg_bin() is None and os.environ.get("CI") != "true":
        pytest.skip("PostgreSQL's server is not installed (initdb not found): apt-get install postgresql")
    with postgres_server() as url:
        yield url
