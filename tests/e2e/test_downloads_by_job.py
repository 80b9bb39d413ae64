"""run --download finds a job's saved video by job, not by name: a new --download-name
renames it, a new folder gets a copy, an expired URL does no harm while the file is
there, and a file that is gone with its URL expired is a clear failure. Through
app.execute against the simulator on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from pathlib import Path

import aiohttp
import pandas as pd
import pytest
import yaml

from batch_runner.app import RunRequest, execute

from conftest import sim_env

SPEEDUP = 60.0


@pytest.fixture
def campaign(tmp_path, write, sim):
    """Two gccai jobs with a ``sku`` column; returns the RunRequest of a run that
    saves their videos in ``tmp_path/videos`` under the default names."""
    path = write("c.yaml", yaml.safe_dump({"jobs": [
        {"name": "hero", "sku": "TR-100", "prompt": "a calm lake", "provider": "gccai"},
        {"name": "city", "sku": "TR-200", "prompt": "a rainy street", "provider": "gccai"},
    ]}))
    return RunRequest(path, tmp_path / "results.csv", environ=sim_env(sim), speedup=SPEEDUP, quiet=True,
                      download=tmp_path / "videos", canary=False)


def video_gets(sim) -> int:
    """Requests that reached the simulator's video route."""
    return sum(1 for r in sim.store.requests if r.kind == "video")


def results(request: RunRequest) -> pd.DataFrame:
    return pd.read_csv(request.output, dtype=str, keep_default_na=False).set_index("sku")


def journal_downloads(request: RunRequest) -> dict[str, tuple[str, int, str]]:
    """job_id -> (local_path, bytes, sha256) from the journal's downloads table."""
    with sqlite3.connect(f"{request.manifest}.journal.sqlite") as db:
        rows = db.execute("SELECT job_id, local_path, bytes, sha256 FROM downloads").fetchall()
    return {job_id: (path, n, sha) for job_id, path, n, sha in rows}


def names(folder: Path, suffix: str = ".mp4") -> list[str]:
    """The saved videos in ``folder`` (``suffix=".jpg"``: their posters)."""
    return sorted(p.name for p in folder.iterdir() if p.suffix == suffix)


async def first_run(sim, request: RunRequest) -> pd.DataFrame:
    assert await execute(request) == 0
    assert video_gets(sim) == 2
    return results(request)


async def expire_urls(sim, df: pd.DataFrame) -> None:
    """Make every gccai video URL expired, and check the simulator refuses them now."""
    sim.config.url_ttl_s["gccai"] = 0.0
    async with aiohttp.ClientSession() as http:
        for url in df["video_url"]:
            async with http.get(url) as resp:
                assert resp.status == 404


def failures(caplog) -> dict[str, str]:
    return {r.job_id: r.getMessage() for r in caplog.records if getattr(r, "event", "") == "download_failed"}


async def test_a_new_download_name_renames_the_saved_files_without_a_request(sim, campaign, caplog):
    before = await first_run(sim, campaign)
    videos = campaign.download
    data = {sku: Path(p).read_bytes() for sku, p in before["local_path"].items()}
    renamed = dataclasses.replace(campaign, download_name="{sku}-{job_id}.mp4")
    caplog.set_level(logging.INFO, logger="batch_runner")
    caplog.clear()  # the first run's records
    assert await execute(renamed) == 0
    assert video_gets(sim) == 2  # nothing fetched again
    after = results(renamed)
    expected = {sku: str((videos / f"{sku}-{after.loc[sku, 'job_id']}.mp4").resolve()) for sku in after.index}
    assert names(videos) == sorted(Path(p).name for p in expected.values())  # the old names are gone
    assert names(videos, ".jpg") == sorted(Path(p).with_suffix(".jpg").name for p in expected.values())  # posters too
    assert after["local_path"].to_dict() == expected
    for sku, path in expected.items():
        assert Path(path).read_bytes() == data[sku]
    assert list(after["sha256"]) == list(before["sha256"])
    assert journal_downloads(renamed) == {row.job_id: (row.local_path, int(row.bytes), row.sha256)
                                          for row in after.itertuples()}
    (summary,) = [r.getMessage() for r in caplog.records if getattr(r, "event", "") == "summary"]
    assert "downloads: 0 saved, 2 renamed, 0 already there, 0 failed" in summary


async def test_an_expired_url_does_no_harm_while_the_saved_file_is_there(sim, campaign, caplog):
    before = await first_run(sim, campaign)
    await expire_urls(sim, before)
    asked = video_gets(sim)
    assert await execute(campaign) == 0  # same names: already there
    renamed = dataclasses.replace(campaign, download_name="{sku}.mp4")
    assert await execute(renamed) == 0  # new names: renamed
    assert video_gets(sim) == asked  # no request to the expired URLs
    assert not failures(caplog)
    after = results(renamed)
    assert names(campaign.download) == ["TR-100.mp4", "TR-200.mp4"]
    assert [Path(p).name for p in after["local_path"]] == ["TR-100.mp4", "TR-200.mp4"]
    assert list(after["status"]) == ["succeeded"] * 2


