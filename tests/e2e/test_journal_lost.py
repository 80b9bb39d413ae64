"""A journal deleted or moved during a run, and a new journal beside results that list
task ids: nothing is paid twice. The CLI against the simulator over HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys

import pandas as pd
import yaml

from conftest import ROOT, sim_env

FAST = {"rpm": 6000, "max_in_flight": 10, "poll_interval_s": 0.05, "timeout_s": 2, "backoff_base_s": 0.05,
        "task_timeout_s": 5, "typical_generation_s": 0.2}
SLOW = {"rpm": 60, "max_in_flight": 50, "poll_interval_s": 0.2, "timeout_s": 5, "typical_generation_s": 1,
        "task_timeout_s": 120}


def accepted(sim) -> list[str]:
    return [r.task_id for r in sim.store.requests if r.provider == "minimax" and r.kind == "submit" and r.accepted]


def task_ids(path) -> set[str]:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    return {t for t in df["task_id"] if t}


async def cli(sim, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "batch_runner", *args, env={**os.environ, **sim_env(sim), "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_a_journal_deleted_mid_run_stops_submits_and_a_rebuilt_journal_polls_its_tasks(tmp_path, sim):
    sim.config.providers["minimax"].generation_s = 8.0  # every task still in flight when the journal goes
    manifest = tmp_path / "m.yaml"
    jobs = [{"prompt": f"shot {i}", "provider": "minimax"} for i in range(20)]
    manifest.write_text(yaml.safe_dump({"providers": {"minimax": SLOW}, "jobs": jobs}), encoding="utf-8")
    journal, results = tmp_path / "m.yaml.journal.sqlite", tmp_path / "m.yaml.results.csv"
    run = asyncio.ensure_future(cli(sim, "run", str(manifest), "--quiet", "--no-canary"))
    for _ in range(300):
        if len(accepted(sim)) >= 3:
            break
        await asyncio.sleep(0.05)
    for path in tmp_path.glob("m.yaml.journal.sqlite*"):  # rm m.yaml.journal.sqlite*
        path.unlink()
    at_delete = len(accepted(sim))
    status, _, err = await run

    assert status == 1
    (copy,) = tmp_path.glob("m.yaml.journal.sqlite.recovered-*.sqlite")
    assert err.strip().splitlines()[-1].startswith(f"the journal {journal} was deleted or moved away during the run")
    assert f"saved in {copy}" in err and f"mv {copy} {journal}" in err
    paid = accepted(sim)
    assert len(paid) - at_delete <= 1  # at most the submit already on its way
    assert task_ids(results) == set(paid)  # every paid task id is in the results...
    with sqlite3.connect(copy) as db:  # ... and in the recovery copy
        assert {r[0] for r in db.execute("SELECT task_id FROM jobs WHERE task_id IS NOT NULL")} == set(paid)

    # the next run, on a new journal, refuses to pay for them again, before sending anything
    status, _, err = await cli(sim, "run", str(manifest), "--quiet", "--no-canary")
    assert status == 2 and accepted(sim) == paid
    assert f"{results} lists {len(paid)} task id(s)" in err
    assert f"batch-runner journal rebuild {results} --journal {journal}" in err

    status, out, err = await cli(sim, "journal", "rebuild", str(results))
    assert status == 0, err
    assert f"{len(paid)} in flight (polled by the next run, not submitted again)" in out

    sim.config.providers["minimax"].generation_s = 0.3
    status, _, err = await cli(sim, "run", str(manifest), "--quiet", "--no-canary")
    assert status == 0, err
    df = pd.read_csv(results, dtype=str, keep_default_na=False)
    assert set(df["status"]) == {"succeeded"}
    now = accepted(sim)
    assert now[:len(paid)] == paid and len(now) == 20  # the old tasks polled; only the 20 - n never sent were sent
    assert set(paid) <= set(df["task_id"])


def test_a_new_journal_beside_results_with_task_ids_pays_again_only_when_told(tmp_path, cli, threaded_sim):
    manifest = tmp_path / "m.yaml"
    jobs = [{"prompt": f"shot {i}", "provider": "minimax"} for i in range(3)]
    manifest.write_text(yaml.safe_dump({"providers": {"minimax": FAST}, "jobs": jobs}),
                        encoding="utf-8")
    env = sim_env(threaded_sim)
    assert cli("run", manifest, "--quiet", env=env).exit_code == 0
    first = task_ids(tmp_path / "m.yaml.results.csv")
    (tmp_path / "m.yaml.journal.sqlite").rename(tmp_path / "elsewhere.sqlite")  # moved between runs

    refused = cli("run", manifest, "--quiet", env=env)
    assert refused.exit_code == 2 and "--ignore-results-task-ids" in refused.output
    assert len(accepted(threaded_sim)) == 3

    again = cli("run", manifest, "--quiet", "--ignore-results-task-ids", env=env)
    assert again.exit_code == 0
    assert len(accepted(threaded_sim)) == 6  # told to: paid again, new task ids
    assert task_ids(tmp_path / "m.yaml.results.csv").isdisjoint(first)


def test_rebuild_keeps_succeeded_videos_and_runs_nothing_again(tmp_path, cli, threaded_sim):
    manifest = tmp_path / "m.yaml"
    jobs = [{"prompt": f"shot {i}", "provider": "minimax"} for i in range(3)]
    manifest.write_text(yaml.safe_dump({"providers": {"minimax": FAST}, "jobs": jobs}),
                        encoding="utf-8")
    env = sim_env(threaded_sim)
    out = tmp_path / "out.csv"
    assert cli("run", manifest, "-o", out, "--quiet", env=env).exit_code == 0
    before = pd.read_csv(out, dtype=str, keep_default_na=False)
    (tmp_path / "m.yaml.journal.sqlite").unlink()

    unnamed = cli("journal", "rebuild", out, env=env)  # not a default results name: the journal must be named
    assert unnamed.exit_code == 2 and "--journal PATH" in unnamed.output
    made = cli("journal", "rebuild", out, "--journal", tmp_path / "m.yaml.journal.sqlite", env=env)
    assert made.exit_code == 0 and "3 succeeded" in made.output
    assert cli("run", manifest, "-o", out, "--quiet", env=env).exit_code == 0
    after = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(accepted(threaded_sim)) == 3
    assert list(after["task_id"]) == list(before["task_id"]) and list(after["video_url"]) == list(before["video_url"])
