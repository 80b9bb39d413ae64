"""Every paid attempt counts: a re-rolled job's first task stays in the journal's
``attempts`` and in every total (run summary, JSON summary, workbook Summary
sheet, report, --max-cost), its task id in the results (``earlier_task_ids``);
an unknown price is never shown as $0.00. The CLI in its own process against
the simulator on 127.0.0.1."""

from __future__ import annotations

import json
import sqlite3

import pandas as pd
import pytest
import yaml
from openpyxl import load_workbook

from conftest import run_cli

#: provider settings for a quick run against the simulator (polls every 0.05 s)
FAST = {"rpm": 6000, "max_in_flight": 10, "poll_interval_s": 0.05, "timeout_s": 2,
        "backoff_base_s": 0.05, "max_attempts": 2, "task_timeout_s": 8, "typical_generation_s": 0.3}


def results(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def summary_event(stderr: str) -> dict:
    """The ``summary`` event of a run with ``--log-format json``."""
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return next(e for e in events if e.get("event") == "summary")


async def test_a_reroll_keeps_the_first_paid_attempts_in_every_total_and_their_task_ids(tmp_path, sim, write):
    sim.config.providers["gccai"].black_video_rate = 1.0  # every first video black: QA fails
    manifest = write("m.yaml", yaml.safe_dump({"providers": {"gccai": FAST}, "jobs": [
        {"name": "g", "prompt": "a sneaker", "provider": "gccai", "variants": 4}]}))
    out, videos = tmp_path / "results.csv", tmp_path / "v"
    common = ("--download", str(videos), "--no-canary", "--log-format", "json")
    status, _ = await run_cli(manifest, out, sim, *common)
    first = results(out).set_index("job_id")
    assert status == 0 and set(first["qa_status"]) == {"failed"}
    one_run = first["cost_usd"].astype(float).sum()

    sim.config.providers["gccai"].black_video_rate = 0.0
    book, report = tmp_path / "results.xlsx", tmp_path / "report.html"
    status, err = await run_cli(manifest, book, sim, *common, "--reroll-qa-failed", "--report", str(report))
    assert status == 0, err
    assert len(sim.store.submissions["gccai"]) == 8
    total = summary_event(err)["cost_total"]
    assert total["usd"] == pytest.approx(2 * one_run) and total["videos"] == 4
    assert f"${2 * one_run:.2f}" in summary_event(err)["message"]  # the run summary's text
    sheet = load_workbook(book)["Summary"]
    header = [c.value for c in sheet[1]]
    all_row = [c.value for c in sheet[sheet.max_row]]
    assert all_row[0] == "all" and all_row[header.index("cost USD")] == pytest.approx(2 * one_run)
    assert f"${2 * one_run:.2f}" in report.read_text(encoding="utf-8")

    status, err = await run_cli(manifest, out, sim, *common)  # nothing sent: the results rebuilt from the journal
    assert status == 0 and len(sim.store.submissions["gccai"]) == 8
    assert summary_event(err)["cost_total"]["usd"] == pytest.approx(2 * one_run)
    again = results(out).set_index("job_id")
    assert len(again) == 4  # one row per job
    for job_id, row in again.iterrows():
        assert row["earlier_task_ids"] == first.loc[job_id, "task_id"] != row["task_id"]
        assert (row["attempts"], row["paid_attempts"]) == ("2", "2")
        assert float(row["cost_all_attempts"]) == pytest.approx(2 * float(row["cost_usd"]))
    with sqlite3.connect(f"{manifest}.journal.sqlite") as db:
        kept = {r[0] for r in db.execute("SELECT task_id FROM attempts WHERE paid = 1")}
    assert kept == set(first["task_id"])  # each first paid task is a row of its own

    status, err = await run_cli(manifest, out, sim, *common, "--max-cost", "100")  # the cap counts them too
    assert f"budget: ${2 * one_run:.2f} spent" in summary_event(err)["message"]


async def test_an_unknown_price_is_never_shown_as_zero(tmp_path, sim, write):
    manifest = write("m.yaml", yaml.safe_dump({"providers": {"gptge": FAST}, "jobs": [
        {"name": "x", "prompt": "a sneaker", "provider": "gptge", "variants": 2}]}))  # gptge publishes no price
    book, report = tmp_path / "results.xlsx", tmp_path / "report.html"
    status, err = await run_cli(manifest, book, sim, "--no-canary", "--log-format", "json", "--report", str(report))
    assert status == 0, err
    event = summary_event(err)
    assert event["cost_total"]["usd"] is None and "$0.00" not in event["message"]
    assert "gptge: 2 videos, USD unknown" in event["message"]
    sheet = load_workbook(book)["Summary"]
    header = [c.value for c in sheet[1]]
    cost = [row[header.index("cost USD")].value for row in sheet.iter_rows(min_row=2)]
    assert cost == ["unknown", "unknown"]  # gptge, then all
    assert "$0.00" not in report.read_text(encoding="utf-8")

    edited = yaml.safe_dump({"providers": {"gptge": FAST}, "jobs": [{"name": "x", "prompt": "a boot",
                                                                     "provider": "gptge"}]})
    manifest.write_text(edited, encoding="utf-8")  # both rows replaced: their paid tasks are still spent
    status, err = await run_cli(manifest, tmp_path / "r.csv", sim, "--no-canary", "--log-format", "json")
    message = summary_event(err)["message"]
    assert "not in the manifest any more" in message and "$0.00" not in message, message
    assert "USD unknown" in message


async def test_a_shared_postgresql_journal_keeps_the_rerolled_attempts_too(tmp_path, sim, write, pg_url):
    sim.config.providers["gccai"].black_video_rate = 1.0
    manifest = write("pg.yaml", yaml.safe_dump({"providers": {"gccai": FAST}, "jobs": [
        {"name": "g", "prompt": "a sneaker", "provider": "gccai", "variants": 2}]}))
    out = tmp_path / "results.csv"
    common = ("--journal", pg_url, "--campaign", "reroll-pg", "--download", str(tmp_path / "v"), "--no-canary",
              "--log-format", "json")
    assert (await run_cli(manifest, out, sim, *common))[0] == 0
    first = results(out).set_index("job_id")
    sim.config.providers["gccai"].black_video_rate = 0.0
    status, err = await run_cli(manifest, out, sim, *common, "--reroll-qa-failed")
    assert status == 0, err
    again = results(out).set_index("job_id")
    assert len(sim.store.submissions["gccai"]) == 4, summary_event(err)["message"]
    assert list(again["earlier_task_ids"]) == list(first["task_id"]), (again.to_dict("records"), err[-3000:])
    assert summary_event(err)["cost_total"]["usd"] == pytest.approx(2 * first["cost_usd"].astype(float).sum())


async def test_a_paid_failure_sent_again_keeps_its_charge_in_the_totals(tmp_path, sim, write, monkeypatch, caplog):
    """A provider that bills failed tasks: the failed task's charge stays counted
    after --retry-failed=all replaces it with a video (in-process, as the
    provider facts are patched)."""
    import dataclasses
    import logging

    from batch_runner.app import RunRequest, execute
    from batch_runner.catalog.facts import catalog

    from conftest import sim_env

    monkeypatch.setitem(catalog(), "gccai", dataclasses.replace(catalog()["gccai"], charges_failed=True))
    sim.config.providers["gccai"].fail_rate = 1.0
    manifest = write("m.yaml", yaml.safe_dump({"providers": {"gccai": FAST}, "jobs": [
        {"name": "g", "prompt": "a sneaker", "provider": "gccai"}]}))
    out = tmp_path / "results.csv"

    def request(**more) -> RunRequest:
        return RunRequest(manifest, out, environ=sim_env(sim), quiet=True, canary=False, **more)

    assert await execute(request()) == 1
    (failed,) = results(out).to_dict("records")
    assert failed["status"] == "failed" and failed["paid_attempts"] == "1", failed
    sim.config.providers["gccai"].fail_rate = 0.0
    with caplog.at_level(logging.INFO, logger="batch_runner"):
        assert await execute(request(retry_failed=True, retry_all_failed=True)) == 0
    (row,) = results(out).to_dict("records")
    price = float(failed["cost_usd"])
    assert row["status"] == "succeeded" and row["earlier_task_ids"] == failed["task_id"] != row["task_id"]
    assert row["paid_attempts"] == "2" and float(row["cost_all_attempts"]) == pytest.approx(2 * price)
    assert f"gccai: 1 video, ${2 * price:.2f}" in caplog.text
