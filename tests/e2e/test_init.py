"""``batch-runner init``: a starter campaign in an empty folder that validates, plans and
runs against the simulator; drop-downs from the package's data; a .env template; never
an overwritten file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
from openpyxl import load_workbook

from batch_runner.catalog.facts import catalog, job_fields, model_names


def _user_env() -> dict[str, str]:
    """The caller's environment without any provider key or base URL (a newcomer has none)."""
    return {k: v for k, v in os.environ.items() if not re.fullmatch(r"[A-Z]+_(API_KEYS?|BASE_URL)", k)}


def _batch_runner(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "batch_runner", *args], cwd=folder, env=_user_env(),
                          capture_output=True, text=True, timeout=120)


def test_init_in_an_empty_folder_gives_a_campaign_that_validates_plans_and_runs(tmp_path):
    made = _batch_runner(tmp_path, "init")
    assert made.returncode == 0, made.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env", "campaign.xlsx", "images"]
    commands = [line.strip() for line in made.stdout.splitlines() if line.startswith("  batch-runner ")]
    assert [c.split("  #")[0].strip() for c in commands] == [
        "batch-runner run campaign.xlsx --simulate -o results.csv",
        "batch-runner plan campaign.xlsx",
        "batch-runner run campaign.xlsx -o results.csv"]

    checked = _batch_runner(tmp_path, "validate", "campaign.xlsx", "--simulate")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "campaign.xlsx: valid, 2 rows, 2 jobs" in checked.stdout
    plan = _batch_runner(tmp_path, "plan", "campaign.xlsx")  # no key: a plan still, keys named
    assert plan.returncode == 0, plan.stderr
    assert "1 text-to-video, 1 image-to-video" in plan.stdout and "no key: set MINIMAX_API_KEY" in plan.stdout

    ran = _batch_runner(tmp_path, "run", "campaign.xlsx", "--simulate", "-o", "results.csv")
    assert ran.returncode == 0, ran.stderr
    results = pd.read_csv(tmp_path / "results.csv", dtype=str, keep_default_na=False)
    assert len(results) == 2 and set(results["status"]) == {"succeeded"}
    assert set(results["scene"]) == {"text-to-video", "image-to-video"}


def test_init_after_a_key_in_env_plans_with_that_provider(tmp_path):
    assert _batch_runner(tmp_path, "init").returncode == 0
    env = tmp_path / ".env"
    env.write_text(env.read_text(encoding="utf-8").replace("GCCAI_API_KEY=\n", "GCCAI_API_KEY=sk-example-1\n"),
                   encoding="utf-8")
    plan = _batch_runner(tmp_path, "plan", "campaign.xlsx")
    assert plan.returncode == 0, plan.stderr
    assert re.search(r"^gccai\s+2\s", plan.stdout, re.MULTILINE), plan.stdout
    assert "sk-example-1" not in plan.stdout + plan.stderr


def test_init_dropdowns_hold_the_allowed_values_of_the_package_data(cli, tmp_path):
    assert cli("init", tmp_path / "new" / "campaign").exit_code == 0
    sheet = load_workbook(tmp_path / "new" / "campaign" / "campaign.xlsx").worksheets[0]
    header = [c.value for c in sheet[1]]
    assert header == list(job_fields())
    lists = {}
    for rule in sheet.data_validations.dataValidation:
        column = header[ord(str(rule.sqref).split(":")[0][0]) - ord("A")]
        lists[column] = rule.formula1.strip('"').split(",")
    assert lists == {"provider": [*catalog(), "auto"], "model": list(model_names()),
                     "resolution": [str(v) for v in job_fields()["resolution"]["enum"]],
                     "duration": [str(v) for v in job_fields()["duration"]["enum"]]}


def test_init_env_names_every_provider_key_for_its_owner_only(cli, tmp_path):
    assert cli("init", tmp_path).exit_code == 0
    env = tmp_path / ".env"
    assert env.stat().st_mode & 0o077 == 0
    text = env.read_text(encoding="utf-8")
    for info in catalog().values():
        assert re.search(rf"^# {info.name}: .*\n{info.key_env}=$", text, re.MULTILINE), info.name


def test_init_never_overwrites_a_file_and_names_it(cli, tmp_path):
    (tmp_path / ".env").write_text("MINIMAX_API_KEY=mine\n", encoding="utf-8")
    result = cli("init", tmp_path)
    assert result.exit_code == 2
    assert f"{tmp_path / '.env'} already exists: init never overwrites a file" in result.output
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]  # nothing else written either
    assert (tmp_path / ".env").read_text(encoding="utf-8") == "MINIMAX_API_KEY=mine\n"
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x", encoding="utf-8")
    result = cli("init", a_file)
    assert result.exit_code == 2 and "is a file, not a folder" in result.output
