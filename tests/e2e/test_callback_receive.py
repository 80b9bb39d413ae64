"""`batch-runner receive`: one callback receiver for every worker of a campaign in a
shared PostgreSQL journal (issue 28). Two `run` processes with `--callback-listen none`
and one `receive` process, against one simulator on 127.0.0.1, 30 % of MiniMax submit
answers cut after the task is made: every lost answer is adopted from the push the
service recorded in the journal, nothing is sent twice. The server is a throwaway
PostgreSQL (tests/pgserver.py); nothing is mocked."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

import pandas as pd
import pytest
import yaml

from conftest import ROOT, SIM_ENV, sim_env

pytestmark = pytest.mark.timeout(150)

# typical_generation_s 1: a lost answer waits up to 3 s (the backstop) for its push, which
# here travels simulator -> receive -> PostgreSQL -> a worker's next read of the journal
FAST = {"rpm": 6000, "max_in_flight": 10, "poll_interval_s": 0.05, "timeout_s": 2,
        "backoff_base_s": 0.05, "max_attempts": 3, "task_timeout_s": 10, "typical_generation_s": 1.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env(sim) -> dict[str, str]:
    return {**os.environ, **SIM_ENV, **sim_env(sim), "PYTHONPATH": str(ROOT)}


def start_receiver(sim, pg_url: str, campaign: str, port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "batch_runner", "receive", "--journal", pg_url, "--campaign",
                             campaign, "--listen", f"127.0.0.1:{port}"], env=env(sim), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.05)
    raise AssertionError("the receive service did not start listening")


def worker(sim, path: Path, pg_url: str, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "batch_runner", "run", str(path), "--journal", pg_url, "--no-canary", "--quiet",
         "-o", str(path.with_suffix(f".{time.monotonic_ns()}.csv")),
         "--callback-url", f"http://127.0.0.1:{port}/hooks/", "--callback-listen", "none"],
        env=env(sim), cwd=str(path.parent), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def made_tasks(sim) -> dict[str, list[str]]:
    """job id -> the task ids MiniMax made for it (from each submit's callback path)."""
    tasks: dict[str, list[str]] = {}
    for s in sim.store.submissions["minimax"]:
        tasks.setdefault(unquote(s.body["callback_url"].rstrip("/").split("/")[-3]), []).append(s.task_id)
    return tasks


@pytest.mark.serial  # two workers and a service at once
def test_two_workers_and_one_receive_service_adopt_every_lost_submit_answer(tmp_path, pg_url, threaded_sim):
    threaded_sim.config.providers["minimax"].cut_after_create_rate = 0.3
    path = tmp_path / "hooks.yaml"
    path.write_text(yaml.safe_dump({
        "defaults": {"provider": "minimax"}, "providers": {"minimax": FAST},
        "jobs": [{"name": f"shot-{i}", "prompt": f"a lighthouse at dusk, take {i}"} for i in range(40)],
    }), encoding="utf-8")
    port = free_port()
    receiver = start_receiver(threaded_sim, pg_url, "hooks.yaml", port)
    try:
        procs = [worker(threaded_sim, path, pg_url, port) for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        receiver.send_signal(signal.SIGTERM)
        _, said = receiver.communicate(timeout=30)
    assert [p.returncode for p in procs] == [0, 0], [o[1].decode()[-800:] for o in outs]
    assert receiver.returncode == 0 and "recorded" in said, said
    cut = sum(1 for r in threaded_sim.store.requests if r.reason == "cut_after_create")
    assert cut >= 5  # the case this is about happened (seeded; 30 % of 40)
    done = subprocess.run([sys.executable, "-m", "batch_runner", "results", pg_url, "--campaign", "hooks.yaml",
                           "-o", str(tmp_path / "all.csv")], env=env(threaded_sim), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    df = pd.read_csv(tmp_path / "all.csv", dtype=str, keep_default_na=False)
    assert Counter(df["status"]) == {"succeeded": 40}  # 0 unknown
    tasks = made_tasks(threaded_sim)
    assert sorted(tasks) == sorted(df["job_id"]) and all(len(ids) == 1 for ids in tasks.values())  # 0 sent twice
    assert {row.job_id: row.task_id for row in df.itertuples()} == {j: ids[0] for j, ids in tasks.items()}
    import psycopg

    with psycopg.connect(pg_url) as db:
        workers = db.execute("SELECT COUNT(DISTINCT claimed_by) FROM jobs WHERE campaign='hooks.yaml'").fetchone()
        pushes = db.execute("SELECT COUNT(*) FROM pushes WHERE campaign='hooks.yaml'").fetchone()
    assert workers == (2,) and pushes is not None and pushes[0] >= 40  # both worked; the pushes went through it


def test_workers_starting_together_share_one_callback_secret(pg_url):
    from batch_runner.journal.postgres import PgJournal
    from batch_runner.run.callbacks import callback_secret

    journals = [PgJournal(pg_url, "secret-race.yaml", lock=False) for _ in range(8)]
    barrier, secrets = threading.Barrier(len(journals)), []

    def start(journal: PgJournal) -> None:
        barrier.wait()
        secrets.append(callback_secret(journal))

    threads = [threading.Thread(target=start, args=(j,)) for j in journals]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for j in journals:
        j.close()
    assert len(secrets) == 8 and len(set(secrets)) == 1


def test_callback_listen_none_needs_a_shared_journal(tmp_path, threaded_sim):
    path = tmp_path / "solo.yaml"
    path.write_text(yaml.safe_dump({"defaults": {"provider": "minimax"}, "providers": {"minimax": FAST},
                                    "jobs": [{"prompt": "one"}]}), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "batch_runner", "run", str(path), "--no-canary", "--quiet",
                           "--callback-url", "http://127.0.0.1:9/hooks/", "--callback-listen", "none"],
                          env=env(threaded_sim), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "needs a shared journal" in done.stderr and "Traceback" not in done.stderr
    assert threaded_sim.store.submissions["minimax"] == []  # nothing sent


def test_receive_refuses_a_journal_file(tmp_path):
    done = subprocess.run([sys.executable, "-m", "batch_runner", "receive", "--journal", str(tmp_path / "x.sqlite"),
                           "--campaign", "c.yaml"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2 and "postgresql://" in done.stderr and "Traceback" not in done.stderr
