"""MiniMax V2 (H3, H3-Max) through the CLI against the simulator over HTTP: an H3
campaign with a first and last frame, a reference image, 2K and a new duration,
downloaded and QA-checked; the plan and the report with the new models; a task
cancelled while queued (its job ends ``cancelled``, its task is never polled
again, not billed); a running task's cancel refused with the provider's answer."""

from __future__ import annotations

import json
import shutil
import time

import pandas as pd
import yaml

from batch_runner.journal import JobStatus, Journal

from conftest import ROOT, sim_env

FAST = {"rpm": 6000, "max_in_flight": 10, "poll_interval_s": 0.05, "typical_generation_s": 0.2}
JOBS = [
    {"name": "h3-2k-text", "provider": "minimax_v2", "model": "h3", "resolution": "2K", "duration": 8,
     "prompt": "A lighthouse by the sea at dusk, slow dolly in"},
    {"name": "h3-first-last", "provider": "minimax_v2", "model": "h3", "image": "shoe.png", "end_image": "shoe.png",
     "duration": 5, "prompt": "the sneaker lands where it began"},
    {"name": "h3-reference", "provider": "minimax_v2", "model": "h3", "reference_image": "shoe.png",
     "duration": 4, "prompt": "the sneaker of <Image 1> on a running track"},
    {"name": "h3-max-480", "provider": "minimax_v2", "model": "h3-max", "resolution": "480P", "duration": 5,
     "prompt": "a quick preview of a trail at dawn"},
]


def manifest(tmp_path, jobs=JOBS, settings=FAST):
    shutil.copy(ROOT / "manifests" / "images" / "trail-runner.png", tmp_path / "shoe.png")
    path = tmp_path / "m.yaml"
    providers = {p: dict(settings) for p in ("minimax_v2", "gccai")}
    path.write_text(yaml.safe_dump({"providers": providers, "jobs": jobs}), encoding="utf-8")
    return path


def test_an_h3_campaign_runs_through_the_pipeline_with_frames_references_2k_and_qa(cli, tmp_path, threaded_sim):
    sim, out, videos = threaded_sim, tmp_path / "results.csv", tmp_path / "videos"
    report = tmp_path / "report.html"
    result = cli("run", manifest(tmp_path), "-o", out, "--quiet", "--download", videos, "--report", report,
                 env=sim_env(sim))
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("name")
    assert set(df["status"]) == {"succeeded"}
    assert set(df["qa_status"]) == {"passed"}, df[["qa_status", "qa_problems"]]
    assert df.loc["h3-2k-text", "video_width"] == "2560" and df.loc["h3-2k-text", "video_height"] == "1440"
    assert float(df.loc["h3-2k-text", "cost_usd"]) == 1.04  # 8 s x $0.13 at 2K
    assert float(df.loc["h3-reference", "cost_usd"]) == 0.32  # 4 s x $0.08 at 768P
    assert df.loc["h3-max-480", "cost_usd"] == ""  # no published price: unknown, never 0
    bodies = {b["content"][0]["text"]: b for b in (s.body for s in sim.store.submissions["minimax_v2"])}
    text = bodies["A lighthouse by the sea at dusk, slow dolly in"]
    assert (text["model"], text["resolution"], text["duration"], text["ratio"]) == ("MiniMax-H3", "2K", 8, "16:9")
    frames = bodies["the sneaker lands where it began"]["content"][1:]
    assert [p["role"] for p in frames] == ["first_frame", "last_frame"]
    assert frames[0]["image_url"]["url"].startswith("data:image/png;base64,")
    (ref,) = bodies["the sneaker of <Image 1> on a running track"]["content"][1:]
    assert ref["role"] == "reference_image" and ref["type"] == "image_url"
    assert bodies["a quick preview of a trail at dawn"]["model"] == "MiniMax-H3-Max"
    assert len(list(videos.glob("*.mp4"))) == 4
    html = report.read_text(encoding="utf-8")
    assert "minimax_v2 · h3 2K 8 s · $1.04" in html and "minimax_v2 · h3-max 480P 5 s · price unknown" in html