async def test_a_new_download_folder_gets_a_copy_of_the_saved_files_without_a_request(sim, campaign, tmp_path):
    before = await first_run(sim, campaign)
    await expire_urls(sim, before)
    asked = video_gets(sim)
    other = dataclasses.replace(campaign, download=tmp_path / "delivery")
    assert await execute(other) == 0
    assert video_gets(sim) == asked
    assert names(tmp_path / "delivery") == names(campaign.download)  # the old folder keeps its files
    after = results(other)
    for sku in after.index:
        copy, original = Path(after.loc[sku, "local_path"]), Path(before.loc[sku, "local_path"])
        assert copy.parent == (tmp_path / "delivery").resolve()
        assert copy.read_bytes() == original.read_bytes()


async def test_a_deleted_file_is_fetched_again_while_its_url_works(sim, campaign):
    before = await first_run(sim, campaign)
    Path(before.loc["TR-100", "local_path"]).unlink()
    assert await execute(campaign) == 0
    assert video_gets(sim) == 3  # only the missing one
    after = results(campaign)
    assert Path(after.loc["TR-100", "local_path"]).read_bytes()
    assert after["sha256"].to_dict() == before["sha256"].to_dict()


async def test_a_deleted_file_with_an_expired_url_is_a_clear_failure_of_that_download(sim, campaign, caplog):
    before = await first_run(sim, campaign)
    gone = Path(before.loc["TR-100", "local_path"])
    gone.unlink()
    await expire_urls(sim, before)
    caplog.set_level(logging.INFO, logger="batch_runner")
    assert await execute(dataclasses.replace(campaign, download_name="{sku}.mp4")) == 1
    job_id = before.loc["TR-100", "job_id"]
    message = failures(caplog)[job_id]
    assert f"{gone} is gone and its URL no longer works" in message
    assert "has expired" in message and "cannot be fetched again" in message  # asked again of gccai first
    assert "Traceback" not in caplog.text
    after = results(campaign)
    assert list(after["status"]) == ["succeeded"] * 2  # the videos themselves succeeded
    assert after.loc["TR-100", "local_path"] == ""  # no path to a missing file
    assert Path(after.loc["TR-200", "local_path"]).name == "TR-200.mp4"  # the other job is renamed
    assert names(campaign.download) == ["TR-200.mp4"]


async def test_a_changed_file_is_fetched_again_or_reported_once_its_url_expired(sim, campaign, caplog):
    before = await first_run(sim, campaign)
    changed = Path(before.loc["TR-100", "local_path"])
    changed.write_bytes(b"x" * changed.stat().st_size)  # same size, other bytes
    assert await execute(campaign) == 0
    assert video_gets(sim) == 3
    assert changed.read_bytes() != b"x" * len(changed.read_bytes())
    changed.write_bytes(b"y" * changed.stat().st_size)
    await expire_urls(sim, before)
    caplog.set_level(logging.INFO, logger="batch_runner")
    assert await execute(campaign) == 1
    message = failures(caplog)[before.loc["TR-100", "job_id"]]
    assert f"{changed} has changed since it was saved" in message and "URL no longer works" in message


async def test_a_new_name_taken_by_another_file_keeps_the_jobs_own_file_and_touches_neither(sim, campaign, caplog):
    before = await first_run(sim, campaign)
    foreign = campaign.download / "TR-100.mp4"
    foreign.write_bytes(b"someone else's cut")
    caplog.set_level(logging.INFO, logger="batch_runner")
    assert await execute(dataclasses.replace(campaign, download_name="{sku}.mp4")) == 0
    assert video_gets(sim) == 2
    own = Path(before.loc["TR-100", "local_path"])
    assert "1 video under a free name" in caplog.text and f"TR-100.mp4 -> {own.name}" in caplog.text
    assert foreign.read_bytes() == b"someone else's cut"
    assert own.is_file() and results(campaign).loc["TR-100", "local_path"] == str(own)  # stays where it was
    assert names(campaign.download) == sorted([foreign.name, "TR-200.mp4", own.name])


@pytest.mark.parametrize("nexts, exit_status", [(("b", "c"), 0), (("b", "a"), 1)])
async def test_a_name_freed_by_another_jobs_rename_is_taken_and_a_swap_is_refused(
        sim, tmp_path, write, caplog, nexts, exit_status):
    """Job a's new name is job b's old one: a waits for b to move (b -> c, then a -> b);
    when they swap (a -> b, b -> a) both are refused and no file is touched."""
    path = write("s.yaml", yaml.safe_dump({"jobs": [
        {"name": name, "sku": name, "next": nxt, "prompt": f"shot {name}", "provider": "gccai"}
        for name, nxt in zip("ab", nexts, strict=True)]}))
    request = RunRequest(path, tmp_path / "results.csv", environ=sim_env(sim), speedup=SPEEDUP, quiet=True,
                         download=tmp_path / "videos", download_name="{name}.mp4",
                         canary=False)
    assert request.download is not None
    before = await first_run(sim, request)
    data = {sku: Path(p).read_bytes() for sku, p in before["local_path"].items()}
    assert await execute(dataclasses.replace(request, download_name="{next}.mp4")) == exit_status
    assert video_gets(sim) == 2
    after = results(request)
    if exit_status == 0:
        assert names(request.download) == ["b.mp4", "c.mp4"]
        assert {sku: Path(p).read_bytes() for sku, p in after["local_path"].items()} == data
        assert [Path(p).name for p in after["local_path"]] == ["b.mp4", "c.mp4"]
    else:
        assert {sku: (request.download / f"{sku}.mp4").read_bytes() for sku in "ab"} == data
        assert all("do two jobs swap names?" in m for m in failures(caplog).values())
        assert len(failures(caplog)) == 2
