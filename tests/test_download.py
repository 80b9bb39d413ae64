"""run --download: every finished video saved whole, resumably, under a safe name."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml
from aiohttp import web

from batch_runner.app import RunRequest, execute
from batch_runner.download import Downloader, DownloadOptions, plan_names
from batch_runner.errors import ConfigError
from batch_runner.jobs import Job
from batch_runner.journal import Journal
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
    assert plan_names([job(name=name)], "{name}-{variant}-{job_id}.mp4") == {"0123456789abcdef": expected}


def test_file_name_templates_use_columns_and_refuse_clashes_and_unknowns(tmp_path):
    assert plan_names([job(SKU="TR 100", name="x")], "{sku}/{provider}.mp4") == {"0123456789abcdef": "TR 100_gccai.mp4"}
    assert plan_names([job(name="CON")], "{name}.mp4") == {"0123456789abcdef": "_CON.mp4"}
    long = plan_names([job(name="é" * 300)], "{name}.mp4")["0123456789abcdef"]
    assert long.endswith(".mp4") and len(long.encode()) <= 200
    with pytest.raises(ConfigError, match=r"unknown variable \{colour\}"):
        plan_names([job()], "{colour}.mp4")
    with pytest.raises(ConfigError, match="rows 2 and 3 would both be saved as hero.mp4"):
        plan_names([job(), job("fedcba9876543210", row=3)], "{name}.mp4")


async def test_run_downloads_every_video_and_a_second_run_skips_them(tmp_path, sim, write):
    path = write("m.yaml", yaml.safe_dump({"jobs": [
        {"name": "hero", "prompt": "a calm lake [推进]", "provider": "gccai", "variants": 2},
        {"name": "city/night", "prompt": "a rainy street [跟随]", "provider": "apiframe"},
        {"name": "bad", "prompt": f"no {sim.config.providers['minimax'].content_policy_marker}", "provider": "minimax"},
    ]}))
    out, videos = tmp_path / "results.csv", tmp_path / "videos"
    request = RunRequest(path, out, environ=sim_env(sim), speedup=SPEEDUP, quiet=True, download=videos)
    assert await execute(request) == 1  # the refused job
    df = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("name")
    saved = sorted(p.name for p in videos.iterdir())
    ids = df["job_id"]
    assert saved == sorted([f"city_night-1-{ids['city/night']}.mp4",
                            *(f"hero-{v}-{i}.mp4" for v, i in zip(df.loc["hero", "variant"], df.loc["hero", "job_id"], strict=True))])
    for _, row in df[df["status"] == "succeeded"].iterrows():
        data = Path(row["local_path"]).read_bytes()
        assert int(row["bytes"]) == len(data) == sim.config.video_bytes
        assert row["sha256"] == hashlib.sha256(data).hexdigest()
        assert os.path.dirname(row["local_path"]) == str(videos.resolve())
    assert df.loc["bad", "local_path"] == "" and df.loc["bad", "bytes"] == ""
    fetched = sum(1 for r in sim.state.requests if r.kind == "video")
    assert fetched == 3
    assert await execute(request) == 1
    assert sum(1 for r in sim.state.requests if r.kind == "video") == fetched  # nothing fetched again
    assert list(pd.read_csv(out, dtype=str)["sha256"].fillna("")) == list(df["sha256"])


PAYLOAD = bytes(range(256)) * 1200  # 300 KiB


@pytest.fixture
async def flaky(aiohttp_server):
    """Serves PAYLOAD; ``cut``: the next N full answers break after ``cut_at``
    bytes; ``ranges``: honour Range; ``seen``: the Range header of each request."""

    state = {"seen": [], "cut": 0, "cut_at": 100_000, "ranges": True}

    async def video(request):
        rng = request.headers.get("Range")
        state["seen"].append(rng)
        if rng and state["ranges"]:
            start = int(rng.removeprefix("bytes=").rstrip("-"))
            resp = web.StreamResponse(status=206, headers={
                "Content-Range": f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}", "Content-Type": "video/mp4"})
            resp.content_length = len(PAYLOAD) - start
            await resp.prepare(request)
            await resp.write(PAYLOAD[start:])
            return resp
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
    record = {"job_id": "0123456789abcdef", "status": "succeeded", "video_url": url}
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


async def test_interrupted_download_is_resumed_by_the_retry(tmp_path, flaky):
    flaky.state["cut"] = 1
    downloader, rec = await save_once(tmp_path, str(flaky.make_url("/v.mp4")), attempts=3)
    assert downloader.saved == 1 and not downloader.failed
    assert (tmp_path / "videos" / "v.mp4").read_bytes() == PAYLOAD
    assert flaky.state["seen"][0] is None and flaky.state["seen"][1].startswith("bytes=")
    resumed_from = int(flaky.state["seen"][1].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_from <= 100_000  # only the rest was asked for
    assert rec["bytes"] == len(PAYLOAD) and rec["sha256"] == hashlib.sha256(PAYLOAD).hexdigest()
    assert not list((tmp_path / "videos").glob(".*.part"))


async def test_interrupted_download_is_resumed_by_the_next_run(tmp_path, flaky):
    flaky.state["cut"] = 1
    url = str(flaky.make_url("/v.mp4"))
    first, rec = await save_once(tmp_path, url, attempts=1)
    assert first.failed and rec["local_path"] is None
    part = tmp_path / "videos" / ".v.mp4.part"
    have = part.stat().st_size
    assert 0 < have <= 100_000 and not (tmp_path / "videos" / "v.mp4").exists()
    second, rec = await save_once(tmp_path, url, attempts=1)
    assert second.saved == 1 and flaky.state["seen"][-1] == f"bytes={have}-"
    assert (tmp_path / "videos" / "v.mp4").read_bytes() == PAYLOAD and not part.exists()
    assert rec["sha256"] == hashlib.sha256(PAYLOAD).hexdigest()


async def test_server_ignoring_range_restarts_and_caps_and_404s_fail_cleanly(tmp_path, flaky):
    flaky.state.update(cut=1, ranges=False)
    downloader, _ = await save_once(tmp_path, str(flaky.make_url("/v.mp4")), attempts=3)
    assert downloader.saved == 1 and (tmp_path / "videos" / "v.mp4").read_bytes() == PAYLOAD
    (tmp_path / "videos" / "v.mp4").unlink()
    (tmp_path / "j.sqlite").unlink()
    record = {"job_id": "0123456789abcdef", "status": "succeeded", "video_url": str(flaky.make_url("/v.mp4"))}
    with Journal(tmp_path / "j2.sqlite", lock=False) as journal:
        local = frozenset({"127.0.0.1"})  # the test server's host
        capped = Downloader(DownloadOptions(tmp_path / "videos", max_bytes=1000, trusted_hosts=local), journal,
                            {"0123456789abcdef": "v.mp4"})
        gone = Downloader(DownloadOptions(tmp_path / "videos", attempts=3, trusted_hosts=local), journal,
                          {"0123456789abcdef": "w.mp4"})
        async with Transport.open() as transport:
            capped.transport = gone.transport = transport
            await capped.finish([record])
            await gone.finish([{**record, "video_url": str(flaky.make_url("/gone.mp4"))}])
    assert capped.failed["0123456789abcdef"] == f"is {len(PAYLOAD)} bytes, over the 1000 bytes cap (--download-max-mb)"
    assert not list((tmp_path / "videos").iterdir())
    assert gone.failed["0123456789abcdef"] == "HTTP 404 (URL expired or gone)"
    assert flaky.state["seen"].count("gone") == 1  # a 404 is not retried
