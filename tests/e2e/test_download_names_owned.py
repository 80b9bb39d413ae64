"""A file at a job's download name is its video only when the journal says this
job wrote it (or started to): another campaign's file, or a symlink, is never
adopted, renamed or overwritten; the video goes to a free name and the summary
says why. A crash after the bytes but before the download's record still finds
the job's own file. The CLI in its own process against the simulator on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pandas as pd
import yaml

from conftest import run_cli

#: provider settings for a quick run against the simulator (polls every 0.05 s)
FAST = {"rpm": 6000, "max_in_flight": 10, "poll_interval_s": 0.05, "timeout_s": 2,
        "backoff_base_s": 0.05, "max_attempts": 2, "task_timeout_s": 8, "typical_generation_s": 0.3}


def campaign(folder: Path, name: str) -> Path:
    """A campaign ``name`` of one gccai job called ``hero``, in its own folder."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"providers": {"gccai": FAST}, "jobs": [
        {"name": "hero", "prompt": f"campaign {name}'s hero shot", "provider": "gccai"}]}), encoding="utf-8")
    return path


def row(out: Path) -> dict[str, str]:
    (only,) = pd.read_csv(out, dtype=str, keep_default_na=False).to_dict("records")
    return only


def video_gets(sim) -> int:
    return sum(1 for r in sim.store.requests if r.kind == "video")


def summary(stderr: str) -> str:
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return str(next(e for e in events if e.get("event") == "summary")["message"])


async def run(manifest: Path, videos: Path, sim, *more: str) -> tuple[int, str]:
    return await run_cli(manifest, manifest.with_suffix(".csv"), sim, "--download", str(videos),
                         "--download-name", "{name}.mp4", "--no-canary", "--log-format", "json", *more)


async def test_two_campaigns_sharing_a_download_folder_never_take_each_others_video(tmp_path, sim):
    videos = tmp_path / "videos"
    a, b = campaign(tmp_path / "a", "a"), campaign(tmp_path / "b", "b")
    sim.config.providers["gccai"].black_video_rate = 1.0  # campaign A's clip is black
    assert (await run(a, videos, sim))[0] == 0
    hero = videos / "hero.mp4"
    theirs = hero.read_bytes()
    assert row(a.with_suffix(".csv"))["qa_status"] == "failed"

    sim.config.providers["gccai"].black_video_rate = 0.0
    status, err = await run(b, videos, sim)
    mine = row(b.with_suffix(".csv"))
    assert status == 0, err
    assert video_gets(sim) == 2  # B's own video was fetched
    assert mine["local_path"] == str(videos.resolve() / "hero-2.mp4") and mine["qa_status"] == "passed"
    assert mine["sha256"] == hashlib.sha256((videos / "hero-2.mp4").read_bytes()).hexdigest()
    assert hero.read_bytes() == theirs  # A's file untouched
    assert "1 video under a free name" in summary(err) and "hero.mp4 -> hero-2.mp4" in summary(err)

    status, err = await run(b, videos, sim, "--reroll-qa-failed")  # B's video passed: nothing paid again
    assert status == 0 and len(sim.store.submissions["gccai"]) == 2 and video_gets(sim) == 2
    assert row(b.with_suffix(".csv"))["local_path"] == mine["local_path"]
    assert hero.read_bytes() == theirs and not list(videos.glob("*qa-failed*"))  # A's file not renamed
    assert (await run(a, videos, sim))[0] == 0  # A still finds its own file
    assert row(a.with_suffix(".csv"))["local_path"] == str(hero.resolve()) and video_gets(sim) == 2


async def test_a_symlink_at_the_name_is_never_followed_nor_recorded(tmp_path, sim):
    videos, outside = tmp_path / "videos", tmp_path / "elsewhere" / "precious.mp4"
    outside.parent.mkdir()
    outside.write_bytes(b"not yours")
    videos.mkdir()
    (videos / "hero.mp4").symlink_to(outside)
    b = campaign(tmp_path / "b", "b")
    status, err = await run(b, videos, sim)
    assert status == 0, err
    mine = row(b.with_suffix(".csv"))
    assert mine["local_path"] == str(videos.resolve() / "hero-2.mp4") and video_gets(sim) == 1
    assert (videos / "hero.mp4").readlink() == outside and outside.read_bytes() == b"not yours"


async def test_a_crash_before_the_download_record_still_adopts_only_the_jobs_own_file(tmp_path, sim):
    videos = tmp_path / "videos"
    a = campaign(tmp_path / "a", "a")
    assert (await run(a, videos, sim))[0] == 0
    first = row(a.with_suffix(".csv"))
    journal = f"{a}.journal.sqlite"
    with sqlite3.connect(journal) as db:  # what a kill between the file's rename and its record leaves
        db.execute("DELETE FROM downloads")
    status, err = await run(a, videos, sim)
    assert status == 0 and video_gets(sim) == 1, err  # adopted, not fetched again
    assert row(a.with_suffix(".csv"))["local_path"] == first["local_path"] and "1 already there" in summary(err)

    with sqlite3.connect(journal) as db:  # no record that this job wrote the file: it is not taken
        db.execute("DELETE FROM downloads")
        db.execute("DELETE FROM download_intents")
    status, err = await run(a, videos, sim)
    assert status == 0 and video_gets(sim) == 2, err
    assert row(a.with_suffix(".csv"))["local_path"] == str(videos.resolve() / "hero-2.mp4")
