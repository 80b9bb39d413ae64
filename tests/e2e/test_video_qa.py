"""run --download probes and QAs every saved video: each fault the simulator
injects is named, clean videos pass; ``batch-runner qa`` checks them later."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from batch_runner.app import RunRequest, dry_run_counts, execute
from batch_runner.errors import BudgetError
from batch_runner.output.posters import poster_path
from batch_runner.output.qa_command import qa_results
from batch_runner.simulator.clips import VIDEO_FAULTS, clip

from conftest import ROOT, sim_env

SPEEDUP = 60.0
#: the simulator's fault kind -> the QA problem code that must name it
CODE = {"short": "short_duration", "wrong_resolution": "wrong_resolution", "black": "black",
        "frozen": "frozen", "corrupt": "undecodable"}


async def qa_cli(*args: str) -> tuple[int, str]:
    """``batch-runner qa ARGS`` in its own process: (exit status, stdout and stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "batch_runner", "qa", *args, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    said, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, said.decode()


def results(out: Path) -> pd.DataFrame:
    return pd.read_csv(out, dtype=str, keep_default_na=False)


def faulty_campaign(write, n: int = 36) -> Path:
    """``n`` text-to-video jobs over gccai and minimax, a third of them 1080P."""
    return write("m.yaml", yaml.safe_dump({"jobs": [
        {"name": "clip", "prompt": "a red sneaker on a beach", "provider": "gccai", "variants": n // 3},
        {"name": "tall", "prompt": "a blue sneaker in the rain", "provider": "gccai", "resolution": "1080P",
         "variants": n // 3},
        {"name": "mm", "prompt": "a green sneaker at night", "provider": "minimax", "variants": n // 3},
    ]}))


async def test_qa_names_every_fault_the_simulator_injects_and_passes_every_clean_video(tmp_path, sim, write):
    for provider in sim.config.providers.values():
        for kind in CODE:
            setattr(provider, VIDEO_FAULTS[kind], 0.05)  # about a fifth of the videos spoiled, one way each
    sim.store.rng.seed(4)  # a fault sequence with every kind: 9 of the 36 videos
    out, videos = tmp_path / "results.csv", tmp_path / "videos"
    request = RunRequest(faulty_campaign(write), out, environ=sim_env(sim), speedup=SPEEDUP, quiet=True,
                         download=videos, canary=False)
    await execute(request)
    df = results(out)
    assert set(df["status"]) == {"succeeded"} and len(df) == 36
    faults = sim.store.video_faults
    assert set(faults.values()) == set(CODE), faults  # every kind was injected at least once
    for _, row in df.iterrows():
        fault = faults.get(row["task_id"])
        if fault is None:
            assert (row["qa_status"], row["qa_problems"]) == ("passed", ""), row.to_dict()
        else:
            assert (row["qa_status"], row["qa_problems"]) == ("failed", CODE[fault]), (fault, row.to_dict())
    clean = df[df["qa_status"] == "passed"]
    assert set(clean["video_codec"]) == {"h264"} and set(clean["video_fps"]) == {"2.0"}
    tall = clean[clean["resolution"] == "1080P"]
    assert set(zip(tall["video_width"], tall["video_height"], tall["video_duration_s"], strict=True)) == {
        ("1920", "1080", "6.0")}
    for _, row in clean.iterrows():
        assert poster_path(row["local_path"]).is_file()  # the poster beside each playable video


async def test_summary_counts_qa_failures_and_names_the_provider_that_delivers_1080p_as_768p(
        tmp_path, sim, write, caplog):
    sim.config.providers["gccai"].wrong_resolution_rate = 1.0
    path = write("m.yaml", yaml.safe_dump({"jobs": [
        {"name": "tall", "prompt": "a sneaker", "provider": "gccai", "resolution": "1080P", "variants": 2},
        {"name": "ok", "prompt": "a sneaker", "provider": "apiframe"}]}))
    out = tmp_path / "results.csv"
    request = RunRequest(path, out, environ=sim_env(sim), speedup=SPEEDUP, download=tmp_path / "v", canary=False)
    with caplog.at_level(logging.INFO, logger="batch_runner"):
        await execute(request)
    said = caplog.text
    assert "QA gccai: 2 checked, 2 failed (wrong_resolution 2)" in said
    assert "QA apiframe: 1 checked, 0 failed" in said
    assert "QA gccai delivered 1080P as 768P (2 videos)" in said
    (summary,) = [r for r in caplog.records if getattr(r, "event", "") == "summary"]
    assert (summary.qa_checked, summary.qa_failed) == (3, 2)  # fields of the JSON summary event
    df = results(out).set_index("name")
    assert set(df.loc["tall", "video_height"]) == {"768"}


async def test_image_to_video_first_frame_unlike_the_image_is_a_warning_not_a_failure(tmp_path, sim, write):
    """The simulator's clip opens on a first-frame image sent as a data URI;
    with ``wrong_first_frame_rate`` it does not, which QA only warns about."""
    picture = np.full((768, 1366), 40, np.uint8)
    picture[200:500, 300:900] = 230
    Image.fromarray(picture).convert("RGB").save(tmp_path / "shoe.png")
    sim.config.providers["gccai"].wrong_first_frame_rate = 1.0
    path = write("m.yaml", yaml.safe_dump({"jobs": [
        {"name": "like", "prompt": "the sneaker turns", "provider": "minimax", "image": "shoe.png"},
        {"name": "unlike", "prompt": "the sneaker turns", "provider": "gccai", "image": "shoe.png"}]}))
    out = tmp_path / "results.csv"
    request = RunRequest(path, out, environ=sim_env(sim), speedup=SPEEDUP, quiet=True, download=tmp_path / "v",
                         canary=False)
    assert await execute(request) == 0  # a warning does not fail the run
    df = results(out).set_index("name")
    assert (df.loc["like", "qa_status"], df.loc["like", "qa_problems"]) == ("passed", "")
    assert (df.loc["unlike", "qa_status"], df.loc["unlike", "qa_problems"]) == ("warning", "first_frame_mismatch")


async def test_qa_command_checks_saved_videos_again_with_new_thresholds(tmp_path, sim, write):
    sim.config.providers["gccai"].short_video_rate = 1.0  # 3 s instead of 6
    path = write("m.yaml", yaml.safe_dump({"jobs": [{"name": "a", "prompt": "p", "provider": "gccai",
                                                     "variants": 2}]}))
    out = tmp_path / "m.yaml.results.csv"
    request = RunRequest(path, out, environ=sim_env(sim), speedup=SPEEDUP, quiet=True, download=tmp_path / "v",
                         canary=False)
    await execute(request)
    assert set(results(out)["qa_problems"]) == {"short_duration"}
    lenient = write("qa.yaml", yaml.safe_dump({"qa": {"duration_tolerance_s": 4}}))
    code, said = await qa_cli(str(out), "--settings", str(lenient))
    assert code == 0, said
    assert "2 videos checked, 0 failed QA" in said
    df = results(out)
    assert set(df["qa_status"]) == {"passed"} and set(df["in_manifest"]) == {"yes"}  # rewritten, columns kept
    again = await qa_results(out, overrides={"duration_tolerance_s": 0.5})  # the default again
    assert again.checked == 2 and len(again.failed) == 2 and "2 failed QA" in again.lines[0]
    assert set(results(out)["qa_problems"]) == {"short_duration"}


async def test_qa_command_on_results_without_downloads_says_so_in_one_line(tmp_path, sim, write):
    path = write("m.yaml", yaml.safe_dump({"jobs": [{"name": "a", "prompt": "p", "provider": "gccai"}]}))
    out = tmp_path / "m.yaml.results.csv"
    await execute(RunRequest(path, out, environ=sim_env(sim), speedup=SPEEDUP, quiet=True, canary=False))
    assert results(out)["qa_status"].tolist() == ["skipped"]  # succeeded, not downloaded
    code, said = await qa_cli(str(out))
    assert code == 2
    assert said.strip().splitlines() == [
        f"{out}: no saved videos to check (none of its 1 job was downloaded): run it with --download DIR first"]


async def test_qa_results_finds_the_journal_beside_the_manifest(tmp_path, sim, write):
    path = write("m.yaml", yaml.safe_dump({"jobs": [{"name": "a", "prompt": "p", "provider": "apiframe"}]}))
    out = tmp_path / "elsewhere.csv"  # not the default name: the one journal in the folder holding its jobs
    await execute(RunRequest(path, out, environ=sim_env(sim), speedup=SPEEDUP, quiet=True, download=tmp_path / "v",
                             canary=False))
    done = await qa_results(out)
    assert done.checked == 1 and not done.failed and str(tmp_path / "m.yaml.journal.sqlite") in done.lines[0]


def test_simulator_clips_cost_little_to_make():
    """Each variant is encoded once (cached): well under a second, tens of KB."""
    import time

    started = time.perf_counter()
    data = clip(1366, 768, 10, "frozen")
    assert time.perf_counter() - started < 3.0 and len(data) < 200_000
    assert clip(1366, 768, 10, "frozen") is data


def reroll_campaign(write) -> Path:
    return write("m.yaml", yaml.safe_dump({"jobs": [
        {"name": "g", "prompt": "a sneaker", "provider": "gccai", "variants": 2},
        {"name": "a", "prompt": "a sneaker", "provider": "apiframe", "variants": 2}]}))


async def test_reroll_submits_only_qa_failed_jobs_once_as_a_new_generation(tmp_path, sim, write, caplog):
    sim.config.providers["gccai"].black_video_rate = 1.0  # both gccai videos black, apiframe's fine
    out, videos = tmp_path / "results.csv", tmp_path / "v"

    def request(**more) -> RunRequest:
        return RunRequest(reroll_campaign(write), out, environ=sim_env(sim), speedup=SPEEDUP, quiet=True,
                          download=videos, canary=False, **more)

    def submits() -> dict[str, int]:
        return {p: len(sim.store.submissions[p]) for p in ("gccai", "apiframe")}

    await execute(request())
    first = results(out).set_index("job_id")
    assert sorted(first["qa_status"]) == ["failed", "failed", "passed", "passed"]
    await execute(request())  # no flag: a QA failure is never paid for again
    assert submits() == {"gccai": 2, "apiframe": 2}

    assert dry_run_counts(request(reroll_qa_failed=True))["reroll"] == 2  # what would be paid again
    sim.config.providers["gccai"].black_video_rate = 0.0
    with caplog.at_level(logging.INFO, logger="batch_runner"):
        await execute(request(reroll_qa_failed=True))
    assert submits() == {"gccai": 4, "apiframe": 2}  # only the two QA-failed jobs, once each
    assert "re-rolled 2 QA-failed videos" in caplog.text
    df = results(out).set_index("job_id")
    assert set(df["qa_status"]) == {"passed"}
    g = df[df["provider"] == "gccai"]
    assert all(g["task_id"] != first.loc[g.index, "task_id"])  # new tasks
    kept = sorted(p.name for p in videos.iterdir() if ".qa-failed-" in p.name)
    assert len(kept) == 2 and all(n.endswith(".qa-failed-1.mp4") for n in kept)  # the paid-for black videos

    await execute(request(reroll_qa_failed=True))  # everything passed now: nothing to re-roll
    assert submits() == {"gccai": 4, "apiframe": 2}


async def test_a_job_is_rerolled_at_most_max_rerolls_times(tmp_path, sim, write):
    sim.config.providers["gccai"].frozen_video_rate = 1.0  # every gccai video frozen, re-rolls too
    out = tmp_path / "results.csv"
    path = write("m.yaml", yaml.safe_dump({"jobs": [{"name": "g", "prompt": "p", "provider": "gccai"}]}))

    def request(**more) -> RunRequest:
        return RunRequest(path, out, environ=sim_env(sim), speedup=SPEEDUP, quiet=True, download=tmp_path / "v",
                          canary=False, **more)

    await execute(request())
    await execute(request(reroll_qa_failed=True))
    await execute(request(reroll_qa_failed=True))  # the re-roll failed QA too: not again by default
    assert len(sim.store.submissions["gccai"]) == 2
    await execute(request(reroll_qa_failed=True, max_rerolls=2))
    assert len(sim.store.submissions["gccai"]) == 3
    assert results(out)["qa_problems"].tolist() == ["frozen"]


async def test_rerolls_count_against_max_cost(tmp_path, sim, write, caplog):
    sim.config.providers["gccai"].black_video_rate = 1.0
    out = tmp_path / "results.csv"
    path = write("m.yaml", yaml.safe_dump({"jobs": [{"name": "g", "prompt": "p", "provider": "gccai", "variants": 2}]}))

    def request(**more) -> RunRequest:
        return RunRequest(path, out, environ=sim_env(sim), speedup=SPEEDUP, quiet=True,
                          download=tmp_path / "v", canary=False, **more)

    await execute(request())
    spent = results(out).query("provider == 'gccai'")["cost_usd"].astype(float).sum()
    with pytest.raises(BudgetError):  # what was spent, plus two re-rolls, is over the cap: nothing sent
        await execute(request(reroll_qa_failed=True, max_cost=spent * 1.5))
    assert len(sim.store.submissions["gccai"]) == 2
    sim.config.providers["gccai"].black_video_rate = 0.0
    assert await execute(request(reroll_qa_failed=True, max_cost=spent * 2.01)) == 0
    assert len(sim.store.submissions["gccai"]) == 4
    with caplog.at_level(logging.INFO, logger="batch_runner"):  # later runs still count the replaced videos
        await execute(request(max_cost=100.0))
    assert f"budget: ${2 * spent:.2f} spent" in caplog.text


def test_run_takes_the_reroll_options_and_refuses_zero_rerolls(cli, write, tmp_path):
    path = write("m.yaml", yaml.safe_dump({"jobs": [{"name": "a", "prompt": "p", "provider": "gccai"}]}))
    out, videos = tmp_path / "r.csv", tmp_path / "v"
    ok = cli("run", path, "--simulate", "--quiet", "--no-canary", "-o", out, "--download", videos,
             "--reroll-qa-failed", "--max-rerolls", "2")
    assert ok.exit_code == 0, ok.output
    assert results(out)["qa_status"].tolist() == ["passed"]
    bad = cli("run", path, "--simulate", "--quiet", "-o", out, "--reroll-qa-failed", "--max-rerolls", "0")
    assert bad.exit_code == 2 and "--max-rerolls" in bad.output


async def test_the_manifest_qa_section_sets_the_thresholds_and_a_bad_one_is_refused(tmp_path, sim, write, cli):
    sim.config.providers["gccai"].short_video_rate = 1.0
    path = write("m.yaml", yaml.safe_dump({"qa": {"duration_tolerance_s": 3.5},
                                           "jobs": [{"name": "a", "prompt": "p", "provider": "gccai"}]}))
    out = tmp_path / "r.csv"
    await execute(RunRequest(path, out, environ=sim_env(sim), speedup=SPEEDUP, quiet=True, download=tmp_path / "v",
                             canary=False))
    assert results(out)["qa_status"].tolist() == ["passed"]  # 3 s of 6, within 3.5 s
    later = await qa_results(out)  # checked again later: with the thresholds the run used
    assert later.checked == 1 and not later.failed
    bad = write("bad.yaml", yaml.safe_dump({"qa": {"black_max_luma": -1, "frozen": 3},
                                            "jobs": [{"name": "a", "prompt": "p", "provider": "gccai"}]}))
    said = cli("validate", bad)
    assert said.exit_code == 2 and "qa" in said.output and "black_max_luma" in said.output, said.output
