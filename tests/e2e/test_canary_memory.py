"""A provider whose canary failed for a reason of the protocol or the settings costs
one canary, not one per cron run; a one-off transport glitch on the canary is retried
and forgotten. The CLI against the simulator over HTTP on 127.0.0.1."""

from __future__ import annotations

import sqlite3
import threading
import time

import pandas as pd
import yaml

from conftest import sim_env

FAST = {"rpm": 6000, "max_in_flight": 10, "poll_interval_s": 0.05, "timeout_s": 2, "backoff_base_s": 0.05,
        "max_attempts": 3, "task_timeout_s": 5, "typical_generation_s": 0.2}


def sent(sim, provider: str = "minimax") -> int:
    return sum(1 for r in sim.store.requests if r.provider == provider)


def manifest(tmp_path, n: int = 3, **settings: object):
    path = tmp_path / "m.yaml"
    jobs = [{"prompt": f"shot {i}", "provider": "minimax"} for i in range(n)]
    path.write_text(yaml.safe_dump({"providers": {"minimax": {**FAST, **settings}}, "jobs": jobs}), encoding="utf-8")
    return path


def remembered(tmp_path) -> dict[str, str]:
    with sqlite3.connect(tmp_path / "m.yaml.journal.sqlite") as db:
        return dict(db.execute("SELECT key, value FROM meta WHERE key LIKE 'canary_failed:%' AND value != ''"))


def test_a_host_serving_a_web_page_costs_one_canary_over_hourly_runs(tmp_path, cli, threaded_sim):
    threaded_sim.config.providers["minimax"].html_host = True
    path = manifest(tmp_path, 5)
    env = sim_env(threaded_sim)
    first = cli("run", path, "--quiet", env=env)
    assert first.exit_code == 1 and "minimax: the canary (first job) failed" in first.output
    assert sent(threaded_sim) == 1

    for _ in range(3):  # the next cron runs: nothing sent there, one line says why
        again = cli("run", path, "--quiet", env=env)
        assert sent(threaded_sim) == 1 and again.exit_code == 1
        (line,) = [x for x in again.output.splitlines() if "minimax: no canary sent: the last one" in x]
        assert "with this base URL, key and overrides" in line and "--retry-canary" in line
    assert sent(threaded_sim) == 1

    told = cli("run", path, "--quiet", "--retry-canary", env=env)  # asked to: one more canary
    assert told.exit_code == 1 and sent(threaded_sim) == 2

    manifest(tmp_path, 5, model_ids={"hailuo-2.3": "MiniMax-Hailuo-2.3-new"})  # the overrides change
    changed = cli("run", path, "--quiet", env=env)
    assert changed.exit_code == 1 and sent(threaded_sim) == 3  # a new canary (a web page still)
    manifest(tmp_path, 5)

    threaded_sim.config.providers["minimax"].html_host = False  # the host is fixed
    checked = cli("check", path, env=env)
    assert checked.exit_code == 0 and "minimax: usable now: the next run sends it a canary again" in checked.output
    assert remembered(tmp_path) == {}
    fixed = cli("run", path, "--quiet", env=env)
    assert fixed.exit_code == 0, fixed.output
    df = pd.read_csv(tmp_path / "m.yaml.results.csv", dtype=str, keep_default_na=False)
    assert list(df["status"]) == ["unknown"] * 3 + ["succeeded"] * 2  # the canaries answered by a page stay unknown


def test_a_one_off_5xx_on_the_canary_is_retried_and_not_remembered(tmp_path, cli, threaded_sim):
    minimax = threaded_sim.config.providers["minimax"]
    minimax.html_error_rate = 1.0  # a proxy's 502 page, once
    done = threading.Event()

    def heal() -> None:
        while not done.is_set() and sent(threaded_sim) < 1:
            time.sleep(0.005)
        minimax.html_error_rate = 0.0

    healer = threading.Thread(target=heal)
    healer.start()
    try:
        result = cli("run", manifest(tmp_path), "--quiet", env=sim_env(threaded_sim))
    finally:
        done.set()
        healer.join()
    assert result.exit_code == 0, result.output
    assert "canary" not in result.output
    df = pd.read_csv(tmp_path / "m.yaml.results.csv", dtype=str, keep_default_na=False)
    assert set(df["status"]) == {"succeeded"}
    assert remembered(tmp_path) == {}


def test_a_shared_journal_remembers_the_failed_canary_and_rebuilds_from_results(tmp_path, cli, threaded_sim, pg_url):
    threaded_sim.config.providers["minimax"].html_host = True
    path = manifest(tmp_path, 4)
    env = sim_env(threaded_sim)
    url = f"{pg_url}"
    for _ in range(3):
        ran = cli("run", path, "--quiet", "--journal", url, "--campaign", "memory", env=env)
        assert ran.exit_code == 1, (sent(threaded_sim), ran.output)
    assert sent(threaded_sim) == 1  # one canary over three runs, with a PostgreSQL journal too
    assert "minimax: no canary sent: the last one" in ran.output

    threaded_sim.config.providers["minimax"].html_host = False
    ok = cli("run", path, "--quiet", "--journal", url, "--campaign", "memory", "--retry-canary", env=env)
    assert ok.exit_code == 0, ok.output
    results = tmp_path / "m.yaml.results.csv"
    built = cli("journal", "rebuild", results, "--journal", url, "--campaign", "rebuilt", env=env)
    assert built.exit_code == 0 and "3 succeeded, 1 unknown" in built.output, built.output
    before = sent(threaded_sim)
    again = cli("run", path, "--quiet", "--journal", url, "--campaign", "rebuilt", env=env)
    assert again.exit_code == 0 and sent(threaded_sim) == before  # nothing sent again (nor a canary: proven)
