"""Faults of the world, not of batch-runner: a journal database that stops, a full
disk, a results path that becomes a folder, a damaged -wal file, a journal URL or
an HTTP trace path that cannot be used. Each is one line naming the cause and what
to do (never "this is a bug", exit 70, nor a traceback), with its own exit status:
1 for a fault met mid-run (the journal kept, the results written where possible), 2
for a path refused before anything is sent. Runs are real processes against the
simulator on 127.0.0.1; the disks are real (RLIMIT_FSIZE, a small tmpfs as root)."""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import ROOT, SIM_ENV, sim_env, simulator_in_thread

pytestmark = pytest.mark.timeout(150)
FAST = {"rpm": 6000, "max_in_flight": 6, "poll_interval_s": 0.05, "typical_generation_s": 0.3}


def manifest(tmp: Path, n: int, name: str = "launch.yaml") -> Path:
    """A YAML campaign of ``n`` gccai text-to-video jobs with fast settings."""
    path = tmp / name
    path.write_text(yaml.safe_dump({
        "defaults": {"provider": "gccai"}, "providers": {"gccai": FAST},
        "jobs": [{"name": f"shot-{i}", "prompt": f"product shot number {i}"} for i in range(n)],
    }), encoding="utf-8")
    return path


def start(sim, path: Path, *args: str, limit_bytes: int | None = None) -> subprocess.Popen[str]:
    """``batch-runner run PATH --quiet --no-canary ARGS`` as its own process;
    ``limit_bytes``: the largest file it may write (RLIMIT_FSIZE: a full disk)."""
    def limit() -> None:
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.Popen(
        [sys.executable, "-m", "batch_runner", "run", str(path), "--no-canary", "--quiet", *args],
        env={**os.environ, **SIM_ENV, **sim_env(sim), "PYTHONPATH": str(ROOT)}, cwd=str(path.parent),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=limit)


