"""batch_runner side by side with what users would write instead, in one benchmark run.

    python bench/peers.py                  # prints one table (4 rows x 4 scenarios), ~5 min
    python bench/peers.py --runs 3         # three times: the last table and the noise band
    python bench/peers.py --scenario clean --peer batch_runner --profile  # and where its time goes
    python bench/peers.py --smoke          # 10 jobs a provider: it still runs (CI), figures not comparable

Peers (bench/peers/): the short script (asyncio.gather + Semaphore, fixed poll
interval, 3 retries of anything, results at the end), the OpenAI cookbook's
parallel processor algorithm (continuously refilling per-minute capacity that
starts full, 15 s global pause after a rate limit, re-queue up to 5 attempts,
results appended as they arrive) and batch_runner with its defaults but the
canary (``--no-canary``: the peers check no first video either); the row
"batch_runner + canary" (clean scenario only) is batch_runner with every default:
its canary costs one generation time before a provider's other jobs go. The row
"batch_runner + callbacks" (faults scenario only) is batch_runner with
``--callback-url`` and its receiver on a free port of 127.0.0.1: apiframe pushes
its signed webhooks there (gccai, whose callbacks are not verified, is polled). All three
read the same manifest and build/read requests with the same adapters
(batch_runner.providers); the peers send with their own aiohttp session.

Every peer runs in a child process against one in-process simulator on
127.0.0.1 (a fresh one per peer and scenario). Time is scaled: one real
minute is ``1 / SCALE`` minutes here (rates up, times down by SCALE); the
manifest's ``providers:`` section carries the scaled limits and times.
Figures: wall / ideal (the ideal: the exact makespan of the best schedule
under the simulator's true limits, the last task's generation time included),
rate-limit answers, polls per job, paid submits per job (accepted submits /
jobs), jobs paid twice (two accepted submits of one job's prompt), jobs never
paid (no accepted submit: they failed, or their one submit's answer was lost
before the provider made a task), results lost (tasks that succeeded at the
simulator and are not in the output as succeeded; "id unknown": of those, tasks
whose id the output does not hold at all; "of apiframe": of those, apiframe's, the
provider here that documents callbacks), client CPU per 1,000 jobs (the
children's CPU, start-up imports left out).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import re
import resource
import socket
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from batch_runner.simulator import ProviderSimConfig, SimConfig, running_simulator  # noqa: E402

HERE = Path(__file__).resolve().parent
SCALE = 60.0  # one real minute is one second here
#: provider: real-world limits and times (rpm, max_in_flight, generation s, poll_interval_s, jobs);
#: apiframe is bound by its in-flight cap, gccai by its rate
SPEC = {"apiframe": (60, 20, 120.0, 8.0, 100), "gccai": (10, 40, 120.0, 10.0, 100)}
TIMEOUT_S = 30.0  # every provider's default HTTP timeout (data/providers.yaml)
#: the simulator's sliding window of each rate limit, real seconds: a minute, as "rpm" says
WINDOW_S = 60.0
FAULTS = ("reset_rate", "slow_rate", "error_rate", "html_error_rate", "rate_limit_rate", "truncated_rate")
#: peer: (script in bench/peers/, extra arguments, scenarios it runs in (None: all))
PEERS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...] | None]] = {
    "short script": ("short_script.py", (), None),
    "cookbook": ("cookbook.py", (), None),
    "batch_runner": ("batch_runner_peer.py", ("--no-canary",), None),
    "batch_runner + canary": ("batch_runner_peer.py", (), ("clean",)),
    # pushes to its receiver on a free port of 127.0.0.1 ({port}): apiframe's signed webhooks (gccai: polled)
    "batch_runner + callbacks": ("batch_runner_peer.py", ("--no-canary", "--callback-url", "http://127.0.0.1:{port}/br/",
                                                          "--callback-listen", "127.0.0.1:{port}"), ("faults",)),
}
#: the providers of SPEC whose callbacks batch_runner uses (run/callbacks.py CALLBACK_FIELDS)
PUSHED = ("apiframe",)
SCENARIOS = ("clean", "limits wrong", "faults", "crash")
PROMPT = re.compile(r"peer bench shot \w+ \d+")
RATE_REASONS = ("rate", "in_flight", "rate_limit")


@dataclass
class Figures:
    """One peer in one scenario."""

    peer: str
    scenario: str
    wall_s: float
    ideal_s: float
    even_s: float
    rate_limited: int
    polls_per_job: float
    paid_per_job: float
    paid_twice: int
    never_paid: int
    lost: int
    lost_unknown: int
    lost_pushed: int  # of ``lost``, tasks of the providers that document callbacks (PUSHED)
    done: int
    jobs: int
    cpu_per_k: float
    start_s: float  # from the end of the imports to the first accepted submit (the last run's, after a crash)
    tail_s: float  # from the end of the last task at the simulator to the process's exit


def ideal_makespan(n: int, limit: int, window_s: float, cap: int, gen_s: float) -> float:
    """Seconds from the first submit to the last task's end in the best schedule of
    ``n`` identical tasks of ``gen_s`` seconds under at most ``limit`` submits in any
    ``window_s`` seconds and at most ``cap`` tasks in flight: each submit at the
    earliest moment both limits allow (greedy is optimal for identical tasks)."""
    t: list[float] = []
    for i in range(n):
        t.append(max(0.0, t[i - limit] + window_s if i >= limit else 0.0, t[i - cap] + gen_s if i >= cap else 0.0))
    return t[-1] + gen_s


def sim_config(scenario: str) -> tuple[SimConfig, float, float]:
    """The simulator of a scenario, the ideal makespan (seconds) under its true limits
    (bursts as the sliding window allows), and the ideal at an even pace (one submit
    every 60 / rpm seconds, as a client that does not know the window sends them)."""
    wrong = scenario == "limits wrong"
    window = WINDOW_S / SCALE
    providers, ideal, even = {}, 0.0, 0.0
    for p, (rpm, cap, gen, _, n) in SPEC.items():
        true_rpm = rpm * SCALE * (0.6 if wrong else 1.0)
        limit = round(true_rpm * window / 60)
        providers[p] = ProviderSimConfig(generation_s=gen / SCALE, rpm=true_rpm, window_s=window,
                                         max_in_flight=cap, slow_s=2 * TIMEOUT_S / SCALE)
        for fault in FAULTS if scenario == "faults" else ():
            setattr(providers[p], fault, 0.1)
        ideal = max(ideal, ideal_makespan(n, limit, window, cap, gen / SCALE))
        even = max(even, ideal_makespan(n, 1, 60 / true_rpm, cap, gen / SCALE))
    return SimConfig(providers=providers, seed=17), ideal, even


def write_manifest(path: Path) -> Path:
    """The campaign: SPEC's jobs, with the configured limits and times scaled in ``providers:``."""
    settings = {p: {"rpm": rpm * SCALE, "max_in_flight": cap, "typical_generation_s": gen / SCALE,
                    "poll_interval_s": poll / SCALE, "timeout_s": TIMEOUT_S / SCALE,
                    "task_timeout_s": 1800 / SCALE, "backoff_base_s": 1 / SCALE, "retry_total_s": 300 / SCALE}
                for p, (rpm, cap, gen, poll, _) in SPEC.items()}
    jobs = [{"provider": p, "prompt": f"peer bench shot {p} {i}"} for p, v in SPEC.items() for i in range(v[4])]
    path.write_text(yaml.safe_dump({"providers": settings, "jobs": jobs}), encoding="utf-8")
    return path


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children_cpu() -> float:
    """CPU seconds (user + system) of every child process waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def run_child(peer: str, manifest: Path, out: Path, markfile: Path, env: dict[str, str],
                    kill_after_s: float | None = None) -> tuple[float, float]:
    """Run one peer; return (wall seconds after its start-up, CPU seconds after its start-up).
    ``kill_after_s``: SIGKILL it that many seconds after its start-up."""
    cpu0 = children_cpu()
    script, extra, _ = PEERS[peer]
    port = str(free_port())
    extra = tuple(a.replace("{port}", port) for a in extra)
    proc = await asyncio.create_subprocess_exec(sys.executable, str(HERE / "peers" / script), str(manifest), str(out),
                                                str(markfile), str(SCALE), *extra, env=env, cwd=str(ROOT),
                                                stdout=asyncio.subprocess.DEVNULL)
    while not markfile.exists() or not markfile.read_text():  # noqa: ASYNC110 (another process writes it)
        await asyncio.sleep(0.005)
    started = json.loads(markfile.read_text())
    try:
        if kill_after_s is None:
            await proc.wait()
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), max(0.0, started["wall"] + kill_after_s - time.time()))
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    finally:
        markfile.unlink()
    return time.time() - started["wall"], children_cpu() - cpu0 - started["cpu"]


def output_tasks(out: Path) -> tuple[set[str], set[str], set[str]]:
    """(task ids, job ids) of succeeded results in a peer's output (JSONL, or
    batch_runner's CSV), and every task id the output holds, whatever its status."""
    if not out.exists():
        return set(), set(), set()
    if out.suffix == ".csv":
        rows = pd.read_csv(out, dtype=str, keep_default_na=False).to_dict("records")
    else:
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]
    ok = [r for r in rows if r["status"] == "succeeded"]
    return {r["task_id"] for r in ok}, {r["job_id"] for r in ok}, {r["task_id"] for r in rows if r["task_id"]}


