"""Durable, resumable, cron-safe runs: no job submitted twice, no result lost.

The run is a real subprocess (``python -m batch_runner run``) against the
simulator served by the test process, so kills and signals are real and the
simulator's records survive them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import yaml

from batch_runner.journal import Journal

from conftest import ROOT, sim_env

PROVIDERS = ("gccai", "apiframe", "minimax", "gptproto")
FAST = {"rpm": 3000, "max_in_flight": 12, "poll_interval_s": 0.05, "timeout_s": 5, "typical_generation_s": 0.3}


def campaign(path: Path, n: int, start: int = 0) -> Path:
    """A CSV campaign of n text-to-video rows spread over four providers."""
    rows = [{"name": f"r{i}", "prompt": f"product shot number {i} [推进]", "provider": PROVIDERS[i % 4]}
            for i in range(start, start + n)]
    header = not path.exists()
    pd.DataFrame(rows).to_csv(path, mode="a", header=header, index=False)
    return path


def settings_yaml(path: Path, sheet: Path, n_rows: int, **settings) -> Path:
    """A YAML manifest with fast provider settings over the same jobs as the CSV."""
    df = pd.read_csv(sheet, dtype=str)
    path.write_text(yaml.safe_dump({
        "providers": {p: {**FAST, **settings} for p in PROVIDERS},
        "jobs": df.to_dict("records")[:n_rows],
    }), encoding="utf-8")
    return path


async def start_run(manifest: Path, out: Path, sim, *extra: str) -> asyncio.subprocess.Process:
    env = {**os.environ, **sim_env(sim), "PYTHONPATH": str(ROOT)}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "batch_runner", "run", str(manifest), "-o", str(out), "--quiet", "--no-canary", *extra,
        env=env, cwd=str(ROOT), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def finish(proc: asyncio.subprocess.Process, timeout_s: float = 60) -> tuple[int, str]:
    _, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    assert proc.returncode is not None  # it has exited
    return proc.returncode, err.decode()


def submissions(sim) -> Counter:
    """How many times each prompt was accepted as a submission by the simulator."""
    counts: Counter = Counter()
    for provider in PROVIDERS:
        for sub in sim.store.submissions[provider]:
            counts[sub.body.get("prompt")] += 1
    return counts


def journal_status(state: Path) -> Counter:
    with sqlite3.connect(state) as db:
        return Counter(s for (s,) in db.execute("SELECT status FROM jobs"))


def accepted(sim) -> int:
    """Submits the simulator accepted, over the campaign's providers."""
    return sum(len(sim.store.submissions[p]) for p in PROVIDERS)


async def until_accepted(sim, n: int, timeout_s: float = 60.0) -> None:
    """Wait (at most ``timeout_s``) until the simulator has accepted ``n`` submits.

    Fails the test when they never come: a signal sent before that would land while
    the run is still starting (its imports take seconds on a loaded machine)."""
    for _ in range(int(timeout_s / 0.05)):
        if accepted(sim) >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the simulator accepted {accepted(sim)} submits in {timeout_s} s, not {n}")


async def kill_runs(manifest: Path, out: Path, sim, rng: random.Random, times: int) -> list[int]:
    """Start a run ``times`` times and SIGKILL it at a random moment after it
    has begun submitting (not while Python is still importing); returns the
    simulator's accepted-submit count at each kill."""
    at_kill = []
    for _ in range(times):
        before = accepted(sim)
        proc = await start_run(manifest, out, sim)
        # ASYNC110 wants an asyncio.Event, but the process and the simulator's store set none: poll
        while proc.returncode is None and accepted(sim) == before:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        await asyncio.sleep(rng.uniform(0.0, 0.5))
        if proc.returncode is None:
            proc.kill()
            at_kill.append(accepted(sim))
        await proc.wait()
    return at_kill


