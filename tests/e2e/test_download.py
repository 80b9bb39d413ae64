"""run --download: every finished video saved whole, resumably, under a safe name."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from aiohttp import web

from batch_runner.app import RunRequest, execute
from batch_runner.errors import ConfigError
from batch_runner.jobs.model import Job
from batch_runner.journal import JobRecord, JobStatus, Journal
from batch_runner.output.download import Downloader, DownloadOptions
from batch_runner.output.file_names import assign_file_names
from batch_runner.simulator.videos import video_body
from batch_runner.transport import Transport

from conftest import sim_env

SPEEDUP = 60.0


def job(job_id="0123456789abcdef", name="hero", row=2, **extras):
    return Job(job_id, 0, row, name, 1, "gccai", "hailuo-2.3", "text-to-video", "p", None, None, 6, "768P",
               extras=extras)


@pytest.mark.parametrize("name, expected", [
    ("hero", "hero-1-0123456789abcdef.mp4"),
    ("../../etc/passwd", "etc_passwd-1-0123456789abcdef.mp4"),
    ("a/b\\c:d*e?f\"g<h>i|j", "a_b_c_d_e_f_g_h_i_j-1-0123456789abcdef.mp4"),
    (" .hidden", "hidden-1-0123456789abcdef.mp4"),
    ("", "1-0123456789abcdef.mp4"),
    ("line\nbreak\ttab", "line_break_tab-1-0123456789abcdef.mp4"),
])
def test_file_names_are_safe(name, expected):
    assert assign_file_names([job(name=name)], "{name}-{variant}-{job_id}.mp4") == {"0123456789abcdef": expected}


def test_file_name_templates_use_columns_and_refuse_clashes_and_unknowns(tmp_path):
    assert assign_file_names([job(SKU="TR 100", name="x")], "{sku}/{provider}.mp4") == {
        "0123456789abcdef": "TR 100_gccai.mp4"}
    assert assign_file_names([job(name="CON")], "{name}.mp4") == {"0123456789abcdef": "_CON.mp4"}
    long = assign_file_names([job(name="é" * 300)], "{name}.mp4")["0123456789abcdef"]
    assert long.endswith(".mp4") and len(long.encode()) <= 200
    with pytest.raises(ConfigError, match=r"unknown variable \{colour\}"):
        assign_file_names([job()], "{colour}.mp4")
    with pytest.raises(ConfigError, match=r"rows 2 and 3 would both be saved as hero\.mp4"):
        assign_file_names([job(), job("fedcba9876543210", row=3)], "{name}.mp4")


async def test_run_downloads_every_video_and_a_second_run_skips_them(tmp_path, sim, write):
    path = write("m.yaml", yaml.safe_dump({"jobs": [
        {"name": "hero", "prompt": "a calm lake [推进]", "provider": "gccai", "variants": 2},
        {"name": "city/night", "prompt": "a rainy street [跟随]", "provider": "apiframe"},
        {"name": "bad", "prompt": f"no {sim.config.providers['minimax'].content_policy_marker}", "provider": "minimax"},
    ]}))
    out, videos = tmp_path / "results.csv", tmp_path / "videos"
    request = RunRequest(path, out, environ=sim_env(sim), speedup=SPEEDUP, quiet=True, download=videos,
                         canary=False)
    assert await execute(request) == 1  # the refused job
    df = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("name")
    saved = sorted(p.name for p in videos.iterdir() if p.suffix != ".jpg")  # videos, not their posters
    ids = df["job_id"]
    hero = zip(df.loc["hero", "variant"], df.loc["hero", "job_id"], strict=True)
    assert saved == sorted([f"city_night-1-{ids['city/night']}.mp4", *(f"hero-{v}-{i}.mp4" for v, i in hero)])
    for _, row in df[df["status"] == "succeeded"].iterrows():
        data = Path(row["local_path"]).read_bytes()
        assert int(row["bytes"]) == len(data) and data[4:8] == b"ftyp"
        assert row["sha256"] == hashlib.sha256(data).hexdigest()
        assert os.path.dirname(row["local_path"]) == str(videos.resolve())
    assert df.loc["bad", "local_path"] == "" and df.loc["bad", "bytes"] == ""
    fetched = sum(1 for r in sim.store.requests if r.kind == "video")
    assert fetched == 3
    assert await execute(request) == 0  # the refusal is an earlier failure now: not this run's
    assert sum(1 for r in sim.store.requests if r.kind == "video") == fetched  # nothing fetched again
    assert list(pd.read_csv(out, dtype=str)["sha256"].fillna("")) == list(df["sha256"])


def one_gccai_job(write):
    return write("m.yaml", yaml.safe_dump({"jobs": [{"name": "hero", "prompt": "a calm lake", "provider": "gccai"}]}))


@pytest.fixture
def quick_retries(monkeypatch):
    """Download retries of ``run`` wait ~10 ms instead of ~1 s (backoff base)."""
    monkeypatch.setattr("batch_runner.output.download.DownloadOptions",  # execute() imports it when it runs
                        functools.partial(DownloadOptions, backoff_base_s=0.01))


def video_requests(sim):
    return [(r.http_status, r.range_start, r.reason) for r in sim.store.requests if r.kind == "video"]


async def test_transfer_cut_mid_body_is_resumed_by_the_retry_with_a_range(tmp_path, sim, write, quick_retries):
    """Every gccai video transfer is cut after 1000 bytes: the retries ask for
    ``bytes=1000-`` then ``bytes=2000-`` and the file ends up whole."""
    sim.config.clips = False  # the 2048-byte sample: the byte counts below
    sim.config.providers["gccai"].video_cut_rate = 1.0
    sim.config.providers["gccai"].video_cut_after_bytes = 1000
    out, videos = tmp_path / "results.csv", tmp_path / "videos"
    request = RunRequest(one_gccai_job(write), out, environ=sim_env(sim), speedup=SPEEDUP, quiet=True, download=videos,
                         canary=False)
    assert await execute(request) == 0
    assert video_requests(sim) == [(200, None, "video_cut"), (206, 1000, "video_cut"), (206, 2000, None)]
    (task_id,) = sim.store.tasks
    expected = hashlib.sha256(video_body(sim.config.video_bytes, task_id)).hexdigest()
    row = pd.read_csv(out, dtype=str).iloc[0]
    assert hashlib.sha256(Path(row["local_path"]).read_bytes()).hexdigest() == row["sha256"] == expected
    assert int(row["bytes"]) == sim.config.video_bytes
    assert [p.name for p in videos.iterdir() if p.suffix != ".jpg"] == [Path(row["local_path"]).name]  # no .part


async def test_run_out_of_retries_keeps_the_part_and_the_next_run_asks_only_for_the_rest(
        tmp_path, sim, write, quick_retries):
    """5 tries of 300 bytes each leave 1500 of 2048 in the ``.part`` (run
    exits 1); the next run resumes it with ``bytes=1500-``, not from zero."""
    sim.config.clips = False  # the 2048-byte sample: the byte counts below
    sim.config.providers["gccai"].video_cut_rate = 1.0
    sim.config.providers["gccai"].video_cut_after_bytes = 300
    out, videos = tmp_path / "results.csv", tmp_path / "videos"
    request = RunRequest(one_gccai_job(write), out, environ=sim_env(sim), speedup=SPEEDUP, quiet=True, download=videos,
                         canary=False)
    assert await execute(request) == 1
    first = video_requests(sim)
    assert first == [(200, None, "video_cut"), *((206, n, "video_cut") for n in (300, 600, 900, 1200))]
    (part,) = videos.iterdir()
    assert part.name.startswith(".hero-1-") and part.name.endswith(".mp4.part") and part.stat().st_size == 1500
    assert pd.read_csv(out, dtype=str, keep_default_na=False).iloc[0]["local_path"] == ""

    sim.config.providers["gccai"].video_cut_rate = 0.0  # the link is good again
    assert await execute(request) == 0
    assert video_requests(sim)[len(first):] == [(206, 1500, None)]
    (task_id,) = sim.store.tasks
    row = pd.read_csv(out, dtype=str).iloc[0]
    saved = Path(row["local_path"])
    assert saved.read_bytes() == video_body(sim.config.video_bytes, task_id)
    assert row["sha256"] == hashlib.sha256(saved.read_bytes()).hexdigest()
    assert [p for p in videos.iterdir() if p.suffix != ".jpg"] == [saved]


PAYLOAD = bytes(range(256)) * 1200  # 300 KiB


@pytest.fixture
async def flaky(aiohttp_server):
    """Serves PAYLOAD, whole, ignoring Range (the simulator honours it);
    ``cut``: the next N answers break after ``cut_at`` bytes; ``seen``: the
    Range header of each request."""

    state: dict[str, Any] = {"seen": [], "cut": 0, "cut_at": 100_000}

    async def video(request):
        state["seen"].append(request.headers.get("Range"))
        resp = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        resp.content_length = len(PAYLOAD)
        await resp.prepare(request)
        if state["cut"] > 0:
            state["cut"] -= 1
            await resp.write(PAYLOAD[: state["cut_at"]])
            request.transport.close()  # the connection drops mid-body
            return resp
        await resp.write(PAYLOAD)
        return resp

    async def gone(request):
        state["seen"].append("gone")
        raise web.HTTPNotFound()

    app = web.Application()
    app.router.add_get("/v.mp4", video)
    app.router.add_get("/gone.mp4", gone)
    server = await aiohttp_server(app)
    server.state = state
    return server


async def save_once(tmp_path, url, attempts):
    record = JobRecord("0123456789abcdef", status=JobStatus.SUCCEEDED, video_url=url)
    with Journal(tmp_path / "j.sqlite", lock=False) as journal:
        journal.add_jobs([job()])
        options = DownloadOptions(tmp_path / "videos", attempts=attempts, backoff_base_s=0.01,
                                  trusted_hosts=frozenset({"127.0.0.1"}))  # the test server's host
        downloader = Downloader(options, journal, {"0123456789abcdef": "v.mp4"})
        (tmp_path / "videos").mkdir(exist_ok=True)
        async with Transport.open() as transport:
            downloader.transport = transport
            await downloader.finish([record])
        return downloader, journal.get("0123456789abcdef")


async def test_server_ignoring_range_restarts_and_caps_and_404s_fail_cleanly(tmp_path, flaky):
    flaky.state["cut"] = 1
    downloader, _ = await save_once(tmp_path, str(flaky.make_url("/v.mp4")), attempts=3)
    assert downloader.saved == 1 and (tmp_path / "videos" / "v.mp4").read_bytes() == PAYLOAD
    asked = flaky.state["seen"]
    assert asked[0] is None and 0 < int(asked[1].removeprefix("bytes=").rstrip("-")) <= 100_000  # whole again
    (tmp_path / "videos" / "v.mp4").unlink()
    (tmp_path / "j.sqlite").unlink()
    record = JobRecord("0123456789abcdef", status=JobStatus.SUCCEEDED, video_url=str(flaky.make_url("/v.mp4")))
    with Journal(tmp_path / "j2.sqlite", lock=False) as journal:
        local = frozenset({"127.0.0.1"})  # the test server's host
        capped = Downloader(DownloadOptions(tmp_path / "videos", max_bytes=1000, trusted_hosts=local), journal,
                            {"0123456789abcdef": "v.mp4"})
        gone = Downloader(DownloadOptions(tmp_path / "videos", attempts=3, trusted_hosts=local), journal,
                          {"0123456789abcdef": "w.mp4"})
        async with Transport.open() as transport:
            capped.transport = gone.transport = transport
            await capped.finish([record])
            await gone.finish([dataclasses.replace(record, video_url=str(flaky.make_url("/gone.mp4")))])
    assert capped.failed["0123456789abcdef"] == f"is {len(PAYLOAD)} bytes, over the 1000 bytes cap (--download-max-mb)"
    assert not list((tmp_path / "videos").iterdir())
    assert gone.failed["0123456789abcdef"] == "HTTP 404 (URL expired or gone)"
    assert flaky.state["seen"].count("gone") == 1  # a 404 is not retried