def paid_per_prompt(submissions: list[list[Any]]) -> Counter[str]:
    """Accepted submits per job (by the job's prompt in the submitted body)."""
    paid: Counter[str] = Counter()
    for subs in submissions:
        for sub in subs:
            found = PROMPT.search(json.dumps(sub.body))
            paid[found.group(0) if found else sub.task_id] += 1
    return paid


async def measure(peer: str, scenario: str, tmp: Path, profile: Path | None = None) -> Figures:
    """One peer in one scenario, on a fresh simulator and a fresh folder
    (``profile``: batch_runner's pyinstrument profile is written there)."""
    work = tmp / re.sub(r"\W+", "_", f"{peer}-{scenario}")
    work.mkdir()
    manifest = write_manifest(work / "campaign.yaml")
    out = work / ("results.csv" if PEERS[peer][0] == "batch_runner_peer.py" else "results.jsonl")
    config, ideal, even = sim_config(scenario)
    n = sum(v[4] for v in SPEC.values())
    async with running_simulator(config) as sim:
        env = {"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0"}
        if profile is not None:
            env["BENCH_PROFILE"] = str(profile)
        for p in SPEC:
            env[f"{p.upper()}_BASE_URL"], env[f"{p.upper()}_API_KEY"] = sim.url(p), "sim-key"
        mark = work / "started.json"
        if scenario == "crash":
            wall1, cpu1 = await run_child(peer, manifest, out, mark, env, kill_after_s=ideal / 2)
            # the peers' users rerun them from the start (their output file as it is);
            # batch_runner's rerun resumes from its journal
            wall2, cpu2 = await run_child(peer, manifest, out, mark, env)
            wall, cpu = wall1 + wall2, cpu1 + cpu2
        else:
            wall, cpu = await run_child(peer, manifest, out, mark, env)
        store = sim.store
        now, first_t = store.now(), min((s.t for subs in store.submissions.values() for s in subs), default=0.0)
        last_end = max((t.ends_at for t in store.tasks.values() if t.ends_at <= now), default=now)
        start = wall - (now - first_t) if scenario != "crash" else float("nan")  # crash: two processes
        rate_limited = sum(1 for r in store.requests if r.reason in RATE_REASONS)
        polls = sum(1 for r in store.requests if r.kind == "poll")
        paid = paid_per_prompt(list(store.submissions.values()))
        succeeded = {t.task_id for t in store.tasks.values() if t.outcome == "succeeded"}
        pushed = {t.task_id for t in store.tasks.values() if t.provider in PUSHED}
    task_ids, job_ids, known = output_tasks(out)
    return Figures(peer, scenario, wall, ideal, even, rate_limited, polls / n, paid.total() / n,
                   sum(1 for v in paid.values() if v > 1), n - len(paid), len(succeeded - task_ids),
                   len(succeeded - known), len((succeeded - task_ids) & pushed), len(job_ids), n, cpu / n * 1000,
                   start, now - last_end)


