"""Option names of the CLI: ``run --journal`` (and its old name ``--state``),
``simulate --knob`` (and its old name ``--set``). An old name still works and
says once, on stderr, what the new one is."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from conftest import ROOT

ONE_JOB = """\
jobs:
  - name: hero
    provider: gccai
    prompt: "Studio product shot of the sneaker on a turntable"
"""


@pytest.fixture
def manifest(write):
    return write("campaign.yaml", ONE_JOB)


def _deprecations(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "deprecated" in line]


def test_run_keeps_its_journal_where_journal_says(cli, manifest, tmp_path):
    out, journal = tmp_path / "results.csv", tmp_path / "keep" / "campaign.sqlite"
    journal.parent.mkdir()
    result = cli("run", manifest, "--simulate", "--quiet", "-o", out, "--journal", journal)
    assert result.exit_code == 0, result.output
    assert journal.is_file() and not (tmp_path / "results.journal.sqlite").exists()
    assert _deprecations(result.stderr) == []
    status = cli("status", journal)
    assert status.exit_code == 0 and status.output.startswith("succeeded=1 ")
    again = cli("run", manifest, "--simulate", "--dry-run", "-o", out, "--journal", journal)
    assert again.exit_code == 0 and "succeeded=1 " in again.output and "new=0" in again.output  # read back


def test_run_state_still_names_the_journal_and_warns_once(cli, manifest, tmp_path):
    out, journal = tmp_path / "results.csv", tmp_path / "old-name.sqlite"
    result = cli("run", manifest, "--simulate", "--quiet", "-o", out, "--state", journal)
    assert result.exit_code == 0, result.output
    assert journal.is_file() and not (tmp_path / "results.journal.sqlite").exists()
    assert _deprecations(result.stderr) == ["warning: --state is deprecated: use --journal"]
    assert "succeeded=1" in cli("status", journal).output


def test_run_refuses_journal_and_state_together(cli, manifest, tmp_path):
    result = cli("run", manifest, "--simulate", "-o", tmp_path / "r.csv",
                 "--journal", tmp_path / "a.sqlite", "--state", tmp_path / "b.sqlite")
    assert result.exit_code == 2 and "give only --journal" in result.stderr
    assert not (tmp_path / "a.sqlite").exists() and not (tmp_path / "b.sqlite").exists()


@pytest.mark.timeout(10)  # a knob not refused would serve forever
def test_simulate_refuses_a_bad_knob_under_either_name(cli):
    new = cli("simulate", "--port", "0", "--knob", "gccai.nope=1")
    assert new.exit_code == 2 and "bad simulator knob 'gccai.nope=1'" in new.stderr
    assert _deprecations(new.stderr) == []
    old = cli("simulate", "--port", "0", "--set", "mars.rpm=5")
    assert old.exit_code == 2 and "PROVIDER one of minimax, gptge" in old.stderr
    assert _deprecations(old.stderr) == ["warning: --set is deprecated: use --knob"]


def _submit_gccai(base: str) -> int:
    req = urllib.request.Request(f"{base}/gccai/v1/videos/generations", method="POST",
                                 data=json.dumps({"model": "MiniMax-Hailuo-2.3", "prompt": "a shot"}).encode(),
                                 headers={"Content-Type": "application/json", "Authorization": "Bearer sim-key"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_simulate_applies_knobs_under_both_names_and_warns_only_for_set(tmp_path):
    """A real ``batch-runner simulate`` process: ``--knob`` changes MiniMax's key
    (the banner shows it), the old ``--set`` still makes gccai fail every
    request, and only ``--set`` is warned about."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "batch_runner", "simulate", "--port", "0",
         "--knob", "minimax.api_key=my-key", "--set", "gccai.error_rate=1"],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.fullmatch(r"simulator at (http://127\.0\.0\.1:\d+) \(Ctrl-C to stop\)\n", first)
        assert match, first
        banner = proc.stdout.readline()
        assert "MINIMAX_API_KEY=my-key" in banner
        assert _submit_gccai(match[1]) == 500
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    assert _deprecations(stderr) == ["warning: --set is deprecated: use --knob"]
