"""A campaign is one journal: simulate then real, another ``-o``, two campaigns in one
folder, edited rows and the budget, through the CLI. The "real" provider host is
``batch-runner simulate`` in its own process, reached through ``<NAME>_BASE_URL`` as a
real host would be; ``--simulate`` runs use the in-process simulator."""

from __future__ import annotations

import contextlib
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest

from conftest import PROVIDERS, ROOT


@contextlib.contextmanager
def simulate_process(generation_s: float) -> Iterator[dict[str, str]]:
    """``batch-runner simulate --port 0`` as a separate process; yields the environment
    a user would export for it (base URLs and keys from its banner)."""
    proc = subprocess.Popen([sys.executable, "-m", "batch_runner", "simulate", "--port", "0",
                             "--generation-s", str(generation_s)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None and proc.stderr is not None  # both piped
    try:
        banner = "".join(proc.stdout.readline() for _ in range(1 + len(PROVIDERS)))
        env = dict(re.findall(r"([A-Z][A-Z0-9_]*_(?:BASE_URL|API_KEY))=(\S+)", banner))
        urls = [k for k in env if k.endswith("_BASE_URL")]
        assert len(urls) == len(PROVIDERS) and "MINIMAX_V2_BASE_URL" in urls, banner  # V2 shares MINIMAX_API_KEY
        yield env
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


@pytest.fixture(scope="module")
def real_host() -> Iterator[dict[str, str]]:
    """The "real" provider host of these tests: 0.3 s tasks."""
    with simulate_process(0.3) as env:
        yield env


FAST = "{poll_interval_s: 0.1, typical_generation_s: 0.3, rpm: 600}"


def sheet(path: Path, prompts: list[str], provider: str = "gccai") -> Path:
    """A campaign: ``path`` (YAML: fast polling for the 0.3 s tasks of the test host) over
    the sheet ``<stem>.sheet.csv`` with one row per prompt."""
    rows = "".join(f"{p},{provider}\n" for p in prompts)
    source = path.with_name(path.stem + ".sheet.csv")
    source.write_text("prompt,provider\n" + rows, encoding="utf-8")
    path.write_text(f"source: {source.name}\nproviders:\n  {provider}: {FAST}\n", encoding="utf-8")
    return path


def results(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def submits(journal: Path) -> int:
    with sqlite3.connect(journal) as db:
        return db.execute("SELECT COALESCE(SUM(attempts), 0) FROM jobs").fetchone()[0]


def test_simulated_results_never_block_the_real_run(cli, tmp_path, real_host):
    manifest = sheet(tmp_path / "c.yaml", ["a castle at dawn", "a lighthouse at night"])
    out = tmp_path / "results.csv"
    simulated = cli("run", manifest, "--simulate", "-o", out, "--quiet")
    assert simulated.exit_code == 0, simulated.output
    assert not (tmp_path / "c.yaml.journal.sqlite").exists()  # the real journal is not touched
    real = cli("run", manifest, "-o", out, "--quiet", env=real_host)
    assert real.exit_code == 0, real.output
    df = results(out)
    real_port = urlsplit(real_host["GCCAI_BASE_URL"]).port
    assert list(df["status"]) == ["succeeded"] * 2
    assert {urlsplit(u).port for u in df["video_url"]} == {real_port}  # real videos, not simulated ones
    assert submits(tmp_path / "c.yaml.journal.sqlite") == 2


def test_a_simulated_run_refuses_the_real_journal(cli, tmp_path, real_host):
    manifest = sheet(tmp_path / "c.yaml", ["a castle at dawn"])
    real = cli("run", manifest, "-o", tmp_path / "r.csv", "--quiet", env=real_host)
    assert real.exit_code == 0, real.output
    journal = tmp_path / "c.yaml.journal.sqlite"
    before = journal.read_bytes()
    wrong = cli("run", manifest, "--simulate", "-o", tmp_path / "r.csv", "--journal", journal)
    assert wrong.exit_code == 2
    message = wrong.output
    assert "gccai tasks were made on 127.0.0.1" in message and "this run uses the simulator" in message
    assert "--journal" in message and "Traceback" not in message
    assert journal.read_bytes() == before


def test_another_output_keeps_the_campaign_journal(cli, tmp_path, real_host):
    manifest = sheet(tmp_path / "c.yaml", ["a castle at dawn", "a lighthouse at night"])
    first = cli("run", manifest, "-o", tmp_path / "results.csv", "--quiet", env=real_host)
    assert first.exit_code == 0, first.output
    again = cli("run", manifest, "-o", tmp_path / "out2" / "2026-12-01.csv", env=real_host)
    assert again.exit_code == 0, again.output
    assert "0 to submit, 2 already final" in again.output
    assert submits(tmp_path / "c.yaml.journal.sqlite") == 2  # nothing paid again
    assert list(results(tmp_path / "out2" / "2026-12-01.csv")["status"]) == ["succeeded"] * 2


def test_two_campaigns_in_one_folder_keep_their_own_journal_and_results(cli, tmp_path, real_host):
    a = sheet(tmp_path / "a.yaml", ["campaign a"])
    b = sheet(tmp_path / "b.yaml", ["campaign b one", "campaign b two"])
    assert cli("run", a, "--quiet", env=real_host).exit_code == 0
    assert cli("run", b, "--quiet", env=real_host).exit_code == 0
    assert list(results(tmp_path / "a.yaml.results.csv")["prompt"]) == ["campaign a"]
    assert list(results(tmp_path / "b.yaml.results.csv")["prompt"]) == ["campaign b one", "campaign b two"]
    assert submits(tmp_path / "a.yaml.journal.sqlite") == 1
    assert submits(tmp_path / "b.yaml.journal.sqlite") == 2


def test_a_journal_of_the_old_rule_is_found_and_used(cli, tmp_path, real_host):
    manifest = sheet(tmp_path / "c.yaml", ["a castle at dawn"])
    out = tmp_path / "results.csv"
    old = tmp_path / "results.journal.sqlite"  # where versions before 0.2 kept it
    assert cli("run", manifest, "-o", out, "--journal", old, "--quiet", env=real_host).exit_code == 0
    upgraded = cli("run", manifest, "-o", out, env=real_host)
    assert upgraded.exit_code == 0, upgraded.output
    assert "found next to the results (the old default)" in upgraded.output
    assert "0 to submit, 1 already final" in upgraded.output
    assert submits(old) == 1 and not (tmp_path / "c.yaml.journal.sqlite").exists()


def test_the_budget_counts_what_edited_rows_spent(cli, tmp_path, real_host):
    manifest = sheet(tmp_path / "c.yaml", ["first take one", "first take two"])
    assert cli("run", manifest, "--quiet", env=real_host).exit_code == 0  # 2 x $0.29 spent
    sheet(manifest, ["second take one", "second take two"])  # both rows edited: new jobs
    capped = cli("run", manifest, "--max-cost", "1.00", env=real_host)
    assert capped.exit_code == 4, capped.output  # 0.59 spent + 0.59 planned > 1.00
    assert submits(tmp_path / "c.yaml.journal.sqlite") == 2
    assert "spent" in capped.output


@pytest.fixture
def slow_host() -> Iterator[dict[str, str]]:
    """A second host whose tasks take 3 s, so a run can be stopped with tasks in flight."""
    with simulate_process(3.0) as env:
        yield env


def _in_flight(journal: Path) -> int:
    if not journal.exists():
        return 0
    try:
        with sqlite3.connect(journal) as db:
            return db.execute("SELECT COUNT(*) FROM jobs WHERE status = 'submitted'").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_an_edited_row_does_not_orphan_its_paid_task(cli, tmp_path, slow_host):
    import os
    import time

    manifest = sheet(tmp_path / "c.yaml", ["first take", "second take"])
    journal = tmp_path / "c.yaml.journal.sqlite"
    run = subprocess.Popen([sys.executable, "-m", "batch_runner", "run", str(manifest), "--quiet", "--no-canary"],
                           env={**os.environ, **slow_host}, cwd=tmp_path,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while _in_flight(journal) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    run.kill()  # kill -9 with both tasks in flight
    run.wait()
    assert _in_flight(journal) == 2
    sheet(manifest, ["first take edited", "second take"])  # row 2 edited: a new job; its old task is paid
    again = cli("run", manifest, "--max-cost", "1.00", env=slow_host)
    assert again.exit_code == 0, again.output
    assert "1 task(s) in flight belong to rows no longer in the manifest" in again.output
    df = results(tmp_path / "c.yaml.results.csv")
    assert list(df["prompt"]) == ["first take edited", "second take", "first take"]
    assert list(df["in_manifest"]) == ["yes", "yes", "no"]
    assert list(df["status"]) == ["succeeded"] * 3  # the old task was followed to its end
    assert all(df["video_url"]) and all(df["cost_usd"])
    assert "not in the manifest any more (edited or removed rows): 1 task(s): 1 succeeded" in again.output
    with sqlite3.connect(journal) as db:
        assert db.execute("SELECT COUNT(*) FROM jobs WHERE status = 'submitted'").fetchone()[0] == 0
        assert db.execute("SELECT SUM(attempts) FROM jobs").fetchone()[0] == 3  # one new paid submit only
