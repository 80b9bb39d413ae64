"""The report's posters, QA verdicts and script-free filters, in a real headless Chromium."""

from __future__ import annotations

import csv
from pathlib import Path

from batch_runner.output.report import write_report

from browser.test_report_chromium import CHROMIUM, FLAGS, browser_or_skip
from conftest import tiny_video

COLUMNS = ["job_id", "row", "name", "variant", "provider", "prompt", "status", "video_url", "cost_usd",
           "cost_credits", "error_code", "error_message", "elapsed_s", "local_path", "qa_status", "qa_problems"]
#: name, provider, status, poster colour (None: no video), QA verdict, QA problems
JOBS = [("red", "gccai", "succeeded", (220, 30, 30), "passed", ""),
        ("blue", "gccai", "succeeded", (30, 30, 220), "failed", "black;frozen"),
        ("green", "minimax", "succeeded", (30, 200, 30), "warning", "short_duration"),
        ("refused", "minimax", "failed", None, "", "")]
#: every poster: an image the page may load (CSP img-src) and that decodes
POSTERS = """async () => Promise.all([...document.querySelectorAll('video[poster]')].map(v => new Promise(done => {
    const img = new Image();
    img.onload = () => done(img.naturalWidth);
    img.onerror = () => done(0);
    img.src = v.poster;
})))"""


def results(tmp_path: Path) -> Path:
    path = tmp_path / "results.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for i, (name, provider, status, rgb, qa, problems) in enumerate(JOBS):
            video = tiny_video(tmp_path / "videos" / f"{name}.mp4", rgb=rgb) if rgb else ""
            writer.writerow([f"id{i}", i + 2, name, 1, provider, f"a {name} sneaker", status, "", "0.28", "",
                             "" if rgb else "content_policy", "", "40", video, qa, problems])
    return path


async def test_posters_load_qa_shows_and_css_filters_hide_tiles(tmp_path):
    async_playwright = browser_or_skip()
    report = tmp_path / "report.html"
    assert write_report(results(tmp_path), report) == 4
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        page = await browser.new_page(viewport={"width": 1280, "height": 1000})
        errors = []  # a CSP violation is a console error
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(report.resolve().as_uri())
        await page.wait_for_load_state("load")
        assert await page.evaluate("document.querySelectorAll('script').length") == 0

        widths = await page.evaluate(POSTERS)
        assert len(widths) == 3 and all(w > 0 for w in widths), widths
        qa = await page.locator(".tile .qa").all_inner_texts()
        assert qa == ["QA passed", "QA failed: black, frozen", "QA warning: short_duration"]
        groups = await page.locator("#qa .qa-group").all_inner_texts()
        assert groups == ["black (1)", "frozen (1)", "short_duration (1)"]

        visible = page.locator(".tile:visible")
        assert await visible.count() == 4
        await page.click("[data-filter='QA'] label:text-is('failed (1)')")
        assert [await t.get_attribute("data-job-id") for t in await visible.all()] == ["id1"]
        shot = tmp_path / "filtered.png"
        await page.screenshot(path=str(shot), full_page=True)
        await page.click("[data-filter='provider'] label:text-is('minimax (2)')")
        assert await visible.count() == 0  # QA failed and minimax: none
        await page.click("[data-filter='QA'] label:text-is('all')")
        assert [await t.get_attribute("data-job-id") for t in await visible.all()] == ["id2", "id3"]
        await page.click("[data-filter='status'] label:text-is('failed (1)')")
        assert [await t.get_attribute("data-job-id") for t in await visible.all()] == ["id3"]
        await browser.close()
    assert errors == []
    assert shot.stat().st_size > 5_000
    print(f"filtered report screenshot: {shot}")
