"""``unknown`` jobs (submit sent, answer lost): the run's summary says when each
submit was sent (UTC) and what to do next, through the CLI against the simulator."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

import pandas as pd
import yaml

from conftest import run_cli

FAST = {"rpm": 6000, "max_in_flight": 10, "poll_interval_s": 0.05, "timeout_s": 0.3,
        "backoff_base_s": 0.05, "max_attempts": 2, "task_timeout_s": 5, "typical_generation_s": 0.3}
STAMP = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC"




def unix(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


async def test_the_summary_says_when_unknown_submits_were_sent_and_what_to_do(tmp_path, sim):
    """Every minimax and apiframe submit answer comes after the client's timeout
    (the simulator still makes the task): both jobs end ``unknown``. The summary
    gives minimax's submit time, close to when the provider made the task, with
    "check the dashboard, else --resubmit-unknown"; apiframe's says the next run
    sends it again under its idempotency key, and that run makes no second task."""
    for name in ("minimax", "apiframe"):
        sim.config.providers[name].slow_rate, sim.config.providers[name].slow_s = 1.0, 1.0
    manifest, out = tmp_path / "campaign.yaml", tmp_path / "results.csv"
    manifest.write_text(yaml.safe_dump({
        "providers": {"minimax": FAST, "apiframe": FAST, "gccai": FAST},
        "jobs": [{"prompt": "lost on minimax", "provider": "minimax"},
                 {"prompt": "lost on apiframe", "provider": "apiframe"},
                 {"prompt": "fine", "provider": "gccai"}],
    }), encoding="utf-8")

    code, err = await run_cli(manifest, out, sim)
    assert code == 1, err
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(df["status"]) == ["unknown", "unknown", "succeeded"]
    minimax = re.search(r"unknown: 1 minimax job \(submit sent around " + STAMP + r"\): check minimax's "
                        r"dashboard for a task made around then; if nothing is there, run again with "
                        r"--resubmit-unknown$", err, re.M)
    assert minimax, err
    made = sim.store.unix(sim.store.submissions["minimax"][0].t)  # when the provider made the task
    assert made - 1 <= unix(minimax[1]) <= made + 2, (made, minimax[1])
    assert re.search(r"unknown: 1 apiframe job \(submit sent around " + STAMP + r"\): the next run sends it "
                     r"again under the same idempotency key, so apiframe makes no second task$", err, re.M), err
    assert len(sim.store.submissions["apiframe"]) == 1

    await asyncio.sleep(1.0)  # the late answers land
    sim.config.providers["apiframe"].slow_rate = 0.0  # apiframe answers in time now
    code, again = await run_cli(manifest, out, sim)
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    # exit 0: minimax's unknown is the earlier run's, already reported (the line below says it again)
    assert code == 0 and list(df["status"]) == ["unknown", "succeeded", "succeeded"], again
    assert len(sim.store.submissions["apiframe"]) == 1  # sent again under its key: no second task
    assert len(sim.store.submissions["minimax"]) == 1  # not sent again without --resubmit-unknown
    assert "apiframe job" not in again
    assert re.search(r"unknown: 1 minimax job \(submit sent around " + re.escape(minimax[1]) + " UTC\\)", again), again
