"""gccai (APIMart) honours ``Idempotency-Key``: an ``unknown`` submit (its answer
lost) is sent again under the same key and answered with the same task, so
nothing is paid twice. The simulator answers a replay as APIMart's contract is
read in issue 27 (``Idempotency-Replayed: true``; INFERRED, docs/providers-artifacts.md)."""

from __future__ import annotations

import asyncio

import pandas as pd
import yaml

from batch_runner.providers.base import idempotency_key

from conftest import run_cli

FAST = {"rpm": 6000, "max_in_flight": 10, "poll_interval_s": 0.05, "timeout_s": 0.3,
        "backoff_base_s": 0.05, "max_attempts": 2, "task_timeout_s": 5, "typical_generation_s": 0.3}


async def test_an_unknown_gccai_submit_sent_again_is_answered_with_the_same_task(tmp_path, sim):
    gccai = sim.config.providers["gccai"]
    manifest, out = tmp_path / "campaign.yaml", tmp_path / "results.csv"
    manifest.write_text(yaml.safe_dump({
        "providers": {"gccai": FAST},
        "jobs": [{"prompt": "a lighthouse at dusk", "provider": "gccai"}],
    }), encoding="utf-8")
    submissions = sim.store.submissions["gccai"]

    gccai.slow_rate, gccai.slow_s = 1.0, 1.0  # every answer late: the submit's answer is lost
    code, err = await run_cli(manifest, out, sim)
    df = pd.read_csv(out, dtype=str)
    assert list(df["status"]) == ["unknown"], err
    job_id = df.loc[0, "job_id"]
    await asyncio.sleep(1.0)  # the late answer lands: the task exists at the provider
    assert [s.idempotency_key for s in submissions] == [idempotency_key(job_id)]

    gccai.slow_rate = 0.0
    code, err = await run_cli(manifest, out, sim)
    df = pd.read_csv(out, dtype=str)
    assert code == 0 and list(df["status"]) == ["succeeded"], err
    assert len(submissions) == 1  # the resend made no second task: paid once
    assert list(df["task_id"]) == [submissions[0].task_id]
    replays = [r for r in sim.store.requests if r.provider == "gccai" and r.reason == "idempotent_replay"]
    assert len(replays) >= 1 and replays[0].task_id == submissions[0].task_id
