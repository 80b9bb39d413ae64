"""The HTML report, looked at in a real headless Chromium (Debian's, installed by .ci/run)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

from batch_runner.app import RunRequest, execute

from conftest import sim_env

CHROMIUM = Path(os.environ.get("BATCH_RUNNER_CHROMIUM", "/usr/bin/chromium"))
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: every <video> has loaded its metadata (readyState >= HAVE_METADATA) or failed
SETTLED = "() => [...document.querySelectorAll('video')].every(v => v.error || v.readyState >= 1)"
NASTY = 'Neon <script>alert("x")</script> & <b>bold</b> "quotes" [推进]'


def in_ci() -> bool:
    """True under CI (``CI=true``, as CI services and .ci/run set it)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def browser_or_skip():
    """The async_playwright factory. Without playwright or Chromium the test is
    skipped with a notice naming what to install, except under CI, where .ci/run
    installs Chromium: there its absence fails the test."""
    missing = None
    try:
        from playwright.async_api import async_playwright
    except ImportError as exc:
        missing = f"playwright is not installed ({exc}): pip install -e '.[test]'"
    if missing is None and not CHROMIUM.exists():
        missing = (f"no Chromium at {CHROMIUM}: install it (Debian: apt-get install chromium) "
                   "or point BATCH_RUNNER_CHROMIUM at one")
    if missing:
        if in_ci():
            pytest.fail(f"{missing} (CI must run the browser test)")
        pytest.skip(missing)
    return async_playwright


async def test_report_shows_one_playable_tile_per_job_in_chromium(tmp_path, sim, write, cli):
    async_playwright = browser_or_skip()
    from playwright.async_api import TimeoutError as PlaywrightTimeout
    marker = sim.config.providers["minimax"].content_policy_marker
    path = write("m.yaml", yaml.safe_dump({"jobs": [
        {"name": "hero", "prompt": "Studio shot of a sneaker [推进]", "provider": "gccai", "variants": 2},
        {"name": "<img src=x onerror=alert(1)>", "prompt": NASTY, "provider": "apiframe"},
        {"name": "refused", "prompt": f"forbidden {marker}", "provider": "minimax"},
    ]}, allow_unicode=True))
    out, videos, report = tmp_path / "results.csv", tmp_path / "videos", tmp_path / "report.html"
    request = RunRequest(path, out, environ=sim_env(sim), speedup=60, quiet=True, download=videos, report=report)
    assert await execute(request) == 1
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    gone = Path(df.loc[df["name"] == "hero", "local_path"].iloc[1])
    gone.unlink()  # a saved file that is no longer there: the tile falls back to the URL
    result = await asyncio.to_thread(cli, "report", out, "-o", report)
    assert result.exit_code == 0 and "4 jobs" in result.output

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        page = await browser.new_page(viewport={"width": 1280, "height": 1000})
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: errors.append(f"dialog: {d.message}"))
        await page.goto(report.resolve().as_uri())
        await page.wait_for_load_state("load")
        tiles = page.locator(".tile")
        assert await tiles.count() == len(df) == 4
        sources = await page.eval_on_selector_all("video", "vs => vs.map(v => v.getAttribute('src'))")
        assert len(sources) == 3  # the refused job has a tile without a video
        assert sorted(s.split("/")[0] for s in sources) == ["http:", "videos", "videos"]
        assert sources.count(df.loc[df["name"] == "hero", "video_url"].iloc[1]) == 1
        # the saved files and the simulator's URL alike must be real, playable MP4s; on a
        # timeout, the assertion below says which video is still loading
        with contextlib.suppress(PlaywrightTimeout):
            await page.wait_for_function(SETTLED, timeout=5_000)
        loaded = await page.eval_on_selector_all("video", "vs => vs.map(v => ({src: v.getAttribute('src'), "
                                                 "ready: v.readyState, error: v.error && v.error.code, "
                                                 "width: v.videoWidth, duration: v.duration}))")
        assert [(v["ready"] >= 1, v["error"]) for v in loaded] == [(True, None)] * 3, loaded
        assert all(v["width"] > 0 and v["duration"] > 0 for v in loaded), loaded
        prompts = await page.locator(".tile .prompt").all_inner_texts()
        assert NASTY in prompts  # shown as text, not run
        assert await page.evaluate("document.querySelectorAll('script, img, b').length") == 0
        failure = page.locator("#failures .error-group")
        assert await failure.all_inner_texts() == ["content_policy (1)"]
        assert "refused" in await page.locator("#failures table").inner_text()
        totals = await page.locator("#totals").inner_text()
        assert "gccai\t2\t$0.59\t-" in totals and "apiframe\t1\tunknown\t5" in totals
        assert "all\t3\t$0.59 + 1 unknown\t5" in totals  # an unknown price is never counted as zero
        shot = tmp_path / "report.png"
        await page.screenshot(path=str(shot), full_page=True)
        await browser.close()
    assert errors == []
    assert shot.stat().st_size > 10_000
    print(f"report screenshot: {shot}")