def test_the_plan_prices_h3_and_shows_h3_max_as_unknown(cli, tmp_path):
    result = cli("plan", manifest(tmp_path), "--simulate", "--format", "json")
    assert result.exit_code == 0, result.output
    (plan,) = json.loads(result.stdout)["providers"]
    assert plan["provider"] == "minimax_v2" and plan["jobs"] == 4 and plan["usd_unknown_jobs"] == 1
    assert abs(plan["usd"] - (8 * 0.13 + 5 * 0.08 + 4 * 0.08)) < 1e-9


def test_h3_refuses_what_its_tables_do_not_sell_before_any_request(cli, tmp_path):
    jobs = [{"name": "a", "provider": "minimax_v2", "model": "h3", "resolution": "1080P", "prompt": "x"},
            {"name": "b", "provider": "minimax_v2", "model": "h3-max", "resolution": "2K", "prompt": "x"},
            {"name": "c", "provider": "minimax_v2", "model": "h3-max", "reference_image": "shoe.png", "prompt": "x"},
            {"name": "d", "provider": "minimax", "model": "h3", "prompt": "x"},
            {"name": "e", "provider": "minimax_v2", "model": "h3", "image": "shoe.png",
             "reference_image": "shoe.png", "prompt": "x"},
            {"name": "f", "provider": "minimax_v2", "model": "h3", "duration": 3, "prompt": "x"}]
    result = cli("validate", manifest(tmp_path, jobs), "--simulate")
    assert result.exit_code != 0
    text = result.output
    assert "1080P with 6 s is not offered by minimax_v2 for h3" in text
    assert "2K with 6 s is not offered by minimax_v2 for h3-max" in text
    assert "minimax_v2 takes no reference_image for h3-max" in text
    assert "minimax does not sell h3" in text and "providers that can: minimax_v2" in text
    assert "cannot be mixed with a first or last frame" in text
    assert "duration" in text and "3" in text


def _journal(tmp_path):
    return tmp_path / "m.yaml.journal.sqlite"


def test_a_queued_task_is_cancelled_its_job_ends_cancelled_and_is_never_polled_again(cli, tmp_path, threaded_sim):
    sim = threaded_sim
    sim.config.providers["minimax_v2"].generation_s = 600  # queued for its first 120 s
    jobs = [*JOBS[:1], {"name": "hailuo", "provider": "gccai", "prompt": "a calm lake"}]
    m = manifest(tmp_path, jobs, {**FAST, "task_timeout_s": 0.3})  # the run gives up; the task stays queued
    sim.config.providers["gccai"].generation_s = 600
    env = sim_env(sim)
    first = cli("run", m, "--quiet", env=env)  # results beside the manifest: m.yaml.results.csv
    assert first.exit_code != 0  # both jobs timed out: their task ids are kept
    (task,) = [s.task_id for s in sim.store.submissions["minimax_v2"]]
    result = cli("cancel", m, "--all-queued", env=env)
    assert result.exit_code == 0, result.output
    assert f"task {task}: cancelled while queued (not billed)" in result.output
    assert "gccai" in result.output and "this provider cannot cancel a task" in result.output
    assert "1 of 2 task(s) cancelled" in result.output
    default_results = pd.read_csv(tmp_path / "m.yaml.results.csv", dtype=str, keep_default_na=False)
    assert dict(zip(default_results["provider"], default_results["status"], strict=True)) == {
        "minimax_v2": "cancelled", "gccai": "failed"}  # rewritten at once
    with Journal(_journal(tmp_path), lock=False) as journal:
        statuses = {r.provider: r for r in journal.records()}
    assert statuses["minimax_v2"].status == JobStatus.CANCELLED and not statuses["minimax_v2"].charged
    assert statuses["gccai"].status == JobStatus.FAILED  # left as it was
    polled = sim.store.polls_for(task)
    again = cli("run", m, "-o", tmp_path / "r.csv", "--quiet", env=env)
    assert again.exit_code != 0  # the gccai job is still a timeout
    assert sim.store.polls_for(task) == polled  # a cancelled job is never polled again
    assert len(sim.store.submissions["minimax_v2"]) == 1  # nor submitted again
    df = pd.read_csv(tmp_path / "r.csv", dtype=str, keep_default_na=False).set_index("name")
    assert df.loc["h3-2k-text", "status"] == "cancelled" and df.loc["h3-2k-text", "cost_usd"] == ""
    assert df.loc["h3-2k-text", "error_code"] == "cancelled"


