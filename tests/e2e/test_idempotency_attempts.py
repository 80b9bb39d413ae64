"""apiframe's ``Idempotency-Key`` per attempt, through the CLI against the simulator
(which, as apiframe documents, answers a key it saw within 24 h with the original
job): ``--retry-failed`` makes a new task, an ``unknown`` job sent again does not."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pandas as pd
import yaml

from batch_runner.journal import Journal
from batch_runner.providers.base import idempotency_key

from conftest import run_cli

FAST = {"rpm": 6000, "max_in_flight": 10, "poll_interval_s": 0.05, "timeout_s": 0.3,
        "backoff_base_s": 0.05, "max_attempts": 2, "task_timeout_s": 5, "typical_generation_s": 0.3}




def recorded(manifest: Path) -> tuple[str, int, str | None]:
    """(job id, attempt generation, idempotency key of its last submit) of the one job."""
    with Journal(f"{manifest}.journal.sqlite", lock=False) as journal:
        (record,) = journal.records()
    return record.job_id, record.generation, record.idempotency_key


async def test_retry_failed_submits_again_and_an_unknown_resend_makes_no_second_task(tmp_path, sim):
    apiframe = sim.config.providers["apiframe"]
    manifest, out = tmp_path / "campaign.yaml", tmp_path / "results.csv"
    manifest.write_text(yaml.safe_dump({
        "providers": {"apiframe": FAST},
        "jobs": [{"prompt": "a lighthouse at dusk", "provider": "apiframe"}],
    }), encoding="utf-8")
    submissions = sim.store.submissions["apiframe"]

    apiframe.fail_rate = 1.0  # the task fails at the provider (task_failed: transient)
    code, err = await run_cli(manifest, out, sim)
    assert code == 1, err
    assert list(pd.read_csv(out, dtype=str)["error_code"]) == ["task_failed"]
    job_id, generation, key = recorded(manifest)
    assert (generation, key) == (0, idempotency_key(job_id)) == (0, f"batch-runner-{job_id}")
    assert [s.idempotency_key for s in submissions] == [key]

    # --retry-failed, the provider's answer lost: a new key, so a new task, now unknown
    apiframe.fail_rate, apiframe.slow_rate, apiframe.slow_s = 0.0, 1.0, 1.0
    code, err = await run_cli(manifest, out, sim, "--retry-failed")
    assert list(pd.read_csv(out, dtype=str)["status"]) == ["unknown"], err
    _, generation, key = recorded(manifest)
    assert (generation, key) == (1, idempotency_key(job_id, 1))
    assert len(submissions) == 2 and submissions[1].idempotency_key == key
    assert submissions[0].task_id != submissions[1].task_id  # really submitted again

    # the unknown job sent again under the same key: apiframe replays the task made above
    await asyncio.sleep(1.0)  # the late answer lands
    apiframe.slow_rate = 0.0
    code, err = await run_cli(manifest, out, sim)
    df = pd.read_csv(out, dtype=str)
    assert code == 0 and list(df["status"]) == ["succeeded"], err
    assert list(df["task_id"]) == [submissions[1].task_id]
    assert len(submissions) == 2  # no third task
    assert recorded(manifest)[1:] == (1, idempotency_key(job_id, 1))