def table(rows: list[Figures]) -> str:
    """The figures as one Markdown table."""
    lines = ["| scenario | peer | wall / ideal | wall / even-pace ideal | rate-limit answers | polls / job "
             "| paid submits / job (paid twice, never paid) | results lost (id unknown; of apiframe) | jobs succeeded "
             "| client CPU s / 1000 jobs | start-up, after the last task (s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r.scenario} | {r.peer} | {r.wall_s:.1f} / {r.ideal_s:.2f} s = {r.wall_s / r.ideal_s:.3f} "
              f"| {r.wall_s / r.even_s:.3f} | {r.rate_limited} | {r.polls_per_job:.1f} "
              f"| {r.paid_per_job:.2f} ({r.paid_twice}, {r.never_paid}) | {r.lost} ({r.lost_unknown}; {r.lost_pushed}) "
              f"| {r.done} / {r.jobs} | {r.cpu_per_k:.2f} "
              f"| {'-' if math.isnan(r.start_s) else f'{r.start_s:.2f}'}, {r.tail_s:.2f} |" for r in rows]
    return "\n".join(lines)


def noise(runs: list[list[Figures]]) -> str:
    """The spread of the main figures over several runs, one line per peer and scenario."""
    lines = []
    for same in zip(*runs, strict=True):
        ratios = [r.wall_s / r.ideal_s for r in same]
        lines.append(f"- {same[0].scenario} / {same[0].peer}: wall/ideal {min(ratios):.3f}..{max(ratios):.3f}, "
                     f"rate-limit answers {'/'.join(str(r.rate_limited) for r in same)}, "
                     f"polls/job {'/'.join(f'{r.polls_per_job:.1f}' for r in same)}, "
                     f"paid/job {'/'.join(f'{r.paid_per_job:.2f}' for r in same)}, "
                     f"lost {'/'.join(str(r.lost) for r in same)}, "
                     f"CPU s/1000 jobs {min(r.cpu_per_k for r in same):.2f}..{max(r.cpu_per_k for r in same):.2f}")
    return "\n".join(lines)


