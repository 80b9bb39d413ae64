"""Several `batch-runner run` processes on one campaign in a shared PostgreSQL journal,
against one simulator on 127.0.0.1: each job done once, the key's limits held across
workers and campaigns, a killed worker's jobs taken over, journals copied both ways.

The server is a throwaway one (tests/pgserver.py: initdb + pg_ctl on a Unix socket);
nothing is mocked."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT, SIM_ENV, sim_env, simulator_in_thread

pytestmark = pytest.mark.timeout(150)

RPM, CAP = 1800, 12  # the client's limits of the key: 30 submits per second, 12 in flight
LIMITS = {"rpm": RPM, "max_in_flight": CAP, "poll_interval_s": 0.1, "typical_generation_s": 0.3}


def manifest(tmp: Path, name: str, n: int, tag: str = "shot") -> Path:
    path = tmp / name
    path.write_text(yaml.safe_dump({
        "defaults": {"provider": "gccai"}, "providers": {"gccai": LIMITS},
        "jobs": [{"name": f"{tag}-{i}", "prompt": f"{tag} number {i}"} for i in range(n)],
    }), encoding="utf-8")
    return path


def worker(sim, path: Path, url: str, *args: str) -> subprocess.Popen[bytes]:
    """One `batch-runner run` process on the shared journal."""
    return subprocess.Popen(
        [sys.executable, "-m", "batch_runner", "run", str(path), "--journal", url, "--no-canary", "--quiet",
         "-o", str(path.with_suffix(f".{time.monotonic_ns()}.csv")), *args],
        env={**os.environ, **SIM_ENV, **sim_env(sim), "PYTHONPATH": str(ROOT)}, cwd=str(path.parent),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "batch_runner", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)


def submits_per_prompt(sim) -> collections.Counter[str]:
    return collections.Counter(s.body.get("prompt", "") for s in sim.store.submissions["gccai"])


def jobs_by_worker(url: str, campaign: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(url) as db:
        rows = db.execute("SELECT claimed_by, COUNT(*) FROM jobs WHERE campaign=%s GROUP BY claimed_by",
                          (campaign,)).fetchall()
    return {str(w): int(n) for w, n in rows}


def refused(sim) -> list[str]:
    return [r.reason or "" for r in sim.store.requests if r.kind == "submit" and not r.accepted]


@pytest.fixture
def shared_sim():
    """One simulator whose gccai key allows a little more than the client's limits
    (+2 submits per 1 s window: its edge, and the timer jitter of several processes
    on a loaded machine), with 0.3 s tasks."""
    with simulator_in_thread(generation_s=0.3) as sim:
        g = sim.config.providers["gccai"]
        g.rpm, g.window_s, g.max_in_flight = RPM + 2 * 60, 1.0, CAP
        yield sim


@pytest.mark.serial  # bounds real time: rate windows
def test_three_workers_do_each_job_once_within_the_keys_limits(tmp_path, pg_url, shared_sim):
    path = manifest(tmp_path, "launch.yaml", 300)
    procs = [worker(shared_sim, path, pg_url) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [o[1].decode()[-800:] for o in outs]
    per_prompt = submits_per_prompt(shared_sim)
    assert len(per_prompt) == 300 and max(per_prompt.values()) == 1  # every job once, 0 duplicate submits
    assert refused(shared_sim) == []  # no 429: the key's rate and in-flight cap held across the workers
    assert shared_sim.store.max_submits_in_window("gccai", 1.0) <= RPM / 60 + 2  # +2: the edge, timer jitter
    assert shared_sim.store.max_in_flight_seen("gccai") <= CAP
    by_worker = jobs_by_worker(pg_url, "launch.yaml")
    assert len(by_worker) == 3 and min(by_worker.values()) >= 30, by_worker  # all three took a share
    done = cli("results", pg_url, "--campaign", "launch.yaml", "-o", str(tmp_path / "all.csv"))
    assert done.returncode == 0, done.stderr
    df = pd.read_csv(tmp_path / "all.csv")
    assert len(df) == 300 and set(df["status"]) == {"succeeded"}
    status = cli("status", pg_url, "--campaign", "launch.yaml")
    assert status.stdout.startswith("succeeded=300 ") and status.stdout.count("worker ") == 3
    assert "stopped" in status.stdout
