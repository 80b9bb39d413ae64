"""Messages that used to mislead: each says what is true and what to do. The CLI
runs against the simulator on 127.0.0.1 (``--simulate`` or a served one)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pandas as pd
import yaml

from conftest import ROOT, SIM_ENV, sim_env


def sheet(tmp_path, name: str = "m.csv", n: int = 1, provider: str = "gccai", extra: str = ""):
    path = tmp_path / name
    head = "name,prompt,provider" + ("," + extra.split("=")[0] if extra else "")
    cells = "," + extra.split("=")[1] if extra else ""
    path.write_text(head + "\n" + "".join(f"s{i},shot {i} of a red fox,{provider}{cells}\n" for i in range(n)),
                    encoding="utf-8")
    return path


def test_one_video_and_one_job_are_singular(cli, tmp_path):
    result = cli("run", sheet(tmp_path), "--simulate", "-o", tmp_path / "r.csv", "--no-canary")
    assert result.exit_code == 0, result.output
    assert "1 job: 1 succeeded" in result.output and "gccai: 1 video, " in result.output
    assert "(plan: 1 job, " in result.output
    assert "1 videos" not in result.output and "1 jobs" not in result.output


def test_validate_says_one_row_one_job(cli, tmp_path):
    result = cli("validate", sheet(tmp_path), "--simulate")
    assert result.exit_code == 0 and ": valid, 1 row, 1 job " in result.output


def test_sheet_on_a_csv_is_refused(cli, tmp_path):
    result = cli("run", sheet(tmp_path), "--simulate", "--sheet", "Spring", "-o", tmp_path / "r.csv")
    assert result.exit_code == 2
    assert "a CSV file has no sheets" in result.output and "leave --sheet out" in result.output


def test_set_under_a_sheet_column_says_the_cell_wins(cli, tmp_path):
    path = sheet(tmp_path, extra="duration=10")
    result = cli("validate", path, "--simulate", "--set", "duration=60")
    assert "--set duration=60 is used only where the 'duration' column" in result.output
    assert "its cells win (1 of 1 row)" in result.output
    ran = cli("validate", path, "--simulate", "--set", "provider=apiframe")
    assert "--set provider=apiframe is used only where the 'provider' column" in ran.output


def test_yaml_duplicates_name_lines_not_rows(cli, tmp_path):
    path = tmp_path / "m.yaml"
    job = "  - name: a\n    prompt: a red fox\n    provider: gccai\n"
    path.write_text("jobs:\n" + job + job, encoding="utf-8")
    result = cli("validate", path, "--simulate")
    assert "m.yaml: line 5: warning: same request as line 2" in result.output, result.output


def test_fit_budget_dry_run_counts_what_the_run_submits(cli, tmp_path):
    path = sheet(tmp_path, n=30)
    dry = cli("run", path, "--simulate", "--max-cost", "1", "--fit-budget", "--dry-run", "-o", tmp_path / "r.csv")
    assert dry.exit_code == 0, dry.output
    counts = dict(kv.split("=") for kv in dry.output.split())
    run = cli("run", path, "--simulate", "--max-cost", "1", "--fit-budget", "--no-canary", "--quiet",
              "-o", tmp_path / "r.csv")
    done = pd.read_csv(tmp_path / "r.csv")
    assert int(counts["new"]) == int(done["task_id"].notna().sum()) == 3, run.output
    assert int(counts["skipped_budget"]) == 27


def test_plan_on_a_csv_names_the_settings_file_for_a_credit_price(cli, tmp_path):
    result = cli("plan", sheet(tmp_path, provider="apiframe"), "--simulate")
    assert "to a YAML manifest or to a --settings file" in result.output, result.output


def test_qa_on_a_workbook_says_how_to_check_it(cli, tmp_path):
    book = tmp_path / "results.xlsx"
    book.write_bytes(b"")
    result = cli("qa", book)
    assert result.exit_code == 2
    assert "`batch-runner results JOURNAL -o results.csv`" in result.output
    assert "`batch-runner qa results.csv`" in result.output


def test_report_without_checked_videos_does_not_say_they_passed_and_is_titled_by_the_campaign(cli, tmp_path):
    path = sheet(tmp_path, "launch.csv")
    result = cli("run", path, "--simulate", "--no-canary", "--quiet", "-o", tmp_path / "out.csv",
                 "--report", tmp_path / "report.html")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "every video checked" not in page and "No video was checked" in page
    assert "<title>Campaign report: launch.csv</title>" in page
    again = cli("report", tmp_path / "out.csv", "-o", tmp_path / "again.html")
    assert again.exit_code == 0
    assert "<title>Campaign report: out.csv</title>" in (tmp_path / "again.html").read_text(encoding="utf-8")


def test_journal_lock_message_names_journal_not_state(tmp_path, threaded_sim):
    path = sheet(tmp_path, n=40)
    journal = tmp_path / "j.sqlite"
    env = {**os.environ, **SIM_ENV, **sim_env(threaded_sim), "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "batch_runner", "run", str(path), "--journal", str(journal), "--quiet",
            "--no-canary", "-o"]
    first = subprocess.Popen([*args, str(tmp_path / "a.csv")], env=env, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(200):
            if len(threaded_sim.store.submissions["gccai"]):
                break
            subprocess.run(["sleep", "0.05"])
        second = subprocess.run([*args, str(tmp_path / "b.csv")], env=env, capture_output=True, text=True,
                                timeout=60)
    finally:
        first.kill()
        first.communicate()
    assert second.returncode == 3, second.stderr
    assert "use another --journal" in second.stderr and "--state" not in second.stderr


def test_a_kill_during_retry_backoff_leaves_the_job_pending_not_unknown(cli, tmp_path, threaded_sim):
    threaded_sim.config.providers["gccai"].error_rate = 1.0  # every submit answered 503: nothing accepted
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({
        "providers": {"gccai": {"backoff_base_s": 30, "retry_total_s": 600}},
        "jobs": [{"name": "a", "prompt": "a red fox", "provider": "gccai"}]}), encoding="utf-8")
    journal = tmp_path / "j.sqlite"
    env = {**os.environ, **SIM_ENV, **sim_env(threaded_sim), "PYTHONPATH": str(ROOT)}
    run = subprocess.Popen([sys.executable, "-m", "batch_runner", "run", str(path), "--journal", str(journal),
                            "--quiet", "--no-canary", "-o", str(tmp_path / "r.csv")],
                           env=env, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(400):  # the first try answered, the run now waits 30 s before the next
            if any(r.kind == "submit" for r in threaded_sim.store.requests):
                break
            time.sleep(0.05)
        time.sleep(1.0)
    finally:
        run.kill()
        run.communicate()
    assert any(r.kind == "submit" for r in threaded_sim.store.requests)
    status = cli("status", journal)
    assert "unknown=0" in status.output, status.output  # nothing was accepted: no "a submit was sent"


def test_a_shared_journal_keeps_no_sqlite_named_folder_beside_the_manifest(tmp_path, pg_url, threaded_sim):
    threaded_sim.config.providers["gccai"].poll_drift_rate = 1.0  # unreadable poll answers: captures are kept
    path = tmp_path / "shared.yaml"
    path.write_text(yaml.safe_dump({
        "providers": {"gccai": {"poll_interval_s": 0.05, "typical_generation_s": 0.1, "max_unreadable_answers": 2}},
        "jobs": [{"name": "a", "prompt": "a red fox", "provider": "gccai"}]}), encoding="utf-8")
    env = {**os.environ, **SIM_ENV, **sim_env(threaded_sim), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "batch_runner", "run", str(path), "--journal", pg_url,
                           "--campaign", "captures-shared", "--quiet", "--no-canary", "-o", str(tmp_path / "r.csv")],
                          env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode == 1, done.stderr  # the job failed: unrecognised_answer
    beside = sorted(p.name for p in tmp_path.iterdir())
    assert not [n for n in beside if ".journal.sqlite" in n], beside
    assert list((tmp_path / "shared.yaml.captures").glob("gccai-*.json")), beside
