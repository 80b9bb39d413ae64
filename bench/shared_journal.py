"""Shared journal benchmark: a key limit that binds; 1 or 3 workers, 1 or 3 keys.

    python bench/shared_journal.py          # about 2 min; needs PostgreSQL's initdb/pg_ctl
    python bench/shared_journal.py --smoke  # 60 jobs a campaign: seconds, for CI

A 600-job campaign on gccai, each of whose keys allows 100 submits in any 5 s
(the simulator counts per key and refuses more: a 429), in a throwaway
PostgreSQL server's journal, four times, each a campaign of its own: 1 worker
and 1 key, 3 workers and 1 key, 1 worker and 3 keys (``GCCAI_API_KEYS``), 3
workers and 3 keys. Since the key's limit binds, three workers on one key cannot
go faster than one; what they must not do is send more than the key allows
(each pacing to the whole limit would be three times the limit: a storm of
429s). Three keys are three times the limit: about three times faster. Prints,
for each, the wall time, the plan's estimate (`batch-runner plan`, which knows
the pool), the time from the first submit to the last, the 429s, the most
submits one key saw in any window, and the duplicate submits seen by the
simulator.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from pgserver import postgres_server  # noqa: E402

from batch_runner.simulator import PROVIDER_NAMES, ProviderSimConfig, SimConfig, running_simulator  # noqa: E402

JOBS, RPM, CAP = 600, 1200, 60  # 20 submits per second bind; 60 in flight do not (20/s x 0.4 s)
WINDOW_S = 5.0  # the simulator's rate window: 100 submits in any 5 s (real keys count per minute; a 1 s
# window would make a few ms of timer jitter on a loaded machine a sizeable part of it)
LIMITS = {"rpm": RPM, "max_in_flight": CAP, "poll_interval_s": 0.1, "typical_generation_s": 0.3}


def write_manifest(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump({
        "defaults": {"provider": "gccai"}, "providers": {"gccai": LIMITS},
        "jobs": [{"name": f"{name}-{i}", "prompt": f"{name} shot {i}"} for i in range(JOBS)],
    }), encoding="utf-8")
    return path


KEYS = {1: "a=sim-key", 3: "a=sim-key,b=sim-key-2,c=sim-key-3"}  # GCCAI_API_KEYS: a pool of 1 or 3


def key_env(keys: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GCCAI_API_KEY")}
    return {**env, "PYTHONPATH": str(ROOT), "GCCAI_API_KEYS": KEYS[keys]}


def run_workers(sim_url: str, path: Path, url: str, n: int, keys: int) -> float:
    env = {**key_env(keys), "GCCAI_BASE_URL": f"{sim_url}/gccai"}
    start = time.monotonic()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(n):
            procs.append(subprocess.Popen([sys.executable, "-m", "batch_runner", "run", str(path), "--journal", url,
                                           "--no-canary", "--quiet", "-o", str(path.with_suffix(f".{i}.csv"))],
                                          env=env, cwd=path.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        for p in procs:
            _, err = p.communicate(timeout=600)
            if p.returncode != 0:
                raise RuntimeError(f"a worker exited {p.returncode}: {err.decode()[-500:]}")
    finally:  # on any exit (a timeout, a failed worker, Ctrl-C, SIGTERM) no worker outlives the benchmark
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return time.monotonic() - start


def plan_wall_s(path: Path, keys: int) -> float:
    out = subprocess.run([sys.executable, "-m", "batch_runner", "plan", str(path), "--format", "json", "--no-canary"],
                         capture_output=True, text=True, check=True, env=key_env(keys))
    return float(json.loads(out.stdout)["total"]["wall_s"])


def main() -> None:
    """Run the four campaigns and print the table."""
    global JOBS
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="60 jobs a campaign instead of 600 (seconds, for CI)")
    if parser.parse_args().smoke:
        JOBS = 60
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a kill unwinds: workers, server, simulator stop
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    config = SimConfig(providers={p: ProviderSimConfig(generation_s=0.3) for p in PROVIDER_NAMES})
    gccai = config.providers["gccai"]
    gccai.rpm, gccai.key_rpm, gccai.window_s = None, RPM, WINDOW_S  # the limit is each key's
    gccai.keys = ("sim-key-2", "sim-key-3")
    serving = running_simulator(config)
    sim = asyncio.run_coroutine_threadsafe(serving.__aenter__(), loop).result(10)
    rows = []
    try:
        rows = measure(sim, loop)
    finally:
        asyncio.run_coroutine_threadsafe(serving.__aexit__(None, None, None), loop).result(10)
    print_table(rows)


def measure(sim: Any, loop: asyncio.AbstractEventLoop) -> list[tuple[Any, ...]]:
    """The four runs, each a campaign of its own in one throwaway PostgreSQL server."""
    rows = []
    with postgres_server() as url, tempfile.TemporaryDirectory() as tmp:
        for workers, keys, name in ((1, 1, "w1k1.yaml"), (3, 1, "w3k1.yaml"), (1, 3, "w1k3.yaml"),
                                    (3, 3, "w3k3.yaml")):
            path = write_manifest(Path(tmp), name)
            before, since = len(sim.store.requests), loop.time()  # the simulator loop's clock
            wall = run_workers(sim.base_url, path, url, workers, keys)
            mine = [r for r in sim.store.requests[before:] if r.kind == "submit"]
            refused = sum(1 for r in mine if not r.accepted)
            per_prompt = collections.Counter(s.body.get("prompt") for s in sim.store.submissions["gccai"]
                                             if str(s.body.get("prompt", "")).startswith(name))
            duplicates = sum(n - 1 for n in per_prompt.values())
            times = [r.t for r in mine if r.accepted]
            worst = max(sim.store.max_submits_in_window_by_key("gccai", WINDOW_S, since=since).values())
            rows.append((f"{workers} worker{'s' if workers > 1 else ''} / {keys} key{'s' if keys > 1 else ''}",
                         wall, plan_wall_s(path, keys), times[-1] - times[0], refused, worst, duplicates,
                         len(per_prompt)))
    return rows


def print_table(rows: list[tuple[Any, ...]]) -> None:
    """The figures, one line a run."""
    print(f"{JOBS} jobs on gccai, key limit {RPM / 60 * WINDOW_S:g} submits per {WINDOW_S:g} s, {CAP} in flight, "
          "tasks of 0.3 s")
    print(f"{'run':<20} {'wall s':>8} {'plan s':>8} {'submits s':>10} {'429s':>6} {'key max':>8} {'dupes':>6} "
          f"{'jobs':>6}")
    for name, wall, plan, span, refused, worst, dupes, jobs in rows:
        print(f"{name:<20} {wall:8.1f} {plan:8.1f} {span:10.1f} {refused:6d} {worst:8d} {dupes:6d} {jobs:6d}")
    print("wall s: from starting the workers to the last one's exit; submits s: first to last submit accepted; "
          f"key max: the most submits one key had accepted in any {WINDOW_S:g} s (its limit: "
          f"{RPM / 60 * WINDOW_S:g})")



if __name__ == "__main__":
    main()
