"""Key pools end to end: several API keys per provider against the simulator's
per-key limits, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

import pandas as pd
import pytest
import yaml

from batch_runner.app import RunRequest, execute
from batch_runner.keys import PoolKey, Secret
from batch_runner.simulator import ProviderSimConfig, SimConfig, running_simulator

from conftest import PROVIDERS, ROOT, sim_env

KEYS = {"team-a": "pool-key-alpha-000111", "team-b": "pool-key-bravo-000222", "team-c": "pool-key-charlie-0333"}
FAST = {"rpm": 6000, "max_in_flight": 10, "poll_interval_s": 0.05, "timeout_s": 2, "backoff_base_s": 0.05,
        "max_attempts": 4, "task_timeout_s": 5, "typical_generation_s": 0.2}


def key_id(label: str) -> str:
    return PoolKey(label, Secret(KEYS[label])).key_id


def pool_env(sim, labels=("team-a", "team-b", "team-c"), provider: str = "gccai") -> dict[str, str]:
    return {**sim_env(sim), f"{provider.upper()}_API_KEYS": ",".join(f"{k}={KEYS[k]}" for k in labels)}


def accept_pool(config: SimConfig, provider: str = "gccai", bad: tuple[str, ...] = ()) -> None:
    c = config.providers[provider]
    c.api_key, c.keys, c.bad_keys = KEYS["team-a"], tuple(KEYS.values())[1:], tuple(KEYS[b] for b in bad)


async def run_yaml(tmp_path, data: dict, env: dict, name: str = "m.yaml") -> tuple[int, pd.DataFrame]:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    out = tmp_path / "results.csv"
    status = await execute(RunRequest(manifest=path, output=out, environ=env, speedup=1.0, quiet=True,
                                      canary=False))
    return status, pd.read_csv(out, dtype=str, keep_default_na=False)


def polls_used_the_creating_key(sim, provider: str = "gccai") -> bool:
    tasks = sim.store.tasks
    polls = [r for r in sim.store.requests if r.provider == provider and r.kind == "poll"]
    return bool(polls) and all(r.reason != "wrong_key" and r.key == tasks[r.task_id].key for r in polls)


def jobs(n: int, provider: str = "gccai") -> list[dict]:
    return [{"prompt": f"shot {i}", "provider": provider} for i in range(n)]


async def test_a_bad_key_costs_one_submit_and_the_other_keys_do_every_job(tmp_path):
    config = SimConfig(providers={p: ProviderSimConfig(generation_s=0.2) for p in PROVIDERS})
    accept_pool(config, bad=("team-b",))
    async with running_simulator(config) as sim:
        status, df = await run_yaml(tmp_path, {"providers": {"gccai": FAST}, "jobs": jobs(24)}, pool_env(sim))
        submits = [r for r in sim.store.requests if r.provider == "gccai" and r.kind == "submit"]
        assert polls_used_the_creating_key(sim)
    assert status == 0
    assert set(df["status"]) == {"succeeded"}
    refused = [r for r in submits if not r.accepted]
    assert len(refused) == 1 and refused[0].key == KEYS["team-b"] and refused[0].reason == "auth"
    assert set(df["key_id"]) == {key_id("team-a"), key_id("team-c")}
    assert len(sim.store.submissions["gccai"]) == 24  # each job paid once


@pytest.mark.serial  # bounds real time
async def test_three_keys_go_three_times_faster_and_no_key_passes_its_limit(tmp_path):
    """Each key allows 10 submits in any 1 s window; the client paces each key at 9/s."""
    async def run(labels: tuple[str, ...], folder: str) -> tuple[float, dict[str, int], pd.DataFrame]:
        config = SimConfig(providers={p: ProviderSimConfig(generation_s=0.1) for p in PROVIDERS})
        accept_pool(config)
        c = config.providers["gccai"]
        c.key_rpm, c.window_s = 600, 1.0
        (tmp_path / folder).mkdir()
        async with running_simulator(config) as sim:
            started = time.monotonic()
            status, df = await run_yaml(tmp_path / folder, {"providers": {"gccai": {**FAST, "rpm": 540}},
                                                            "jobs": jobs(36)}, pool_env(sim, labels))
            wall = time.monotonic() - started
            assert status == 0 and set(df["status"]) == {"succeeded"}
            assert sim.store.first_429_at("gccai") is None
            assert polls_used_the_creating_key(sim)
            return wall, sim.store.max_submits_in_window_by_key("gccai", 1.0), df

    one, one_windows, _ = await run(("team-a",), "one")
    three, three_windows, df = await run(("team-a", "team-b", "team-c"), "three")
    assert max(one_windows.values()) <= 10 and max(three_windows.values()) <= 10
    assert set(three_windows) == set(KEYS.values())
    assert df["key_id"].value_counts().min() >= 10  # spread over the three keys
    print(f"1 key {one:.2f} s, 3 keys {three:.2f} s")
    assert one / three > 2.2, (one, three)  # ~35 x 0.111 s against ~12 x 0.111 s, plus start-up


async def test_a_resumed_task_whose_key_left_the_pool_names_that_key(tmp_path):
    config = SimConfig(providers={p: ProviderSimConfig(generation_s=0.8) for p in PROVIDERS})
    accept_pool(config)
    async with running_simulator(config) as sim:
        short = {"providers": {"gccai": {**FAST, "task_timeout_s": 0.2}}, "jobs": jobs(6)}
        status, df = await run_yaml(tmp_path, short, pool_env(sim, ("team-a", "team-b")))
        assert status == 1 and set(df["error_code"]) == {"timeout"}  # task ids kept: resumable
        on_b = set(df.loc[df["key_id"] == key_id("team-b"), "job_id"])
        assert on_b and len(on_b) < 6
        await asyncio.sleep(0.8)
        normal = {"providers": {"gccai": FAST}, "jobs": jobs(6)}
        status, df = await run_yaml(tmp_path, normal, pool_env(sim, ("team-a",)))
        assert status == 1
        assert set(df.loc[df["job_id"].isin(on_b), "error_code"]) == {"timeout"}  # left alone
        assert set(df.loc[~df["job_id"].isin(on_b), "status"]) == {"succeeded"}
        status, df = await run_yaml(tmp_path, normal, pool_env(sim, ("team-a", "team-b")))  # the key is back
        assert status == 0 and set(df["status"]) == {"succeeded"}
        assert set(df.loc[df["job_id"].isin(on_b), "key_id"]) == {key_id("team-b")}
        assert polls_used_the_creating_key(sim)


def test_the_missing_key_is_named_in_the_summary(tmp_path, threaded_sim):
    """The same through the CLI: the summary line names the key id and the variable."""
    import subprocess

    accept_pool(threaded_sim.config)
    threaded_sim.config.providers["gccai"].generation_s = 0.6
    manifest = tmp_path / "m.yaml"

    def run(labels: tuple[str, ...], timeout_s: float) -> subprocess.CompletedProcess[str]:
        data = {"providers": {"gccai": {**FAST, "task_timeout_s": timeout_s}}, "jobs": jobs(4)}
        manifest.write_text(yaml.safe_dump(data), encoding="utf-8")
        env = {**os.environ, **pool_env(threaded_sim, labels), "PYTHONPATH": str(ROOT)}
        return subprocess.run([sys.executable, "-m", "batch_runner", "run", str(manifest), "--no-canary",
                               "-o", str(tmp_path / "r.csv")], env=env, capture_output=True, text=True, timeout=60)

    assert run(("team-a", "team-b"), 0.15).returncode == 1
    time.sleep(0.6)
    done = run(("team-a",), 5)
    assert done.returncode == 1
    assert f"made with key {key_id('team-b')}, which is no longer in GCCAI_API_KEYS" in done.stderr
    for value in KEYS.values():
        assert value not in done.stderr + done.stdout


async def test_no_key_value_in_logs_results_or_journal(tmp_path):
    """A pool with a bad key, a run with JSON logs and an HTTP trace: no key value
    (nor its ``label=key`` entry) anywhere in what the run wrote."""
    config = SimConfig(providers={p: ProviderSimConfig(generation_s=0.2) for p in PROVIDERS})
    accept_pool(config, bad=("team-c",))
    async with running_simulator(config) as sim:
        path = tmp_path / "m.yaml"
        path.write_text(yaml.safe_dump({"providers": {"gccai": FAST}, "jobs": jobs(8)}), encoding="utf-8")
        env = {**os.environ, **pool_env(sim), "PYTHONPATH": str(ROOT)}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "batch_runner", "run", str(path), "-o", str(tmp_path / "r.csv"), "--no-canary",
            "--log-format", "json", "--verbose", "--trace-http", str(tmp_path / "trace.har"),
            "--report", str(tmp_path / "r.html"), env=env, cwd=str(tmp_path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()[-2000:]
    written = out + err + b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p != path)
    assert b"journal.sqlite" in b"".join(p.name.encode() for p in tmp_path.iterdir())
    for value in KEYS.values():
        assert value.encode() not in written
    assert key_id("team-a").encode() in (tmp_path / "r.csv").read_bytes()


async def test_per_key_rpm_override_gives_a_slower_key_fewer_jobs(tmp_path):
    config = SimConfig(providers={p: ProviderSimConfig(generation_s=0.05) for p in PROVIDERS})
    accept_pool(config)
    async with running_simulator(config) as sim:
        settings = {**FAST, "rpm": 1200, "max_in_flight": 4, "keys": {"team-b": {"rpm": 60, "max_in_flight": 1}}}
        status, df = await run_yaml(tmp_path, {"providers": {"gccai": settings}, "jobs": jobs(30)},
                                    pool_env(sim, ("team-a", "team-b")))
    assert status == 0
    counts = df["key_id"].value_counts()
    assert counts[key_id("team-a")] > 3 * counts.get(key_id("team-b"), 0)


@pytest.mark.parametrize("provider", ["minimax", "apiframe"])
def test_check_tests_every_key_of_the_pool(cli, threaded_sim, provider):
    accept_pool(threaded_sim.config, provider, bad=("team-b",))
    result = cli("check", env=pool_env(threaded_sim, provider=provider))
    assert result.exit_code == 1
    assert f"{provider} {key_id('team-a')}: usable" in result.output
    assert f"{provider} {key_id('team-c')}: usable" in result.output
    assert (f"{provider} {key_id('team-b')}: NOT usable: the key team-b in {provider.upper()}_API_KEYS "
            "was refused") in result.output
    assert not any(value in result.output for value in KEYS.values())
    checked = {r.key for r in threaded_sim.store.requests if r.provider == provider}
    assert checked == set(KEYS.values()) and not threaded_sim.store.tasks


def test_a_bad_pool_is_refused_before_anything_is_sent(cli, threaded_sim, write):
    manifest = write("m.yaml", yaml.safe_dump({"jobs": jobs(2)}))
    env = {**sim_env(threaded_sim), "GCCAI_API_KEYS": f"{KEYS['team-a']},{KEYS['team-a']}"}
    result = cli("run", manifest, "--no-canary", "-o", manifest.with_suffix(".csv"), env=env)
    assert result.exit_code == 2
    assert "GCCAI_API_KEYS: entry 2 (key2) is the same key as key1" in result.output
    assert KEYS["team-a"] not in result.output and not threaded_sim.store.requests


async def test_an_unknown_job_is_sent_again_with_the_key_that_sent_it(tmp_path):
    """apiframe dedupes by Idempotency-Key per account: the job answered by nothing goes
    again to the same key, so that account can recognise it."""
    config = SimConfig(providers={p: ProviderSimConfig(generation_s=0.1) for p in PROVIDERS})
    accept_pool(config, "apiframe")
    async with running_simulator(config) as sim:
        config.providers["apiframe"].reset_rate = 1.0  # every request dropped: the submits' answers are lost
        data: dict[str, Any] = {"providers": {"apiframe": {**FAST, "max_attempts": 1}}, "jobs": jobs(6, "apiframe")}
        status, first = await run_yaml(tmp_path, data, pool_env(sim, provider="apiframe"))
        assert status == 1 and set(first["status"]) == {"unknown"}
        config.providers["apiframe"].reset_rate = 0.0
        data["jobs"].reverse()  # the same jobs in another order: the spread alone would pair them otherwise
        status, second = await run_yaml(tmp_path, data, pool_env(sim, provider="apiframe"))
    assert status == 0 and set(second["status"]) == {"succeeded"}
    assert len(set(first["key_id"])) > 1  # spread over the pool
    assert dict(zip(first["job_id"], first["key_id"], strict=True)) == dict(
        zip(second["job_id"], second["key_id"], strict=True))


async def test_the_canary_moves_on_from_a_bad_first_key(tmp_path):
    config = SimConfig(providers={p: ProviderSimConfig(generation_s=0.1) for p in PROVIDERS})
    accept_pool(config, bad=("team-a",))
    async with running_simulator(config) as sim:
        path = tmp_path / "m.yaml"
        path.write_text(yaml.safe_dump({"providers": {"gccai": FAST}, "jobs": jobs(9)}), encoding="utf-8")
        status = await execute(RunRequest(manifest=path, output=tmp_path / "r.csv", environ=pool_env(sim),
                                          speedup=1.0, quiet=True, canary=True))
        refused = [r for r in sim.store.requests if r.kind == "submit" and not r.accepted]
    df = pd.read_csv(tmp_path / "r.csv", dtype=str, keep_default_na=False)
    assert status == 0 and set(df["status"]) == {"succeeded"}
    assert [r.key for r in refused] == [KEYS["team-a"]]
    assert set(df["key_id"]) == {key_id("team-b"), key_id("team-c")}


def test_simulate_never_sends_a_pool_of_real_keys(cli, write):
    manifest = write("m.yaml", yaml.safe_dump({"jobs": jobs(2)}))
    result = cli("run", manifest, "--simulate", "--no-canary", "-o", manifest.with_suffix(".csv"),
                 env={"GCCAI_API_KEYS": f"team-a={KEYS['team-a']}"})
    assert result.exit_code == 0, result.output
    assert KEYS["team-a"] not in result.output
    results = pd.read_csv(manifest.with_suffix(".csv"), dtype=str, keep_default_na=False)
    assert set(results["status"]) == {"succeeded"}
    assert set(results["key_id"]) == {PoolKey("key1", Secret("sim-key")).key_id}