async def test_kill_9_at_random_moments_never_submits_twice(tmp_path, sim):
    started = time.monotonic()
    sheet = campaign(tmp_path / "c.csv", 200)
    manifest = settings_yaml(tmp_path / "m.yaml", sheet, 200)
    out = tmp_path / "results.csv"
    at_kill = await kill_runs(manifest, out, sim, random.Random(7), 6)
    assert len(at_kill) >= 3 and at_kill[0] < 200, at_kill  # the kills landed mid-run
    code, err = await finish(await start_run(manifest, out, sim), 120)
    assert code in (0, 1), err
    assert max(submissions(sim).values()) == 1  # no job submitted twice
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(df) == 200
    # what is not succeeded is unknown (killed between sending a submit and recording its
    # answer): never resubmitted on its own; apiframe's resolve by Idempotency-Key
    assert set(df["status"]) <= {"succeeded", "unknown"}
    unknown = df[df["status"] == "unknown"]
    assert (unknown["provider"] != "apiframe").all()
    for _, row in df[df["status"] == "succeeded"].iterrows():
        assert row["task_id"] in row["video_url"]  # each job's own task
    # no finished result lost: a task the simulator completed is in the results, unless
    # its submit answer died with the process (then its job is unknown)
    done = {t.task_id for t in sim.store.tasks.values() if t.outcome == "succeeded"}
    orphans = done - set(df["task_id"])
    assert len(orphans) <= len(unknown)
    # asked to, a last run resubmits the unknown jobs: complete, paid twice only for those
    code, err = await finish(await start_run(manifest, out, sim, "--resubmit-unknown"), 120)
    assert code == 0, err
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(df) == 200 and set(df["status"]) == {"succeeded"}
    dup = sum(n - 1 for n in submissions(sim).values() if n > 1)
    assert dup == len(orphans)
    print(f"crash: jobs=200 kills={len(at_kill)} accepted_at_kills={at_kill} duplicate_submits=0 "
          f"unknown={len(unknown)} orphaned_tasks={len(orphans)} results_lost=0 "
          f"duplicates_after_--resubmit-unknown={dup} wall={time.monotonic() - started:.1f}s")


async def test_kill_9_on_an_idempotent_provider_completes_exactly_once(tmp_path, sim):
    """apiframe only: every unknown job is resubmitted with its Idempotency-Key,
    so after random SIGKILLs and a rerun all 200 jobs succeed, each accepted once."""
    started = time.monotonic()
    rows = [{"name": f"r{i}", "prompt": f"product shot number {i} [推进]", "provider": "apiframe"}
            for i in range(200)]
    sheet = tmp_path / "c.csv"
    pd.DataFrame(rows).to_csv(sheet, index=False)
    manifest = settings_yaml(tmp_path / "m.yaml", sheet, 200)
    out = tmp_path / "results.csv"
    at_kill = await kill_runs(manifest, out, sim, random.Random(5), 8)
    assert len(at_kill) >= 3 and at_kill[0] < 200, at_kill
    code, err = await finish(await start_run(manifest, out, sim), 120)
    assert code == 0, err
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(df) == 200 and set(df["status"]) == {"succeeded"}
    counts = Counter(s.body.get("prompt") for s in sim.store.submissions["apiframe"])
    assert len(counts) == 200 and max(counts.values()) == 1
    replays = sum(1 for r in sim.store.requests if r.reason == "idempotent_replay")
    print(f"crash (apiframe): jobs=200 kills={len(at_kill)} accepted_at_kills={at_kill} duplicate_submits=0 "
          f"idempotent_replays={replays} results_lost=0 wall={time.monotonic() - started:.1f}s")


async def test_cron_run_only_submits_new_rows(tmp_path, sim):
    sheet = campaign(tmp_path / "c.csv", 10)
    manifest = settings_yaml(tmp_path / "m.yaml", sheet, 10)
    out = tmp_path / "results.csv"
    code, err = await finish(await start_run(manifest, out, sim))
    assert code == 0, err
    before = accepted(sim)
    campaign(sheet, 3, start=10)  # the sheet grows
    settings_yaml(manifest, sheet, 13)
    code, err = await finish(await start_run(manifest, out, sim))
    assert code == 0, err
    after = accepted(sim)
    assert after - before == 3
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(df) == 13 and set(df["status"]) == {"succeeded"}


async def test_overlapping_runs_the_second_exits_at_once(tmp_path, sim):
    sheet = campaign(tmp_path / "c.csv", 40)
    manifest = settings_yaml(tmp_path / "m.yaml", sheet, 40, rpm=120)  # ~5 s run
    out = tmp_path / "results.csv"
    first = await start_run(manifest, out, sim)
    await asyncio.sleep(0.8)
    code2, err2 = await finish(await start_run(manifest, out, sim), 20)
    assert code2 == 3
    assert "another batch-runner run is using" in err2
    code1, err1 = await finish(first)
    assert code1 == 0, err1


