"""Every command against every kind of bad path or bad file: a one-line message
that names the path, the exit status the manual documents (docs/commands.md), no traceback, and
for ``run`` nothing sent: the simulator (on 127.0.0.1, in a thread) receives no
request and no journal records a submit."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from batch_runner.cli import main
from batch_runner.journal import Journal

from conftest import ROOT, SIM_ENV, sim_env, simulator_in_thread

EXIT_USAGE, EXIT_SOFTWARE = 2, 70

MANIFEST_YAML = """\
source: campaign.csv
defaults:
  provider: gccai
  model: hailuo-2.3
"""
SHEET = "name,prompt\nrow one,a red fox running through snow\nrow two,a lighthouse at dusk\n"


@pytest.fixture(scope="module")
def sim() -> Iterator[object]:
    """The simulator of every provider on 127.0.0.1, served from its own
    thread so the CLI can run in this one; yields the RunningSimulator."""
    with simulator_in_thread() as running:
        yield running


def _unwritable_folder(base: Path) -> Path | None:
    """A folder no file can be created in: a chmod 0555 folder, or (as root,
    who may write anywhere chmod allows) /sys; None if there is none."""
    candidates = [Path("/sys")] if os.geteuid() == 0 else []
    if os.geteuid() != 0:
        locked = base / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        candidates.append(locked)
    for folder in candidates:
        try:
            fd, tmp = tempfile.mkstemp(dir=folder)
        except OSError:
            return folder
        os.close(fd)
        os.unlink(tmp)
    return None


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> dict[str, Path | None]:
    """A campaign folder with every kind of bad path beside a good manifest."""
    d = tmp_path_factory.mktemp("campaign")
    (d / "campaign.yaml").write_text(MANIFEST_YAML, encoding="utf-8")
    (d / "campaign.csv").write_text(SHEET, encoding="utf-8")
    (d / "sheet.csv").write_text("provider,model,prompt\ngccai,hailuo-2.3,a red fox\n", encoding="utf-8")
    (d / "afile").write_text("just a file\n", encoding="utf-8")
    (d / "adir").mkdir()
    (d / "folder.csv").mkdir()   # a folder with a file's name
    (d / "folder.html").mkdir()
    (d / "results.csv").write_text("job_id,status\n0123456789abcdef,succeeded\n", encoding="utf-8")
    (d / "empty.sqlite").write_bytes(b"")
    (d / "link.csv").symlink_to(d / "campaign.yaml")
    other = sqlite3.connect(d / "other.sqlite")  # someone else's SQLite database
    other.execute("CREATE TABLE notes (text TEXT)")
    other.commit()
    other.close()
    with Journal(d / "good.sqlite") as journal:  # a journal of many pages, then cut in half
        journal.db.executemany(
            "INSERT INTO jobs (job_id, job, provider, status, updated_at) VALUES (?, ?, 'gccai', 'succeeded', 0)",
            [(f"{i:016x}", "{}" * 200) for i in range(300)])
    whole = (d / "good.sqlite").read_bytes()
    (d / "truncated.sqlite").write_bytes(whole[: len(whole) // 2])
    (d / "header-only.sqlite").write_bytes(whole[:100])
    return {"dir": d, "locked": _unwritable_folder(d)}


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


#: (id, command line with {d} for the campaign folder, {locked} an unwritable
#: folder, {busy} a port in use, the path the message must name)
CASES = [
    # the manifest argument of run / validate / plan
    *[(f"{cmd}-manifest-{kind}", f"{cmd} {{d}}/{name}", f"{name}")
      for cmd in ("run", "validate", "plan")
      for kind, name in (("missing", "missing.yaml"), ("directory", "adir"), ("not-a-manifest", "good.sqlite"))],
    # run's outputs, before anything is sent
    ("run-o-is-the-source-sheet", "run {d}/campaign.yaml -o {d}/campaign.csv", "campaign.csv"),
    ("run-o-is-the-manifest", "run {d}/sheet.csv -o {d}/sheet.csv", "sheet.csv"),
    ("run-o-symlink-to-manifest", "run {d}/campaign.yaml -o {d}/link.csv", "link.csv"),
    ("run-o-ods", "run {d}/campaign.yaml -o {d}/out.ods", "out.ods"),
    ("run-o-txt", "run {d}/campaign.yaml -o {d}/out.txt", "out.txt"),
    ("run-o-directory", "run {d}/campaign.yaml -o {d}/folder.csv", "folder.csv"),
    ("run-o-under-a-file", "run {d}/campaign.yaml -o {d}/afile/results.csv", "afile/results.csv"),
    ("run-o-unwritable", "run {d}/campaign.yaml -o {locked}/new/results.csv", "new/results.csv"),
    ("run-report-pdf", "run {d}/campaign.yaml -o {d}/r1.csv --report {d}/r.pdf", "r.pdf"),
    ("run-report-directory", "run {d}/campaign.yaml -o {d}/r1.csv --report {d}/folder.html", "folder.html"),
    ("run-report-unwritable", "run {d}/campaign.yaml -o {d}/r1.csv --report {locked}/r.html", "r.html"),
    ("run-download-a-file", "run {d}/campaign.yaml -o {d}/r1.csv --download {d}/afile", "afile"),
    ("run-download-under-a-file", "run {d}/campaign.yaml -o {d}/r1.csv --download {d}/afile/videos",
     "afile/videos"),
    ("run-download-unwritable", "run {d}/campaign.yaml -o {d}/r1.csv --download {locked}/videos", "videos"),
    ("run-state-is-the-manifest", "run {d}/campaign.yaml -o {d}/r1.csv --state {d}/campaign.yaml",
     "campaign.yaml"),
    ("run-state-is-the-output", "run {d}/campaign.yaml -o {d}/r1.csv --state {d}/r1.csv", "r1.csv"),
    ("run-state-directory", "run {d}/campaign.yaml -o {d}/r1.csv --state {d}/adir", "adir"),
    ("run-state-not-a-journal", "run {d}/campaign.yaml -o {d}/r1.csv --state {d}/results.csv", "results.csv"),
    ("run-state-other-database", "run {d}/campaign.yaml -o {d}/r1.csv --state {d}/other.sqlite", "other.sqlite"),
    ("run-state-truncated", "run {d}/campaign.yaml -o {d}/r1.csv --state {d}/truncated.sqlite",
     "truncated.sqlite"),
    ("run-state-unwritable", "run {d}/campaign.yaml -o {d}/r1.csv --state {locked}/j.sqlite", "j.sqlite"),
    ("run-dry-run-o-is-the-source-sheet", "run {d}/campaign.yaml --dry-run -o {d}/campaign.csv", "campaign.csv"),
    ("run-dry-run-state-truncated", "run {d}/campaign.yaml --dry-run -o {d}/r1.csv --state {d}/truncated.sqlite",
     "truncated.sqlite"),
    # the journal argument of status / results
    *[(f"{cmd}-{kind}", f"{cmd} {{d}}/{name}" + (" -o {d}/rebuilt.csv" if cmd == "results" else ""), name)
      for cmd in ("status", "results")
      for kind, name in (("missing", "missing.sqlite"), ("directory", "adir"), ("not-a-journal", "results.csv"),
                         ("empty-file", "empty.sqlite"), ("other-database", "other.sqlite"),
                         ("truncated", "truncated.sqlite"), ("header-only", "header-only.sqlite"))],
    ("results-o-txt", "results {d}/good.sqlite -o {d}/rebuilt.txt", "rebuilt.txt"),
    ("results-o-directory", "results {d}/good.sqlite -o {d}/folder.csv", "folder.csv"),
    ("results-o-under-a-file", "results {d}/good.sqlite -o {d}/afile/rebuilt.csv", "afile/rebuilt.csv"),
    ("results-o-unwritable", "results {d}/good.sqlite -o {locked}/rebuilt.csv", "rebuilt.csv"),
    # report
    ("report-missing", "report {d}/missing.csv -o {d}/r.html", "missing.csv"),
    ("report-directory", "report {d}/adir -o {d}/r.html", "adir"),
    ("report-a-journal", "report {d}/good.sqlite -o {d}/r.html", "good.sqlite"),
    ("report-o-the-results", "report {d}/results.csv -o {d}/results.csv", "results.csv"),
    ("report-o-directory", "report {d}/results.csv -o {d}/folder.html", "folder.html"),
    ("report-o-unwritable", "report {d}/results.csv -o {locked}/r.html", "r.html"),
    # simulate
    ("simulate-port-80000", "simulate --port 80000", "80000"),
    ("simulate-busy-port", "simulate --port {busy}", "127.0.0.1:{busy}"),
]


def _journal_submits(path: Path) -> int:
    """Jobs a journal records as sent (any status past pending); 0 if no journal."""
    if not path.is_file() or path.stat().st_size == 0:
        return 0
    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as db:
            return db.execute("SELECT COUNT(*) FROM jobs WHERE status != 'pending'").fetchone()[0]
    except sqlite3.Error:
        return 0  # not a journal (the bad file of the case): nothing recorded in it


@pytest.mark.parametrize(("args", "named"), [pytest.param(a, n, id=i) for i, a, n in CASES])
def test_bad_path_is_one_clear_line_and_nothing_is_sent(args, named, ws, sim, busy_port, monkeypatch):
    d, locked = ws["dir"], ws["locked"]
    if "{locked}" in args and locked is None:
        pytest.skip("no folder here refuses new files (not root, and chmod is not enforced)")
    fill = {"d": d, "locked": locked, "busy": busy_port}
    argv, named = [a.format(**fill) for a in args.split()], named.format(**fill)
    monkeypatch.chdir(d)
    before = len(sim.store.requests)
    snapshot = {p: p.stat().st_mtime_ns for p in d.iterdir()
                if p.is_file() and not p.name.endswith(("-shm", "-wal"))}  # SQLite's own, beside a journal
    result = CliRunner().invoke(main, argv, env={**SIM_ENV, **sim_env(sim)})
    text = result.output  # stdout and stderr
    assert result.exit_code == EXIT_USAGE, text
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), text
    assert "Traceback" not in text
    assert named in text
    said = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith(("Usage:", "Try "))]
    assert len(said) <= 2, text  # one line; a manifest's problems come under one header line;
    # click's usage errors add their Usage and Try lines
    if argv[0] == "run":
        assert len(sim.store.requests) == before, "a request was sent"
        for journal in (d / "r1.journal.sqlite", d / "truncated.sqlite", d / "campaign.yaml.journal.sqlite"):
            assert _journal_submits(journal) == 0
    changed = [p.name for p, t in snapshot.items() if p.exists() and p.stat().st_mtime_ns != t]
    assert not changed, f"inputs changed: {changed}"
    assert {p.name for p in d.glob("*.lock")} == {"good.sqlite.lock"}, "a lock file beside a bad journal"


def test_a_good_run_in_the_same_setup_does_send(ws, sim, monkeypatch, tmp_path):
    """The control of the test above: the same command with good paths reaches
    the simulator (a wrong key: one refused submit per job, no waiting)."""
    monkeypatch.chdir(tmp_path)
    before = len(sim.store.requests)
    env = {**SIM_ENV, **sim_env(sim), "GCCAI_API_KEY": "wrong-key-0123456789"}
    result = CliRunner().invoke(main, ["run", str(ws["dir"] / "campaign.yaml"), "-o", str(tmp_path / "r.csv"),
                                       "--journal", str(tmp_path / "r.journal.sqlite"), "--quiet",
                                       "--no-canary"], env=env)
    assert result.exit_code == 1, result.output
    assert len(sim.store.requests) > before
    assert _journal_submits(tmp_path / "r.journal.sqlite") == 2


def test_an_unexpected_error_is_one_line_and_exit_70(monkeypatch, ws):
    import batch_runner.app

    def broken(*args, **kwargs):
        raise RuntimeError("the plan\nbroke")

    monkeypatch.setattr(batch_runner.app, "plan_manifest", broken)
    argv = ["plan", str(ws["dir"] / "campaign.yaml")]
    result = CliRunner().invoke(main, argv, env={"BATCH_RUNNER_DEBUG": ""})
    assert result.exit_code == EXIT_SOFTWARE
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "RuntimeError: the plan broke" in lines[0] and "report" in lines[0]
    debug = CliRunner().invoke(main, argv, env={"BATCH_RUNNER_DEBUG": "1"})
    assert isinstance(debug.exception, RuntimeError)  # the traceback is let through


def test_the_real_process_prints_no_traceback(ws):
    """``python -m batch_runner`` as a user runs it, on a natural mistake: the
    results CSV given to ``status`` (one process: its start-up is most of the
    time of this file)."""
    proc = subprocess.run([sys.executable, "-m", "batch_runner", "status", str(ws["dir"] / "results.csv")],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == EXIT_USAGE
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stderr.strip() == f"{ws['dir'] / 'results.csv'}: not a batch-runner journal (not an SQLite file)"
