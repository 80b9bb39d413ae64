"""Shared journal benchmark: one key whose rate binds, 1 worker against 3 workers.

    python bench/shared_journal.py          # about 80 s; needs PostgreSQL's initdb/pg_ctl

A 600-job campaign on gccai, whose key allows 100 submits in any 5 s (the
simulator refuses more: a 429), in a throwaway PostgreSQL server's journal:
first one `batch-runner run` worker, then three workers together on a second
campaign of the same size. Since the key's limit binds, three workers cannot go
faster than one; what they must not do is send more than the key allows (each
pacing to the whole limit would be three times the limit: a storm of 429s).
Prints, for each, the wall time, the plan's estimate (`batch-runner plan`),
the time from the first submit to the last, the 429s and duplicate submits
seen by the simulator.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

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


def run_workers(sim_url: str, path: Path, url: str, n: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GCCAI_BASE_URL": f"{sim_url}/gccai", "GCCAI_API_KEY": "sim-key"}
    start = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-m", "batch_runner", "run", str(path), "--journal", url,
                               "--no-canary", "--quiet", "-o", str(path.with_suffix(f".{i}.csv"))],
                              env=env, cwd=path.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for i in range(n)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        if p.returncode != 0:
            sys.exit(f"a worker exited {p.returncode}: {err.decode()[-500:]}")
    return time.monotonic() - start


def plan_wall_s(path: Path) -> float:
    out = subprocess.run([sys.executable, "-m", "batch_runner", "plan", str(path), "--format", "json", "--no-canary"],
                         capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return float(json.loads(out.stdout)["total"]["wall_s"])


def main() -> None:
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    config = SimConfig(providers={p: ProviderSimConfig(generation_s=0.3) for p in PROVIDER_NAMES})
    config.providers["gccai"].rpm, config.providers["gccai"].window_s = RPM, WINDOW_S
    serving = running_simulator(config)
    sim = asyncio.run_coroutine_threadsafe(serving.__aenter__(), loop).result(10)
    rows = []
    with postgres_server() as url, tempfile.TemporaryDirectory() as tmp:
        for workers, name in ((1, "one.yaml"), (3, "three.yaml")):
            path = write_manifest(Path(tmp), name)
            before = len(sim.store.requests)
            wall = run_workers(sim.base_url, path, url, workers)
            mine = [r for r in sim.store.requests[before:] if r.kind == "submit"]
            refused = sum(1 for r in mine if not r.accepted)
            per_prompt = collections.Counter(s.body.get("prompt") for s in sim.store.submissions["gccai"]
                                             if str(s.body.get("prompt", "")).startswith(name))
            duplicates = sum(n - 1 for n in per_prompt.values())
            times = [r.t for r in mine if r.accepted]
            rows.append((f"{workers} worker{'s' if workers > 1 else ''} / 1 key", wall, plan_wall_s(path),
                         times[-1] - times[0], refused, duplicates, len(per_prompt)))
    asyncio.run_coroutine_threadsafe(serving.__aexit__(None, None, None), loop).result(10)
    print(f"{JOBS} jobs on gccai, key limit {RPM / 60 * WINDOW_S:g} submits per {WINDOW_S:g} s, {CAP} in flight, "
          "tasks of 0.3 s")
    print(f"{'run':<20} {'wall s':>8} {'plan s':>8} {'submits s':>10} {'429s':>6} {'dupes':>6} {'jobs':>6}")
    for name, wall, plan, span, refused, dupes, jobs in rows:
        print(f"{name:<20} {wall:8.1f} {plan:8.1f} {span:10.1f} {refused:6d} {dupes:6d} {jobs:6d}")
    print("wall s: from starting the workers to the last one's exit; submits s: first to last submit accepted")


if __name__ == "__main__":
    main()
