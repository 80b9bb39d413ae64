"""Kills and a stopped database during submits: no duplicate submit, no lost task id, no exit 70.

    python bench/world_faults.py            # about 3 min; part 2 needs PostgreSQL's initdb/pg_ctl
    python bench/world_faults.py --smoke    # 3 kills, 1 stop/start

1. SQLite journal: a 120-job campaign over four providers (the simulator on
   127.0.0.1, 0.3 s tasks) is started and killed with SIGKILL at a random moment
   after it began submitting, ten times; then one run finishes it.
2. PostgreSQL journal (a throwaway server): the same campaign; while it submits,
   the server is stopped (``pg_ctl stop -m fast``: AdminShutdown for the run's
   connections) and started again one second later, three times; each run then
   ends on its own (exit 1: one line naming the server) and the next run goes on;
   a last run finishes it.

Prints, for each part: the runs and their exit statuses, the submits the
simulator accepted, the duplicate submits (one prompt accepted twice), the
answers not recorded (a task id the simulator issued that no journal record
holds: the run died while the answer was on its way, so its job is ``unknown``,
possibly paid, and is not sent again without ``--resubmit-unknown``), the lost
task ids (issued, not recorded, and the job not even ``unknown``: a promise
broken), the ``unknown`` jobs, and the runs that exited 70 ("this is a bug") or
printed a traceback.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from batch_runner.simulator import ProviderSimConfig, SimConfig, simulator_in_thread  # noqa: E402

PROVIDERS = ("gccai", "apiframe", "minimax", "gptproto")
FAST = {"rpm": 3000, "max_in_flight": 12, "poll_interval_s": 0.05, "timeout_s": 5, "typical_generation_s": 0.3}


def campaign(folder: Path, n: int) -> Path:
    path = folder / "faults.yaml"
    path.write_text(yaml.safe_dump({
        "providers": dict.fromkeys(PROVIDERS, FAST),
        "jobs": [{"name": f"r{i}", "prompt": f"product shot number {i}", "provider": PROVIDERS[i % 4]}
                 for i in range(n)],
    }), encoding="utf-8")
    return path


def accepted(sim) -> list:
    return [s for p in PROVIDERS for s in sim.store.submissions[p]]


def start(sim, path: Path, journal: str, out: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for p in PROVIDERS:
        env[f"{p.upper()}_BASE_URL"] = sim.url(p)
        env[f"{p.upper()}_API_KEY"] = sim.config.providers[p].api_key
    return subprocess.Popen([sys.executable, "-m", "batch_runner", "run", str(path), "--journal", journal,
                             "-o", str(out), "--quiet", "--no-canary", *extra],
                            env=env, cwd=str(path.parent), stderr=subprocess.PIPE, text=True)


def wait_for_submits(sim, before: int, proc: subprocess.Popen[str], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and len(accepted(sim)) == before and time.monotonic() < deadline:
        time.sleep(0.01)


def figures(name: str, sim, out: Path, runs: list[tuple[int, str]]) -> dict[str, object]:
    subs = accepted(sim)
    per_prompt = collections.Counter(s.body.get("prompt") for s in subs)
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    recorded = set(df["task_id"]) - {""}
    unknown = set(df.loc[df["status"] == "unknown", "prompt"])
    unrecorded = [s for s in subs if s.task_id not in recorded]
    lost = [s for s in unrecorded if s.body.get("prompt") not in unknown]  # not even marked "possibly paid"
    return {
        "part": name, "runs": len(runs), "exits": dict(collections.Counter(rc for rc, _ in runs)),
        "accepted_submits": len(subs), "duplicate_submits": sum(n - 1 for n in per_prompt.values() if n > 1),
        "answers_not_recorded": len(unrecorded), "lost_task_ids": len(lost),
        "unknown_jobs": int((df["status"] == "unknown").sum()),
        "exit_70": sum(rc == 70 for rc, _ in runs),
        "tracebacks": sum("Traceback" in err or "unexpected error" in err for _, err in runs),
    }


def sqlite_kills(n_jobs: int, kills: int, rng: random.Random) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp, simulator_in_thread(
            SimConfig(providers={p: ProviderSimConfig(generation_s=0.3) for p in PROVIDERS})) as sim:
        folder = Path(tmp)
        path, out, journal = campaign(folder, n_jobs), folder / "r.csv", str(folder / "j.sqlite")
        runs: list[tuple[int, str]] = []
        for _ in range(kills):
            proc = start(sim, path, journal, out)
            wait_for_submits(sim, len(accepted(sim)), proc)
            time.sleep(rng.uniform(0.0, 0.5))
            proc.kill()
            _, err = proc.communicate()
            runs.append((0 if proc.returncode == -9 else proc.returncode, err))
        last = start(sim, path, journal, out)
        _, err = last.communicate(timeout=300)
        runs.append((last.returncode, err))
        show_tracebacks(runs)
        return figures("sqlite: kill -9", sim, out, runs)


def postgres_restarts(n_jobs: int, restarts: int) -> dict[str, object]:
    from pgserver import pg_bin, pg_ctl, postgres_server

    if pg_bin() is None:
        return {"part": "postgresql: stop/start", "skipped": "initdb not found: apt-get install postgresql"}
    with tempfile.TemporaryDirectory() as tmp, postgres_server() as url, simulator_in_thread(
            SimConfig(providers={p: ProviderSimConfig(generation_s=0.3) for p in PROVIDERS})) as sim:
        folder = Path(tmp)
        path, out = campaign(folder, n_jobs), folder / "r.csv"
        runs: list[tuple[int, str]] = []
        for _ in range(restarts):
            proc = start(sim, path, url, out, "--lease", "3")
            wait_for_submits(sim, len(accepted(sim)), proc)
            time.sleep(0.3)
            pg_ctl(url, "stop")
            time.sleep(1.0)
            pg_ctl(url, "start")
            _, err = proc.communicate(timeout=120)
            runs.append((proc.returncode, err))
            time.sleep(3.5)  # the stopped worker's leases (3 s) run out
        last = start(sim, path, url, out, "--lease", "3")
        _, err = last.communicate(timeout=300)
        runs.append((last.returncode, err))
        return figures("postgresql: stop/start", sim, out, runs)


def show_tracebacks(runs: list[tuple[int, str]]) -> None:
    """Print the stderr of each run that printed a traceback (for --verbose)."""
    for rc, err in runs:
        if "Traceback" in err or "unexpected error" in err:
            print(f"--- exit {rc}:\n{err[-3000:]}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="3 kills and 1 stop/start (CI)")
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    kills, restarts = (3, 1) if args.smoke else (10, 3)
    for row in (sqlite_kills(120, kills, rng), postgres_restarts(120, restarts)):
        print("  ".join(f"{k}={v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