async def main(argv: list[str] | None = None) -> int:
    """Every peer in every scenario (or those asked for), ``--runs`` times; prints
    the last table, and the noise band when there is more than one run."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--runs", type=int, default=1, help="full runs (default 1)")
    ap.add_argument("--scenario", action="append", choices=SCENARIOS, help="only this scenario (repeatable)")
    ap.add_argument("--peer", action="append", choices=list(PEERS), help="only this peer (repeatable)")
    ap.add_argument("--profile", type=Path, nargs="?", const=Path("batch_runner-profile.txt"), default=None,
                    help="write batch_runner's pyinstrument profile of its clean run there and print its top")
    ap.add_argument("--smoke", action="store_true", help="10 jobs a provider instead of 100: seconds, for CI")
    args = ap.parse_args(argv)
    if args.smoke:
        for provider, (rpm, cap, gen, poll, _) in list(SPEC.items()):
            SPEC[provider] = (rpm, cap, gen, poll, 10)
    runs: list[list[Figures]] = []
    begin = time.monotonic()
    for _ in range(args.runs):
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            for scenario in args.scenario or SCENARIOS:
                for peer, (_, _, only) in PEERS.items():
                    if (args.peer and peer not in args.peer) or (only is not None and scenario not in only):
                        continue
                    profile = args.profile if peer == "batch_runner" and scenario == "clean" else None
                    rows.append(await measure(peer, scenario, Path(tmp), profile and profile.resolve()))
                    print(f"  {scenario} / {peer}: {rows[-1].wall_s:.1f} s", file=sys.stderr, flush=True)
        runs.append(rows)
    print(table(runs[-1]))
    if len(runs) > 1:
        print(f"\nNoise band over {len(runs)} runs:\n{noise(runs)}")
    if args.profile is not None and args.profile.exists():
        print(f"\nbatch_runner, clean scenario, pyinstrument (top of {args.profile}):\n")
        print("\n".join(args.profile.read_text(encoding="utf-8").splitlines()[:40]))
    print(f"\n(whole benchmark: {time.monotonic() - begin:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