async def _signal_run(tmp_path, sim, sig: int, expected: int) -> None:
    sheet = campaign(tmp_path / "c.csv", 60)
    manifest = settings_yaml(tmp_path / "m.yaml", sheet, 60, rpm=300)  # the signal lands mid-run
    out = tmp_path / "results.csv"
    proc = await start_run(manifest, out, sim)
    await until_accepted(sim, 8)
    proc.send_signal(sig)
    code, err = await finish(proc)
    assert code == expected, err
    assert "stopping: no new submits, polling tasks in flight" in err  # said even with --quiet
    df = pd.read_csv(out, dtype=str, keep_default_na=False)  # complete and parseable
    assert len(df) == 60
    # stopped gracefully: what was in flight finished; the rest was never sent
    assert set(df["status"]) <= {"succeeded", "pending"}
    assert "pending" in set(df["status"])
    assert journal_status(tmp_path / "m.yaml.journal.sqlite")["submitted"] == 0
    code, err = await finish(await start_run(manifest, out, sim))
    assert code == 0, err
    assert max(submissions(sim).values()) == 1


async def test_sigint_stops_submitting_and_resume_finishes(tmp_path, sim):
    await _signal_run(tmp_path, sim, signal.SIGINT, 130)


async def test_sigterm_stops_submitting_and_resume_finishes(tmp_path, sim):
    await _signal_run(tmp_path, sim, signal.SIGTERM, 143)


async def test_status_and_results_rebuild_from_the_journal(tmp_path, sim, cli):
    sheet = campaign(tmp_path / "c.csv", 8)
    manifest = settings_yaml(tmp_path / "m.yaml", sheet, 8)
    out = tmp_path / "results.csv"
    code, err = await finish(await start_run(manifest, out, sim))
    assert code == 0, err
    state = tmp_path / "m.yaml.journal.sqlite"
    result = cli("status", state)
    assert result.exit_code == 0 and result.output.strip() == "succeeded=8 in_flight=0 failed=0 unknown=0"
    with Journal(state):  # as a run holds it
        assert cli("status", state).output.strip().endswith("(a run is using this journal now)")
    assert "using this journal" not in cli("status", state).output
    rebuilt = tmp_path / "rebuilt.csv"
    assert cli("results", state, "-o", rebuilt).exit_code == 0
    a = pd.read_csv(out, dtype=str, keep_default_na=False)
    b = pd.read_csv(rebuilt, dtype=str, keep_default_na=False)
    assert list(a["job_id"]) == list(b["job_id"]) and list(a["video_url"]) == list(b["video_url"])
    dry = cli("run", manifest, "-o", out, "--dry-run", env=sim_env(sim))
    assert dry.exit_code == 0 and "succeeded=8" in dry.output and "new=0" in dry.output


async def test_a_changed_row_is_a_new_job_and_the_old_one_is_kept(tmp_path, sim):
    sheet = campaign(tmp_path / "c.csv", 4)
    manifest = settings_yaml(tmp_path / "m.yaml", sheet, 4)
    out = tmp_path / "results.csv"
    code, err = await finish(await start_run(manifest, out, sim))
    assert code == 0, err
    data = yaml.safe_load(manifest.read_text())
    data["jobs"][0]["prompt"] = "a new prompt for row one"
    manifest.write_text(yaml.safe_dump(data))
    proc = await start_run(manifest, out, sim)
    _, err_bytes = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0
    assert accepted(sim) == 5  # 4 + the changed row
    assert "not in the manifest any more (edited or removed rows): 1 task(s): 1 succeeded" in err_bytes.decode()
    assert journal_status(tmp_path / "m.yaml.journal.sqlite")["succeeded"] == 5


async def test_after_the_first_signal_no_new_submit_is_sent(tmp_path, sim):
    """Jobs already holding an in-flight place but still waiting for their
    submit slot (pacing) are not sent after SIGINT: they stay pending."""
    sheet = campaign(tmp_path / "c.csv", 40)
    manifest = settings_yaml(tmp_path / "m.yaml", sheet, 40, rpm=60)  # one submit a second per provider
    out = tmp_path / "results.csv"
    proc = await start_run(manifest, out, sim)
    await until_accepted(sim, 4)
    proc.send_signal(signal.SIGINT)
    at_signal = accepted(sim)
    code, err = await finish(proc)
    assert code == 130, err
    after = accepted(sim)
    assert after - at_signal <= len(PROVIDERS), (at_signal, after)  # at most one already on the wire each
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert (df["status"] == "succeeded").sum() == after
    assert set(df["status"]) == {"succeeded", "pending"}


