"""A paid video is never lost to an expired link: a download that meets an
expired URL asks the provider for a fresh one (free) and goes on.

MiniMax's ``download_url`` is "valid 1 hour" (https://github.com/MiniMax-AI/skills,
skills/frontend-dev/references/minimax-video-guide.md); the simulator signs it
and answers 403 after ``url_ttl_s`` (here scaled down to 0.3 s)."""

from __future__ import annotations

import asyncio
import logging

import pandas as pd
import yaml

from batch_runner.app import RunRequest, execute
from batch_runner.journal import Journal

from conftest import sim_env

SPEEDUP = 60.0


def count(sim, provider: str, kind: str) -> int:
    return sum(1 for r in sim.store.requests if r.provider == provider and r.kind == kind)


async def test_minimax_video_saved_after_its_url_expired_with_one_free_retrieve_and_no_new_submit(
        tmp_path, sim, write, caplog):
    sim.config.url_ttl_s["minimax"] = 0.3
    path = write("m.yaml", yaml.safe_dump({"jobs": [{"name": "lake", "prompt": "a calm lake", "provider": "minimax"}]}))
    out, videos = tmp_path / "results.csv", tmp_path / "videos"
    caplog.set_level(logging.INFO)
    first = RunRequest(path, out, environ=sim_env(sim), speedup=SPEEDUP, quiet=True, canary=False)
    assert await execute(first) == 0
    summary = "\n".join(r.getMessage() for r in caplog.records if "video URL" in r.getMessage())
    assert "1 minimax video URL expires in 60 min" in summary and "run --download DIR" in summary  # the warning
    journal = Journal(path.with_name("m.yaml.journal.sqlite"))
    (record,) = journal.records()
    assert record.file_id and record.file_id.isdigit()  # kept: files/retrieve turns it into a fresh URL
    old_url = record.video_url
    journal.close()
    await asyncio.sleep(0.5)  # the signed URL is past its time: 403
    assert count(sim, "minimax", "video") == 0
    submits, retrieves = count(sim, "minimax", "submit"), count(sim, "minimax", "retrieve")

    later = RunRequest(path, out, environ=sim_env(sim), speedup=SPEEDUP, quiet=True, canary=False, download=videos)
    assert await execute(later) == 0
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    (saved,) = [p for p in videos.iterdir() if p.suffix == ".mp4"]
    assert df.loc[0, "local_path"] == str(saved.resolve()) and saved.read_bytes()[4:8] == b"ftyp"
    assert count(sim, "minimax", "submit") == submits  # no new submit: nothing paid twice
    assert count(sim, "minimax", "retrieve") == retrieves + 1  # one free files/retrieve
    statuses = [r.http_status for r in sim.store.requests if r.provider == "minimax" and r.kind == "video"]
    assert statuses == [403, 200]  # the old signed URL refused, the fresh one served
    assert df.loc[0, "video_url"] != old_url  # the results name the fresh URL
    assert "(1 expired URL asked again of the provider, free)" in caplog.text


async def test_an_expired_url_is_refreshed_before_the_first_byte_when_the_journal_says_so(tmp_path, sim, write):
    """A URL the journal knows has expired is not tried: the fresh one is fetched at once."""
    path = write("m.yaml", yaml.safe_dump({"jobs": [{"name": "lake", "prompt": "a calm lake", "provider": "gccai"}]}))
    out = tmp_path / "results.csv"
    assert await execute(RunRequest(path, out, environ=sim_env(sim), speedup=SPEEDUP, quiet=True,
                                    canary=False)) == 0
    journal = Journal(path.with_name("m.yaml.journal.sqlite"))
    (record,) = journal.records()
    journal.record_url(record.job_id, record.video_url or "", 1.0)  # recorded as long expired
    journal.close()
    polls = count(sim, "gccai", "poll")
    assert await execute(RunRequest(path, out, environ=sim_env(sim), speedup=SPEEDUP, quiet=True,
                                    canary=False, download=tmp_path / "videos")) == 0
    assert count(sim, "gccai", "poll") == polls + 1  # the task status read again (free)
    assert [r.http_status for r in sim.store.requests if r.provider == "gccai" and r.kind == "video"] == [200]


async def test_apiframe_purged_video_stays_a_clear_final_failure(tmp_path, sim, write, caplog):
    """apiframe ``expired``: the job answers again, but its assets are gone: the
    download fails saying so, after one free status read, with no new submit."""
    path = write("m.yaml", yaml.safe_dump({"jobs": [{"name": "lake", "prompt": "a calm lake",
                                                      "provider": "apiframe"}]}))
    out = tmp_path / "results.csv"
    assert await execute(RunRequest(path, out, environ=sim_env(sim), speedup=SPEEDUP, quiet=True,
                                    canary=False)) == 0
    sim.config.providers["apiframe"].answer_variant = "expired"
    for task in sim.store.tasks.values():
        task.meta["purged"] = True
    submits = count(sim, "apiframe", "submit")
    assert await execute(RunRequest(path, out, environ=sim_env(sim), speedup=SPEEDUP, quiet=True,
                                    canary=False, download=tmp_path / "videos")) == 1
    said = [r.getMessage() for r in caplog.records if "not saved" in r.getMessage()]
    assert len(said) == 1 and "purged" in said[0], said
    assert count(sim, "apiframe", "submit") == submits
