"""Several `batch-runner run` processes on one campaign in a shared PostgreSQL journal,
against one simulator on 127.0.0.1: each job done once, the key's limits held across
workers and campaigns, a killed worker's jobs taken over, journals copied both ways.

The server is a throwaway one (tests/pgserver.py: initdb + pg_ctl on a Unix socket);
nothing is mocked."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import ROOT, SIM_ENV, sim_env, simulator_in_thread

pytestmark = pytest.mark.timeout(150)

RPM, CAP = 1800, 12  # the key's limits, the client's and the simulator's: 30 submits per second, 12 in flight
WINDOW_S = 5.0  # the simulator's rate window: at most 150 submits in any 5 s
LIMITS = {"rpm": RPM, "max_in_flight": CAP, "poll_interval_s": 0.1, "typical_generation_s": 0.3}


def manifest(tmp: Path, name: str, n: int, tag: str = "shot") -> Path:
    path = tmp / name
    path.write_text(yaml.safe_dump({
        "defaults": {"provider": "gccai"}, "providers": {"gccai": LIMITS},
        "jobs": [{"name": f"{tag}-{i}", "prompt": f"{tag} number {i}"} for i in range(n)],
    }), encoding="utf-8")
    return path


def worker(sim, path: Path, url: str, *args: str) -> subprocess.Popen[bytes]:
    """One `batch-runner run` process on the shared journal."""
    return subprocess.Popen(
        [sys.executable, "-m", "batch_runner", "run", str(path), "--journal", url, "--no-canary", "--quiet",
         "-o", str(path.with_suffix(f".{time.monotonic_ns()}.csv")), *args],
        env={**os.environ, **SIM_ENV, **sim_env(sim), "PYTHONPATH": str(ROOT)}, cwd=str(path.parent),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "batch_runner", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)


def submits_per_prompt(sim) -> collections.Counter[str]:
    return collections.Counter(s.body.get("prompt", "") for s in sim.store.submissions["gccai"])


def jobs_by_worker(url: str, campaign: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(url) as db:
        rows = db.execute("SELECT claimed_by, COUNT(*) FROM jobs WHERE campaign=%s GROUP BY claimed_by",
                          (campaign,)).fetchall()
    return {str(w): int(n) for w, n in rows}


def refused(sim) -> list[str]:
    return [r.reason or "" for r in sim.store.requests if r.kind == "submit" and not r.accepted]


@pytest.fixture
def shared_sim():
    """One simulator whose gccai key has exactly the client's limits (over a 5 s
    window, as the benchmark: real keys count per minute, and a few ms of timer
    jitter would be a sizeable part of a 1 s window), with 0.3 s tasks."""
    with simulator_in_thread(generation_s=0.3) as sim:
        g = sim.config.providers["gccai"]
        g.rpm, g.window_s, g.max_in_flight = RPM, WINDOW_S, CAP
        yield sim


@pytest.mark.serial  # bounds real time: rate windows
def test_three_workers_do_each_job_once_within_the_keys_limits(tmp_path, pg_url, shared_sim):
    path = manifest(tmp_path, "launch.yaml", 300)
    procs = [worker(shared_sim, path, pg_url) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [o[1].decode()[-800:] for o in outs]
    per_prompt = submits_per_prompt(shared_sim)
    assert len(per_prompt) == 300 and max(per_prompt.values()) == 1  # every job once, 0 duplicate submits
    assert refused(shared_sim) == []  # no 429: the key's rate and in-flight cap held across the workers
    assert shared_sim.store.max_submits_in_window("gccai", WINDOW_S) <= RPM / 60 * WINDOW_S  # never over the key
    assert shared_sim.store.max_in_flight_seen("gccai") <= CAP
    by_worker = jobs_by_worker(pg_url, "launch.yaml")
    assert len(by_worker) == 3 and min(by_worker.values()) >= 30, by_worker  # all three took a share
    done = cli("results", pg_url, "--campaign", "launch.yaml", "-o", str(tmp_path / "all.csv"))
    assert done.returncode == 0, done.stderr
    df = pd.read_csv(tmp_path / "all.csv")
    assert len(df) == 300 and set(df["status"]) == {"succeeded"}
    status = cli("status", pg_url, "--campaign", "launch.yaml")
    assert status.stdout.startswith("succeeded=300 ") and status.stdout.count("worker ") == 3
    assert "stopped" in status.stdout


@pytest.mark.serial  # bounds real time: leases
def test_a_killed_workers_jobs_are_finished_by_the_others_without_a_duplicate(tmp_path, pg_url, shared_sim):
    path = manifest(tmp_path, "kill.yaml", 150, tag="kill")
    procs = [worker(shared_sim, path, pg_url, "--lease", "3") for _ in range(3)]
    deadline = time.monotonic() + 60
    while len(shared_sim.store.submissions["gccai"]) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    procs[0].send_signal(signal.SIGKILL)  # mid-run: jobs claimed, submits sent, tasks in flight
    procs[0].communicate(timeout=10)
    outs = [p.communicate(timeout=120) for p in procs[1:]]
    done = cli("results", pg_url, "--campaign", "kill.yaml", "-o", str(tmp_path / "all.csv"))
    assert done.returncode == 0, done.stderr
    df = pd.read_csv(tmp_path / "all.csv")
    # every job ended: a submit the killed worker sent without recording its answer is
    # unknown (gccai takes no idempotency key: never sent twice; the run exits 1 for it)
    unknown = int((df["status"] == "unknown").sum())
    assert len(df) == 150 and set(df["status"]) <= {"succeeded", "unknown"} and unknown <= 3
    assert [p.returncode for p in procs[1:]] == [1 if unknown else 0] * 2, [o[1].decode()[-800:] for o in outs]
    per_prompt = submits_per_prompt(shared_sim)
    assert max(per_prompt.values()) == 1  # its submitted tasks were polled by the others, never submitted again
    assert all(f"kill number {n.split('-')[1]}" in per_prompt for n in df[df["status"] == "succeeded"]["name"])
    status = cli("status", pg_url, "--campaign", "kill.yaml")
    assert "dead (lease over)" in status.stdout and status.stdout.count("stopped") == 2


@pytest.mark.serial  # bounds real time: rate windows
def test_two_campaigns_sharing_a_key_stay_together_within_its_limits(tmp_path, pg_url, shared_sim):
    a, b = manifest(tmp_path, "spring.yaml", 120, tag="spring"), manifest(tmp_path, "autumn.yaml", 120, tag="autumn")
    procs = [worker(shared_sim, a, pg_url), worker(shared_sim, b, pg_url)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1].decode()[-800:] for o in outs]
    per_prompt = submits_per_prompt(shared_sim)
    assert len(per_prompt) == 240 and max(per_prompt.values()) == 1
    assert refused(shared_sim) == []
    assert shared_sim.store.max_submits_in_window("gccai", WINDOW_S) <= RPM / 60 * WINDOW_S  # together, not twice
    assert shared_sim.store.max_in_flight_seen("gccai") <= CAP
    for name in ("spring.yaml", "autumn.yaml"):
        assert cli("status", pg_url, "--campaign", name).stdout.startswith("succeeded=120 ")


def test_journal_copy_sqlite_to_postgresql_and_back_keeps_every_record(tmp_path, pg_url, threaded_sim):
    from batch_runner.journal import Journal

    path = tmp_path / "copy.yaml"
    path.write_text(yaml.safe_dump({"defaults": {"provider": "gccai"}, "providers": {"gccai": LIMITS},
                                    "jobs": [{"name": f"c{i}", "prompt": f"copy {i}", "sku": f"S{i}"}
                                             for i in range(6)]}), encoding="utf-8")
    env = {**os.environ, **SIM_ENV, **sim_env(threaded_sim), "PYTHONPATH": str(ROOT)}
    ran = subprocess.run([sys.executable, "-m", "batch_runner", "run", str(path), "--no-canary", "--quiet",
                          "--download", str(tmp_path / "videos")], env=env, capture_output=True, timeout=60)
    assert ran.returncode == 0, ran.stderr.decode()
    first = tmp_path / "copy.yaml.journal.sqlite"
    with Journal(first) as j:  # a person's verdict on one video (batch-runner review)
        one = next(j.records())
        j.record_review(one.job_id, one.task_id, "rejected", "prompt: another", "copy 0")
    there = cli("journal", "copy", str(first), pg_url)
    copied = ("copied 6 jobs, 6 downloads, 6 download intents, 6 QA verdicts, 0 earlier attempts, 0 deliveries, "
              "1 reviews, 0 captures, 2 meta")
    assert there.returncode == 0 and there.stdout.strip() == copied, there.stderr
    again = cli("journal", "copy", str(first), pg_url)
    assert again.returncode == 2 and "already holds 6 jobs" in again.stderr  # never merged
    back = tmp_path / "back.journal.sqlite"
    assert cli("journal", "copy", pg_url, str(back), "--campaign", "copy.yaml").returncode == 0
    with Journal(first, lock=False) as a, Journal(back, lock=False) as b:
        assert list(a.records()) == list(b.records())
        assert next(b.records()).review == "rejected"
        assert a.meta_items("") == b.meta_items("")
        assert [a.download(r.job_id) for r in a.records()] == [b.download(r.job_id) for r in b.records()]
    assert cli("status", pg_url, "--campaign", "copy.yaml").stdout.startswith("succeeded=6 ")
    assert cli("status", str(back)).stdout.startswith("succeeded=6 ")


def test_a_password_in_the_journal_url_is_never_printed(tmp_path):
    path = manifest(tmp_path, "pw.yaml", 1)
    url = "postgresql://agency:s3cret-pass@127.0.0.1:1/campaigns"
    done = subprocess.run([sys.executable, "-m", "batch_runner", "run", str(path), "--journal", url, "--no-canary"],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, **SIM_ENV, "GCCAI_API_KEY": "k-123456", "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2 and "cannot" in done.stderr and "agency:***@127.0.0.1:1" in done.stderr
    assert "s3cret-pass" not in done.stderr + done.stdout


@pytest.mark.serial  # bounds real time: two workers at once
def test_max_cost_holds_across_the_campaigns_workers(tmp_path, pg_url, shared_sim):
    path = manifest(tmp_path, "budget.yaml", 40, tag="budget")
    cap = 10 * 0.2928 + 0.001  # ten 6 s 768P gccai videos (data/providers.yaml)
    procs = [worker(shared_sim, path, pg_url, "--max-cost", f"{cap:.4f}", "--fit-budget") for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [1, 1], [o[1].decode()[-800:] for o in outs]  # 1: skipped_budget
    assert len(shared_sim.store.submissions["gccai"]) == 10  # not ten per worker
    done = cli("results", pg_url, "--campaign", "budget.yaml", "-o", str(tmp_path / "all.csv"))
    df = pd.read_csv(tmp_path / "all.csv")
    assert done.returncode == 0 and df["status"].value_counts().to_dict() == {"skipped_budget": 30, "succeeded": 10}
    assert df["cost_usd"].sum() <= cap


def test_without_psycopg_the_error_says_what_to_install(monkeypatch, tmp_path):
    from batch_runner.errors import ConfigError
    from batch_runner.journal.postgres import PgJournal

    monkeypatch.setitem(sys.modules, "psycopg_pool", None)  # as when the extra is not installed
    with pytest.raises(ConfigError) as caught:
        PgJournal("postgresql://agency:pw-secret@db.internal/campaigns", "launch.csv")
    said = str(caught.value)
    assert "pip install 'batch-runner[postgresql]'" in said and "pw-secret" not in said


def test_a_column_added_to_the_sqlite_journal_is_added_to_the_shared_one(monkeypatch, pg_url):
    import psycopg

    from batch_runner.journal import postgres as journal_pg

    before = journal_pg.PgJournal(pg_url, "columns.csv", lock=False)  # a database made by this version
    before.close()
    monkeypatch.setattr(journal_pg, "_ADDED_COLUMNS", (*journal_pg._ADDED_COLUMNS, ("qa_score", "REAL")))
    journal_pg.PgJournal(pg_url, "columns.csv", lock=False).close()  # a later version opens it
    with psycopg.connect(pg_url) as db:
        kind = db.execute("SELECT data_type FROM information_schema.columns WHERE table_name='jobs' "
                          "AND column_name='qa_score'").fetchone()
    assert kind == ("double precision",)


def test_a_worker_starting_beside_a_busy_one_never_locks_its_tables(tmp_path, pg_url):
    """A second worker (or `status`) opening the journal while another worker's transaction
    is open on ``jobs`` starts at once: it runs no ``ALTER TABLE`` on a current schema
    (which waited for that transaction, and under load made one worker a deadlock's victim)."""
    import psycopg

    from batch_runner.journal.postgres import PgJournal

    PgJournal(pg_url, "busy.csv", lock=False).close()  # the tables of this version exist
    with psycopg.connect(pg_url) as busy:  # a worker in the middle of a transaction on jobs
        busy.execute("LOCK TABLE jobs IN ROW EXCLUSIVE MODE")
        started = time.monotonic()
        PgJournal(pg_url, "busy.csv").close()
        waited = time.monotonic() - started
        busy.rollback()
    assert waited < 5.0  # before: the ALTER TABLE on jobs waited for the lock (10 s, then an error)


def test_a_worker_started_inside_a_killed_workers_leases_polls_its_tasks_and_finishes(tmp_path, pg_url):
    """Worker A is killed with its key's every in-flight place held by its tasks; worker B,
    started at once (inside A's leases), polls A's tasks once those leases run out and then
    submits the rest. Before: B's new jobs waited for a place those tasks held, for ever."""
    with simulator_in_thread(generation_s=2.0) as sim:
        path = tmp_path / "left.yaml"
        path.write_text(yaml.safe_dump({
            "providers": {"gccai": {"rpm": 600, "max_in_flight": 3, "poll_interval_s": 0.2,
                                    "typical_generation_s": 1.0}},
            "jobs": [{"name": f"left-{i}", "prompt": f"left number {i}", "provider": "gccai"} for i in range(6)],
        }), encoding="utf-8")
        a = worker(sim, path, pg_url, "--lease", "6")
        deadline = time.monotonic() + 30
        while len(sim.store.submissions["gccai"]) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        a.kill()
        a.communicate(timeout=30)
        b = worker(sim, path, pg_url, "--lease", "6")
        try:
            _, err = b.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            b.kill()
            pytest.fail(f"the second worker waited for ever: {b.communicate()[1].decode()[-800:]}")
        assert b.returncode == 0, err.decode()[-800:]
        assert set(submits_per_prompt(sim).values()) == {1} and len(submits_per_prompt(sim)) == 6