def until_submitted(sim, n: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while len(sim.store.submissions["gccai"]) < n and time.monotonic() < deadline:
        time.sleep(0.02)


def one_line(stderr: str) -> str:
    """The run's stderr, checked to be one line of batch-runner's own, no traceback."""
    assert "Traceback" not in stderr and "unexpected error" not in stderr and "bug" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture
def sim():
    with simulator_in_thread(generation_s=0.3) as running:
        yield running


def test_postgresql_stopped_mid_run_is_one_line_and_a_restart_finishes_without_a_duplicate(tmp_path, pg_url, sim):
    from pgserver import pg_ctl

    path = manifest(tmp_path, 60, "pgstop.yaml")
    # a 3 s lease: the claims this run holds when the server stops cannot be released (the server
    # is down), so the next run takes them over when their lease runs out (the default 30 s)
    run = start(sim, path, "--journal", pg_url, "-o", str(tmp_path / "r.csv"), "--lease", "3")
    until_submitted(sim, 10)
    pg_ctl(pg_url, "stop")
    try:
        _, err = run.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        run.kill()
        run.communicate()
        raise
    finally:
        pg_ctl(pg_url, "start")
    line = one_line(err)  # no pages of "error connecting in 'batch-runner'" from the pool
    assert run.returncode == 1
    assert "PostgreSQL server stopped answering" in line and "start it again" in line
    # started at once, inside the stopped run's 3 s leases: their tasks are polled once they run out
    again = start(sim, path, "--journal", pg_url, "-o", str(tmp_path / "r.csv"), "--lease", "3")
    try:
        _, err = again.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        again.kill()
        again.communicate()
        raise
    # 1 when a submit was on the wire as the server stopped: its answer could not be recorded,
    # so the job is "unknown" (possibly paid) and is not sent again without --resubmit-unknown
    assert again.returncode in (0, 1), err
    prompts = [s.body.get("prompt") for s in sim.store.submissions["gccai"]]
    assert len(prompts) == len(set(prompts))  # nothing paid twice
    done = pd.read_csv(tmp_path / "r.csv")
    assert len(done) == 60 and set(done["status"]) <= {"succeeded", "unknown"}


def test_journal_disk_full_mid_run_is_one_line_and_the_results_are_written(tmp_path, sim):
    path = manifest(tmp_path, 120)
    out = tmp_path / "r.csv"
    run = start(sim, path, "--journal", str(tmp_path / "j.sqlite"), "-o", str(out), limit_bytes=300_000)
    _, err = run.communicate(timeout=120)
    line = one_line(err)
    assert run.returncode == 1
    assert "could not be written" in line and "run the same command again" in line
    assert sim.store.submissions["gccai"], "the disk filled up before the first submit: raise the limit"
    done = pd.read_csv(out)  # the results, from the journal that stays readable
    assert len(done) == 120 and done["task_id"].notna().sum() >= 1


def test_download_folder_full_fails_those_downloads_writes_the_results_and_exits_1(tmp_path, sim):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    folder = tmp_path / "videos"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        subprocess.run(["dd", "if=/dev/zero", f"of={folder / 'filler'}", "bs=4k", "count=64"], capture_output=True)
        path = manifest(tmp_path, 4)
        out = tmp_path / "r.csv"
        run = start(sim, path, "--download", str(folder), "-o", str(out))
        _, err = run.communicate(timeout=120)
    finally:
        subprocess.run(["umount", "-l", str(folder)])
    assert run.returncode == 1, err
    assert "Traceback" not in err and "unexpected error" not in err
    assert "no space left in" in err and "not paid again" in err
    assert "4 failed" in err
    assert pd.read_csv(out)["status"].eq("succeeded").sum() == 4  # the jobs themselves succeeded


def test_results_path_replaced_by_a_folder_mid_run_says_how_to_get_the_results(tmp_path, sim):
    path = manifest(tmp_path, 30)
    out, journal = tmp_path / "r.csv", tmp_path / "j.sqlite"
    run = start(sim, path, "--journal", str(journal), "-o", str(out))
    until_submitted(sim, 3)
    with contextlib.suppress(FileNotFoundError):
        out.unlink()
    out.mkdir()
    _, err = run.communicate(timeout=120)
    line = one_line(err)
    assert run.returncode == 1
    assert f"{out.name} is a folder now" in line and "batch-runner results" in line
    rebuilt = subprocess.run([sys.executable, "-m", "batch_runner", "results", str(journal), "-o",
                              str(tmp_path / "again.csv")], env={**os.environ, "PYTHONPATH": str(ROOT)},
                             capture_output=True, text=True, timeout=60)
    assert rebuilt.returncode == 0 and len(pd.read_csv(tmp_path / "again.csv")) == 30


def test_a_wal_file_truncated_mid_run_is_no_traceback(tmp_path, sim):
    path = manifest(tmp_path, 60)
    journal = tmp_path / "j.sqlite"
    run = start(sim, path, "--journal", str(journal), "-o", str(tmp_path / "r.csv"))
    until_submitted(sim, 10)
    wal = Path(f"{journal}-wal")
    if wal.exists():
        os.truncate(wal, 100)
    _, err = run.communicate(timeout=120)
    assert run.returncode in (0, 1), err
    assert "Traceback" not in err and "unexpected error" not in err and "never retrieved" not in err
    if run.returncode == 1:
        assert "journal" in one_line(err)


def test_a_journal_url_that_is_no_url_is_refused_before_anything_is_sent(tmp_path, sim):
    path = manifest(tmp_path, 2)
    run = start(sim, path, "--journal", "postgresql://agency:s3cret@[bad", "-o", str(tmp_path / "r.csv"))
    _, err = run.communicate(timeout=60)
    line = one_line(err)
    assert run.returncode == 2
    assert "not a PostgreSQL URL" in line and "postgresql://USER:PASSWORD@HOST" in line and "s3cret" not in line
    assert not sim.store.submissions["gccai"]


def test_an_http_trace_that_cannot_be_written_is_refused_before_anything_is_sent(tmp_path, sim):
    path = manifest(tmp_path, 2)
    har = "/proc/self/trace.har"  # a folder nobody, root included, can create a file in
    run = start(sim, path, "--trace-http", har, "-o", str(tmp_path / "r.csv"))
    _, err = run.communicate(timeout=60)
    line = one_line(err)
    assert run.returncode == 2
    assert line.startswith(f"--trace-http {har}: cannot be written")
    assert not sim.store.submissions["gccai"]


def test_journal_path_errors_name_the_journal_option(tmp_path, sim):
    path = manifest(tmp_path, 2)
    (tmp_path / "jdir").mkdir()
    run = start(sim, path, "--journal", str(tmp_path / "jdir"), "-o", str(tmp_path / "r.csv"))
    _, err = run.communicate(timeout=60)
    assert run.returncode == 2
    assert one_line(err).startswith("--journal ") and "--state" not in err
