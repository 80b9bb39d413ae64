"""A run started again at once (after a crash, by cron, with rows added) goes on
pacing from the last submit the journal holds: the provider still counts the
earlier run's submits in its window."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest
import yaml

from batch_runner.app import RunRequest, execute
from batch_runner.simulator import ProviderSimConfig, SimConfig, running_simulator

from conftest import PROVIDERS, sim_env

RPM = 60  # one submit every 60 / (60 x 0.97) = 1.03 s: longer than a run takes to start
LIMITS = {"rpm": RPM, "max_in_flight": 10, "poll_interval_s": 0.05, "timeout_s": 2, "task_timeout_s": 5,
          "typical_generation_s": 0.2}


async def run(path, jobs: int, env: dict[str, str]) -> pd.DataFrame:
    path.write_text(yaml.safe_dump({"providers": {"gccai": LIMITS},
                                    "jobs": [{"prompt": f"shot {i}", "provider": "gccai"} for i in range(jobs)]}),
                    encoding="utf-8")
    out = path.with_suffix(".csv")
    status = await execute(RunRequest(manifest=path, output=out, environ=env, speedup=1.0, quiet=True, canary=False))
    assert status == 0
    return pd.read_csv(out, dtype=str, keep_default_na=False)


@pytest.mark.serial  # bounds real time
async def test_a_run_started_again_at_once_keeps_the_spacing_of_the_last_one(tmp_path):
    config = SimConfig(providers={p: ProviderSimConfig(generation_s=0.1) for p in PROVIDERS})
    async with running_simulator(config) as sim:
        path = tmp_path / "m.yaml"
        await run(path, 3, sim_env(sim))
        first = len(sim.store.submissions["gccai"])
        df = await run(path, 6, sim_env(sim))  # 3 rows added: 3 new jobs, submitted at once
        times = [s.t for s in sim.store.submissions["gccai"]]
    assert first == 3 and len(times) == 6 and set(df["status"]) == {"succeeded"}
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # the gap across the two runs is a spacing interval too, not the second run's start-up time
    assert min(gaps) > 0.9, gaps
