"""Failure policy for cron: ``--retry-failed`` submits again only what a new try may
mend (``=all``: everything), and the exit status reports this run's new failures, not
the same old one every hour. Through the CLI against the simulator over HTTP."""

from __future__ import annotations

import pandas as pd
import yaml

from conftest import sim_env

FAST = {"rpm": 6000, "max_in_flight": 10, "poll_interval_s": 0.05, "timeout_s": 2,
        "backoff_base_s": 0.05, "max_attempts": 3, "task_timeout_s": 5, "typical_generation_s": 0.2}


def submits(sim) -> int:
    return len(sim.store.submissions.get("gccai", []))


def test_retry_failed_leaves_content_policy_alone_and_old_failures_do_not_fail_cron(cli, tmp_path, threaded_sim):
    sim = threaded_sim
    manifest = tmp_path / "m.yaml"
    manifest.write_text(yaml.safe_dump({"providers": {"gccai": FAST}, "jobs": [
        {"prompt": "a calm lake", "provider": "gccai"},
        {"prompt": "a [[REJECT]] scene", "provider": "gccai"},   # refused by content policy
        {"prompt": "a stormy sea", "provider": "gccai"},
    ]}), encoding="utf-8")
    out = tmp_path / "results.csv"
    sim.config.providers["gccai"].fail_rate = 1.0  # every task fails (task_failed): a new try may mend it
    first = cli("run", manifest, "-o", out, "--quiet", env=sim_env(sim))
    assert first.exit_code == 1  # new failures in this run
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert sorted(df["error_code"]) == ["content_policy", "task_failed", "task_failed"]
    sim.config.providers["gccai"].fail_rate = 0.0
    before = submits(sim)
    hourly = cli("run", manifest, "-o", out, env=sim_env(sim))
    assert hourly.exit_code == 0, hourly.output  # the same old failures do not fail every cron run
    assert submits(sim) == before
    assert "earlier failures, not tried again: 3 (2 may succeed on a new try: --retry-failed" in hourly.output
    retried = cli("run", manifest, "-o", out, "--retry-failed", "--quiet", env=sim_env(sim))
    assert retried.exit_code == 0, retried.output
    assert submits(sim) == before + 2  # the content-policy refusal is not paid for again
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(df["status"]) == ["succeeded", "failed", "succeeded"]
    everything = cli("run", manifest, "-o", out, "--retry-failed=all", "--quiet", env=sim_env(sim))
    assert submits(sim) == before + 3
    assert everything.exit_code == 1  # refused again, in this run