def test_a_running_task_cannot_be_cancelled_and_the_provider_says_why(cli, tmp_path, threaded_sim):
    sim = threaded_sim
    sim.config.providers["minimax_v2"].generation_s = 2.0  # queued 0.4 s, then running
    m = manifest(tmp_path, JOBS[:1], {**FAST, "task_timeout_s": 0.5})
    env = sim_env(sim)
    cli("run", m, "-o", tmp_path / "r.csv", "--quiet", env=env)
    (task,) = [s.task_id for s in sim.store.submissions["minimax_v2"]]
    time.sleep(0.6)  # past the queued first fifth of its 2 s
    result = cli("cancel", m, "--rows", "1-999", env=env)
    assert result.exit_code == 0, result.output
    assert (f"task {task}: not cancelled: minimax_v2 answered: "
            "task is running and cannot be cancelled or deleted (2013)") in result.output
    assert "0 of 1 task(s) cancelled" in result.output
    with Journal(_journal(tmp_path), lock=False) as journal:
        (record,) = journal.records()
    assert record.status != JobStatus.CANCELLED


def test_cancel_replaced_cancels_an_edited_rows_queued_task_instead_of_paying_it(cli, tmp_path, threaded_sim):
    sim = threaded_sim
    sim.config.providers["minimax_v2"].generation_s = 600  # queued for its first 120 s
    settings = {**FAST, "task_timeout_s": 0.3}
    env = sim_env(sim)
    cli("run", manifest(tmp_path, JOBS[:1], settings), "-o", tmp_path / "r.csv", "--quiet", env=env)
    (old,) = [s.task_id for s in sim.store.submissions["minimax_v2"]]
    edited = [{**JOBS[0], "prompt": "A lighthouse by the sea at dawn, slow dolly in"}]
    m = manifest(tmp_path, edited, settings)
    kept = cli("run", m, "-o", tmp_path / "r.csv", "--quiet", env=env)  # without the flag: followed, not cancelled
    assert "cancel" not in {r.kind for r in sim.store.requests}
    assert "polled to their end" in kept.output or sim.store.polls_for(old) >= 2
    cli("run", m, "-o", tmp_path / "r.csv", "--quiet", "--cancel-replaced", env=env)
    assert [(r.kind, r.accepted) for r in sim.store.requests if r.kind == "cancel"] == [("cancel", True)]
    assert sim.store.tasks[old].meta.get("cancelled")
    with Journal(_journal(tmp_path), lock=False) as journal:
        by_task = {r.task_id: r for r in journal.records()}
    assert by_task[old].status == JobStatus.CANCELLED and not by_task[old].charged
    assert len(sim.store.submissions["minimax_v2"]) == 2  # the edited row's own task


async def test_a_stopped_run_names_the_command_that_cancels_its_queued_tasks(tmp_path):
    import asyncio
    import os
    import signal
    import sys

    from batch_runner.simulator import ProviderSimConfig, SimConfig, running_simulator

    from conftest import PROVIDERS

    config = SimConfig(providers={p: ProviderSimConfig(generation_s=600) for p in PROVIDERS})
    async with running_simulator(config) as sim:
        m = manifest(tmp_path, JOBS[:2], {**FAST, "poll_interval_s": 0.2})
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "batch_runner", "run", str(m), "--quiet", "--no-canary",
            env={**os.environ, **sim_env(sim), "PYTHONPATH": str(ROOT)}, cwd=str(ROOT),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        for _ in range(200):
            if len(sim.store.submissions["minimax_v2"]) == 2:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # both task ids recorded
        proc.send_signal(signal.SIGINT)
        await asyncio.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 130, err.decode()
        text = err.decode()
        assert "2 task(s) in flight on minimax_v2 can be cancelled while still queued (not billed): " \
               f"batch-runner cancel {m} --all-queued" in text