async def test_second_signal_stops_at_once_and_the_next_run_polls_what_was_in_flight(tmp_path):
    from batch_runner.simulator import ProviderSimConfig, SimConfig, running_simulator

    from conftest import PROVIDERS as ALL

    config = SimConfig(providers={p: ProviderSimConfig(generation_s=4.0) for p in ALL})
    async with running_simulator(config) as sim:
        sheet = campaign(tmp_path / "c.csv", 40)
        manifest = settings_yaml(tmp_path / "m.yaml", sheet, 40, typical_generation_s=4.0)
        out = tmp_path / "results.csv"
        proc = await start_run(manifest, out, sim)
        await until_accepted(sim, 8)
        proc.send_signal(signal.SIGINT)
        await asyncio.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        code, err = await finish(proc, 3)  # at once, not after the 4 s tasks
        assert code == 130, err
        df = pd.read_csv(out, dtype=str, keep_default_na=False)
        assert len(df) == 40 and "succeeded" not in set(df["status"])
        in_flight = journal_status(tmp_path / "m.yaml.journal.sqlite")["submitted"]
        assert in_flight >= 8
        code, err = await finish(await start_run(manifest, out, sim), 60)
        assert code == 0, err
        assert max(submissions(sim).values()) == 1  # in-flight tasks were polled, not sent again
        assert set(pd.read_csv(out, dtype=str, keep_default_na=False)["status"]) == {"succeeded"}


async def test_retry_failed_resubmits_only_the_failed_jobs(tmp_path, sim):
    from batch_runner.app import RunRequest, execute

    from conftest import sim_env as env_of

    sheet = campaign(tmp_path / "c.csv", 8)  # 2 each on gccai, apiframe, minimax, gptproto
    manifest = settings_yaml(tmp_path / "m.yaml", sheet, 8)
    out = tmp_path / "results.csv"

    async def run(**kw) -> pd.DataFrame:
        await execute(RunRequest(manifest=manifest, output=out, environ=env_of(sim), speedup=1.0, quiet=True, **kw))
        return pd.read_csv(out, dtype=str, keep_default_na=False)

    sim.config.providers["gccai"].fail_rate = 1.0
    df = await run()
    assert list(df.loc[df["status"] == "failed", "provider"]) == ["gccai", "gccai"]
    sim.config.providers["gccai"].fail_rate = 0.0
    before = Counter({p: len(sim.store.submissions[p]) for p in PROVIDERS})
    await run()  # failed jobs stay failed
    assert Counter({p: len(sim.store.submissions[p]) for p in PROVIDERS}) == before
    df = await run(retry_failed=True)
    after = Counter({p: len(sim.store.submissions[p]) for p in PROVIDERS})
    assert after - before == Counter({"gccai": 2})
    assert set(df["status"]) == {"succeeded"}


async def test_results_csv_is_rewritten_during_a_long_run(tmp_path):
    """The checkpoint (every 30 s by default; 0.2 s here through RunOptions)
    rewrites the results while tasks are still in flight: a complete CSV of
    every job, with the videos of the jobs finished so far."""
    from batch_runner.app import RunRequest, execute
    from batch_runner.run.dispatch import RunOptions
    from batch_runner.simulator import ProviderSimConfig, SimConfig, running_simulator

    from conftest import PROVIDERS as ALL

    config = SimConfig(providers={p: ProviderSimConfig(generation_s=0.3) for p in ALL})
    config.providers["apiframe"].generation_s = 2.0  # still running while gccai's are done
    fast = {**FAST, "poll_interval_s": 0.1}
    data = {"providers": {"gccai": {**fast, "typical_generation_s": 0.3},
                          "apiframe": {**fast, "typical_generation_s": 2.0}},
            "jobs": [{"name": f"quick{i}", "prompt": f"quick shot {i}", "provider": "gccai"} for i in range(4)]
            + [{"name": f"slow{i}", "prompt": f"slow shot {i}", "provider": "apiframe"} for i in range(2)]}
    manifest = tmp_path / "m.yaml"
    manifest.write_text(yaml.safe_dump(data), encoding="utf-8")
    out = tmp_path / "results.csv"
    async with running_simulator(config) as sim:
        request = RunRequest(manifest=manifest, output=out, environ=sim_env(sim), speedup=1.0, quiet=True,
                             options=RunOptions(checkpoint_every_s=0.2))
        run = asyncio.create_task(execute(request))
        seen = []
        deadline = time.monotonic() + 10
        while not run.done() and time.monotonic() < deadline:
            if out.exists():
                df = pd.read_csv(out, dtype=str, keep_default_na=False)  # never torn
                assert list(df["name"]) == [f"quick{i}" for i in range(4)] + ["slow0", "slow1"]
                seen.append(df)
                if (df["status"] == "succeeded").sum() == 4:
                    break
            await asyncio.sleep(0.05)
        assert seen, "no results file while the run was going"  # each read while run.done() was False
        assert not run.done(), "the run ended before the slow tasks finished"
        mid = seen[-1]
        assert await asyncio.wait_for(run, 20) == 0
    quick, slow = mid[mid["provider"] == "gccai"], mid[mid["provider"] == "apiframe"]
    assert set(quick["status"]) == {"succeeded"}
    assert all(t in url for t, url in zip(quick["task_id"], quick["video_url"], strict=True))
    assert set(slow["status"]) == {"submitted"} and all(slow["task_id"]) and not any(slow["video_url"])
    final = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert set(final["status"]) == {"succeeded"}
    assert list(final.loc[:3, "video_url"]) == list(quick["video_url"])


