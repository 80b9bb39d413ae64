"""Lost results and polls per job, with and without callbacks (issue 28).

    python bench/callbacks.py            # 100 jobs each on MiniMax and gpt.ge, ~1 min
    python bench/callbacks.py --smoke    # 10 jobs each: it still runs (CI), figures not comparable
    python bench/callbacks.py --providers apiframe   # apiframe's signed webhooks instead

The "faults" scenario of bench/peers.py (10 % each of connection resets, late
answers, 5xx, HTML pages, rate limits, truncated bodies) plus 10 % of submit
answers cut after the provider made the task, on the two providers whose
callbacks this version uses (MiniMax, gpt.ge). batch_runner runs in this
process (``app.execute``) against the simulator on 127.0.0.1, time scaled 60x
(one real minute is one second), once polling only and once with
``--callback-url``. Figures: results lost (tasks that succeeded at the simulator
and are not in the results as succeeded), jobs ``unknown``, jobs paid twice,
polls per job, wall seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from batch_runner.app import RunRequest, execute  # noqa: E402
from batch_runner.simulator import ProviderSimConfig, SimConfig, running_simulator  # noqa: E402

SCALE = 60.0
PROVIDERS = ("minimax", "gptge")
FAULTS = ("reset_rate", "slow_rate", "error_rate", "html_error_rate", "rate_limit_rate", "truncated_rate")
SETTINGS = {"rpm": 6000, "max_in_flight": 40, "typical_generation_s": 120 / SCALE, "poll_interval_s": 10 / SCALE,
            "timeout_s": 30 / SCALE, "task_timeout_s": 1800 / SCALE, "backoff_base_s": 1 / SCALE,
            "retry_total_s": 300 / SCALE}


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def measure(tmp: Path, jobs: int, callbacks: bool, faults: bool,
                  providers: tuple[str, ...] = PROVIDERS) -> dict[str, float]:
    """One run of the faults (or clean) scenario on ``providers``; its figures."""
    work = tmp / f"{'with' if callbacks else 'without'}-{'faults' if faults else 'clean'}"
    work.mkdir()
    manifest = work / "campaign.yaml"
    manifest.write_text(yaml.safe_dump({
        "providers": dict.fromkeys(providers, SETTINGS),
        "jobs": [{"provider": p, "prompt": f"bench shot {p} {i}"} for p in providers for i in range(jobs)],
    }), encoding="utf-8")
    # window_s scaled too: apiframe's 429s carry a Retry-After (the rate window's rest), unscaled an hour
    sims = {p: ProviderSimConfig(generation_s=120 / SCALE, slow_s=60 / SCALE, window_s=60 / SCALE,
                                 cut_after_create_rate=0.1 * faults,
                                 **dict.fromkeys(FAULTS, 0.1 * faults)) for p in providers}
    out = work / "results.csv"
    async with running_simulator(SimConfig(providers=sims, seed=17)) as sim:
        env = {}
        for p in providers:
            env[f"{p.upper()}_BASE_URL"], env[f"{p.upper()}_API_KEY"] = sim.url(p), "sim-key"
        port = free_port()
        extra = {"callback_url": f"http://127.0.0.1:{port}/br/", "callback_listen": f"127.0.0.1:{port}"} \
            if callbacks else {}
        started = time.monotonic()
        await execute(RunRequest(manifest=manifest, output=out, environ=env, speedup=1.0, quiet=True, canary=False,
                                 **extra))  # type: ignore[arg-type]
        wall = time.monotonic() - started
        succeeded = {t.task_id for t in sim.store.tasks.values() if t.outcome == "succeeded"}
        polls = sum(1 for r in sim.store.requests if r.kind == "poll")
        paid = Counter(s.body["prompt"] for p in providers for s in sim.store.submissions[p])
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    ok = set(df.loc[df["status"] == "succeeded", "task_id"])
    n = len(providers) * jobs
    return {"lost": len(succeeded - ok), "unknown": int((df["status"] == "unknown").sum()),
            "paid_twice": sum(1 for v in paid.values() if v > 1), "polls_per_job": polls / n, "wall_s": wall,
            "succeeded": int((df["status"] == "succeeded").sum()), "jobs": n}


async def main(argv: list[str] | None = None) -> int:
    """Run both ways and print one Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--smoke", action="store_true", help="10 jobs a provider instead of 100")
    ap.add_argument("--providers", default=",".join(PROVIDERS), help="comma-separated (default minimax,gptge)")
    args = ap.parse_args(argv)
    providers = tuple(p.strip() for p in args.providers.split(",") if p.strip())
    jobs = 10 if args.smoke else 100
    with tempfile.TemporaryDirectory() as tmp:
        rows = [(f"{scenario}, {label}", await measure(Path(tmp), jobs, on, scenario == "faults", providers))
                for scenario in ("clean", "faults") for label, on in (("polling only", False), ("callbacks", True))]
    print(f"| scenario ({' + '.join(providers)}) | jobs succeeded | results lost | unknown | paid twice "
          "| polls / job | wall s |")
    print("|---|---|---|---|---|---|---|")
    for label, f in rows:
        print(f"| {label} | {f['succeeded']}/{f['jobs']} | {f['lost']} | {f['unknown']} | {f['paid_twice']} "
              f"| {f['polls_per_job']:.2f} | {f['wall_s']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
