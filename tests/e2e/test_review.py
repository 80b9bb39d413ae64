"""The review loop through the CLI against the simulator on 127.0.0.1: a person
fills the results workbook's review column (rows sorted), ``batch-runner review``
takes each verdict, ``run --reroll-rejected`` pays one new task per rejected job
only, with a review note's replacement prompt, and every verdict outlives the
rewritten results file."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml
from openpyxl import load_workbook

from conftest import ROOT, sim_env

FAST = {"rpm": 3000, "max_in_flight": 8, "poll_interval_s": 0.05, "timeout_s": 10, "typical_generation_s": 0.3}
PROMPTS = {"keep": "a red sneaker on a beach", "redo": "a blue sneaker in the rain",
           "reword": "a green sneaker at night", "later": "a white sneaker on snow"}
NEW_PROMPT = "a green sneaker under neon lights, slow push in"


def campaign(tmp_path: Path) -> Path:
    """Four jobs: three on gccai, one on minimax."""
    path = tmp_path / "m.yaml"
    providers = {"keep": "gccai", "redo": "gccai", "reword": "gccai", "later": "minimax"}
    path.write_text(yaml.safe_dump({
        "providers": {"gccai": FAST, "minimax": FAST},
        "jobs": [{"name": n, "prompt": p, "provider": providers[n]} for n, p in PROMPTS.items()],
    }), encoding="utf-8")
    return path


async def cli(sim, *args: str, timeout_s: float = 90) -> tuple[int, str]:
    """``batch-runner ARGS`` in its own process against ``sim``: (exit status, stdout + stderr)."""
    env = {**os.environ, **sim_env(sim), "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "batch_runner", *args, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    said, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    return proc.returncode or 0, said.decode()


def sheet_rows(path: Path) -> dict[str, dict]:
    """The Results sheet by job name: column -> value."""
    book = load_workbook(path, read_only=True)
    values = list(book.worksheets[0].iter_rows(values_only=True))
    book.close()
    return {r["name"]: r for r in (dict(zip(values[0], row, strict=False)) for row in values[1:])}


def review_in_sheet(path: Path, verdicts: Mapping[str, tuple[str | None, str | None]]) -> None:
    """Fill review / review_note by job name, as a person would, and sort the rows by prompt (descending)."""
    book = load_workbook(path)
    sheet = book.worksheets[0]
    header = [c.value for c in sheet[1]]
    rows = sorted(([c.value for c in row] for row in sheet.iter_rows(min_row=2)),
                  key=lambda r: r[header.index("prompt")], reverse=True)
    for i, row in enumerate(rows, start=2):
        verdict, note = verdicts.get(row[header.index("name")], (None, None))
        row[header.index("review")], row[header.index("review_note")] = verdict, note
        for j, value in enumerate(row, start=1):
            sheet.cell(i, j, value)
    book.save(path)


def new_prompts(sim) -> list[str]:
    """The prompts of every submit the simulator accepted, oldest first."""
    subs = [s for p in ("gccai", "minimax") for s in sim.store.submissions[p]]
    return [s.body.get("prompt") for s in sorted(subs, key=lambda s: s.t)]


VERDICTS = {"keep": ("approved", None), "redo": ("rejected", "too dark"),
            "reword": ("Rejected", f"prompt: {NEW_PROMPT}")}


async def reviewed_campaign(tmp_path: Path, sim) -> tuple[Path, Path, Path]:
    """A campaign run once to results.xlsx, its workbook reviewed: (manifest, results, journal)."""
    manifest, out = campaign(tmp_path), tmp_path / "results.xlsx"
    status, said = await cli(sim, "run", str(manifest), "-o", str(out), "--quiet", "--no-canary")
    assert status == 0, said
    assert {r["review"] for r in sheet_rows(out).values()} == {None}
    review_in_sheet(out, VERDICTS)
    return manifest, out, tmp_path / "m.yaml.journal.sqlite"


async def test_review_takes_each_verdict_by_job_id_from_a_sorted_workbook(tmp_path, sim):
    _manifest, out, journal = await reviewed_campaign(tmp_path, sim)
    book = load_workbook(out)
    assert any("approved,rejected" in (v.formula1 or "") for v in book.worksheets[0].data_validations.dataValidation)
    status, said = await cli(sim, "review", str(out))  # the journal beside the manifest, found
    assert status == 0, said
    assert "1 approved, 2 rejected, 1 unchanged" in said
    again = await cli(sim, "review", str(out), "--journal", str(journal))
    assert "0 approved, 0 rejected, 4 unchanged" in again[1]
    with sqlite3.connect(journal) as db:
        got = dict(db.execute("SELECT json_extract(jobs.job, '$.name'), verdict FROM reviews JOIN jobs USING (job_id)"))
    assert got == {"keep": "approved", "redo": "rejected", "reword": "rejected"}


async def test_review_refuses_a_value_that_is_not_a_verdict_and_names_unmatched_rows(tmp_path, sim):
    _manifest, out, journal = await reviewed_campaign(tmp_path, sim)
    book = load_workbook(out)
    sheet = book.worksheets[0]
    header = [c.value for c in sheet[1]]
    sheet.cell(3, header.index("review") + 1, "maybe")
    bad = tmp_path / "bad.xlsx"
    book.save(bad)
    status, said = await cli(sim, "review", str(bad), "--journal", str(journal))
    assert status == 2 and "row 3" in said and "'maybe'" in said and "Traceback" not in said
    with sqlite3.connect(journal) as db:
        assert db.execute("SELECT COUNT(*) FROM reviews").fetchone() == (0,)  # nothing taken
    sheet.cell(3, header.index("review") + 1, "approved")
    sheet.cell(4, header.index("prompt") + 1, "someone edited this prompt")
    sheet.cell(5, header.index("job_id") + 1, "0123456789abcdef")
    book.save(bad)
    status, said = await cli(sim, "review", str(bad), "--journal", str(journal))
    assert status == 0, said
    assert "2 not matched" in said
    assert "row 4" in said and "prompt was changed" in said
    assert "row 5 (job 0123456789abcdef): not in the journal" in said


async def test_reroll_rejected_pays_one_new_task_per_rejected_job_and_keeps_every_verdict(tmp_path, sim):
    manifest, out, _journal = await reviewed_campaign(tmp_path, sim)
    first = sheet_rows(out)
    assert len(new_prompts(sim)) == 4
    status, said = await cli(sim, "run", str(manifest), "-o", str(out), "--reroll-rejected", "--dry-run")
    assert status == 0 and "reroll_rejected=2" in said, said
    assert len(new_prompts(sim)) == 4  # a dry run sends nothing

    status, said = await cli(sim, "run", str(manifest), "-o", str(out), "--no-canary", "--reroll-rejected")
    assert status == 0, said
    sent = new_prompts(sim)[4:]
    assert sorted(sent) == sorted([PROMPTS["redo"], NEW_PROMPT])  # one each; the replacement prompt was sent
    assert "re-rolled 2 rejected videos" in said
    assert "review gccai: 1 approved, 0 rejected, 2 awaiting review; $" in said  # the new clips: no verdict yet
    after = sheet_rows(out)
    assert after["keep"]["review"] == "approved" and after["keep"]["task_id"] == first["keep"]["task_id"]
    for name in ("redo", "reword"):
        row = after[name]
        assert row["review"] is None and row["task_id"] != first[name]["task_id"]
        assert row["earlier_task_ids"] == first[name]["task_id"]  # the superseded attempt, kept
        assert row["paid_attempts"] == 2
        assert row["cost_all_attempts"] == pytest.approx(2 * first[name]["cost_usd"])
    assert after["later"]["review"] is None and after["later"]["task_id"] == first["later"]["task_id"]

    status, said = await cli(sim, "run", str(manifest), "-o", str(out), "--no-canary", "--reroll-rejected")
    assert status == 0 and len(new_prompts(sim)) == 6, said  # the new clips are not rejected: nothing more
    csv_out = tmp_path / "results.csv"
    status, said = await cli(sim, "run", str(manifest), "-o", str(csv_out), "--no-canary")
    text = csv_out.read_text(encoding="utf-8-sig")
    assert status == 0 and text.count('"approved"') == 1 and "review_note" in text.splitlines()[0]


async def test_kill_9_after_the_verdicts_are_taken_neither_loses_one_nor_pays_twice(tmp_path, sim):
    manifest, out, journal = await reviewed_campaign(tmp_path, sim)
    sim.config.providers["gccai"].latency_s = 2.0  # the re-roll's submit is slow to answer: kill before
    env = {**os.environ, **sim_env(sim), "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "batch_runner", "run", str(manifest), "-o", str(out), "--quiet", "--no-canary",
        "--reroll-rejected", env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    for _ in range(1200):  # until the run has taken the verdicts into the journal
        with sqlite3.connect(journal) as db:
            if db.execute("SELECT COUNT(*) FROM reviews").fetchone()[0] == 3:
                break
        await asyncio.sleep(0.05)
    proc.kill()
    await proc.wait()
    with sqlite3.connect(journal) as db:
        assert db.execute("SELECT COUNT(*) FROM reviews WHERE verdict IS NOT NULL").fetchone()[0] == 3
    sim.config.providers["gccai"].latency_s = 0.0
    status, said = await cli(sim, "run", str(manifest), "-o", str(out), "--no-canary", "--reroll-rejected")
    assert status == 0, said
    sent = new_prompts(sim)[4:]
    assert sorted(sent) == sorted([PROMPTS["redo"], NEW_PROMPT])  # exactly one new task each, never two
    rows = sheet_rows(out)
    assert rows["keep"]["review"] == "approved"
    assert rows["redo"]["paid_attempts"] == 2 and rows["reword"]["paid_attempts"] == 2


@pytest.mark.skipif(shutil.which("soffice") is None and os.environ.get("CI") != "true",
                    reason="LibreOffice (soffice) is not installed")
async def test_verdicts_survive_a_save_by_libreoffice(tmp_path, sim):
    _manifest, out, journal = await reviewed_campaign(tmp_path, sim)
    converted = tmp_path / "lo"
    converted.mkdir()
    await asyncio.to_thread(subprocess.run, ["soffice", "--headless", f"-env:UserInstallation=file://{tmp_path}/lo-profile",
                    "--convert-to", "xlsx", "--outdir", str(converted), str(out)],
                            check=True, capture_output=True, timeout=120)
    status, said = await cli(sim, "review", str(converted / "results.xlsx"), "--journal", str(journal))
    assert status == 0, said
    assert "1 approved, 2 rejected, 1 unchanged" in said


async def test_deliver_approved_only_sends_a_video_once_a_person_approves_it(tmp_path, sim):
    manifest, out = campaign(tmp_path), tmp_path / "results.xlsx"
    team, videos = tmp_path / "team", tmp_path / "v"
    team.mkdir()
    args = ("run", str(manifest), "-o", str(out), "--quiet", "--no-canary", "--download", str(videos),
            "--deliver", team.as_uri() + "/", "--deliver-approved-only")
    status, said = await cli(sim, *args)
    assert status == 0, said
    assert not list(team.rglob("*.mp4"))  # nothing approved yet: no video reaches the team
    assert (team / "results.xlsx").is_file()
    review_in_sheet(out, {"keep": ("approved", None), "redo": ("rejected", None)})
    status, said = await cli(sim, *args)
    assert status == 0, said
    sent = list(team.rglob("*.mp4"))
    assert len(sent) == 1 and sent[0].stat().st_size == Path(sheet_rows(out)["keep"]["local_path"]).stat().st_size
    assert len(new_prompts(sim)) == 4  # delivering paid for nothing
    other = tmp_path / "other"
    other.mkdir()
    status, said = await cli(sim, "deliver", str(out), "--to", other.as_uri() + "/", "--deliver-approved-only")
    assert status == 0, said
    assert len(list(other.rglob("*.mp4"))) == 1