async def test_status_and_dry_run_count_every_state_and_send_nothing(tmp_path, cli):
    """A journal with jobs done, in flight, failed and unknown, and a manifest
    with new rows since: ``status`` and ``run --dry-run`` print the right counts
    and the simulator sees no request from either."""
    from batch_runner.app import RunRequest, execute
    from batch_runner.simulator import ProviderSimConfig, SimConfig, running_simulator

    from conftest import PROVIDERS as ALL

    config = SimConfig(providers={p: ProviderSimConfig(generation_s=0.3) for p in ALL})
    config.providers["gptge"].generation_s = 60.0  # in flight when the run is stopped
    config.providers["gptproto"].fail_rate = 1.0  # the task fails
    config.providers["minimax"].slow_rate, config.providers["minimax"].slow_s = 1.0, 0.6  # answer lost
    settings = dict.fromkeys(("gccai", "gptge", "gptproto"), FAST)
    settings["minimax"] = {**FAST, "timeout_s": 0.2}
    jobs = [{"prompt": f"done {i}", "provider": "gccai"} for i in range(2)]
    jobs += [{"prompt": f"flying {i}", "provider": "gptge"} for i in range(2)]
    jobs += [{"prompt": "fails", "provider": "gptproto"}, {"prompt": "lost", "provider": "minimax"}]
    manifest, out = tmp_path / "m.yaml", tmp_path / "results.csv"
    state = tmp_path / "m.yaml.journal.sqlite"
    manifest.write_text(yaml.safe_dump({"providers": settings, "jobs": jobs}), encoding="utf-8")
    want = Counter({"succeeded": 2, "submitted": 2, "failed": 1, "unknown": 1})
    async with running_simulator(config) as sim:
        run = asyncio.create_task(execute(RunRequest(manifest=manifest, output=out, environ=sim_env(sim),
                                                     speedup=1.0, quiet=True, canary=False)))
        for _ in range(200):
            if state.exists() and journal_status(state) == want:
                break
            await asyncio.sleep(0.05)
        run.cancel()  # like a second Ctrl-C: the in-flight tasks stay in the journal
        with contextlib.suppress(asyncio.CancelledError):
            await run
        assert journal_status(state) == want
        for _ in range(40):  # the late (slow) minimax answer is recorded too
            if any(r.provider == "minimax" for r in sim.store.requests):
                break
            await asyncio.sleep(0.05)
        manifest.write_text(yaml.safe_dump({"providers": settings, "jobs": jobs + [
            {"prompt": f"new {i}", "provider": "gccai"} for i in range(3)]}), encoding="utf-8")
        before = len(sim.store.requests)
        status = cli("status", state)
        dry = cli("run", manifest, "-o", out, "--dry-run", env=sim_env(sim))
        await asyncio.sleep(0.3)  # anything sent would have landed
        assert len(sim.store.requests) == before
    assert status.exit_code == 0 and status.stdout.strip() == "succeeded=2 in_flight=2 failed=1 unknown=1"
    assert dry.exit_code == 0
    assert dry.stdout.strip() == "total=9 succeeded=2 in_flight=2 failed=1 unknown=1 new=3"
    assert journal_status(state) == want  # and nothing was changed
