"""The HTML report's page as text: every value escaped, the strict CSP, no external asset."""

from __future__ import annotations

import json
import re

import pytest

from batch_runner.errors import ConfigError
from batch_runner.journal import JobRecord, JobStatus
from batch_runner.output.report import write_report
from batch_runner.output.results import write_results

CSP = ("default-src 'none'; style-src 'unsafe-inline'; "
       "media-src 'self' file: http: https: data: blob:; img-src 'self' file: data:")
NASTY = '<script>alert("x")</script> & <b>bold</b> \'q\''


def record(i: int, provider: str, status: str, **state) -> JobRecord:
    job = {"row": 2 + i, "name": NASTY if i == 1 else f"shot {i}", "variant": 1, "prompt": f"=cmd {NASTY}",
           "duration": 6, "resolution": "768P", "extras": {}}
    return JobRecord(job_id=f"{i:016x}", job=json.dumps(job), provider=provider, status=JobStatus(status),
                     attempts=1, submitted_at=100.0, finished_at=130.0, **state)


@pytest.fixture
def page(tmp_path):
    results = tmp_path / "results.csv"
    write_results(results, [
        record(0, "gccai", "succeeded", cost_usd=0.34, video_url="https://cdn.example/0.mp4"),
        record(1, "apiframe", "succeeded", cost_credits=5.0, video_url="javascript:alert(1)"),
        record(2, "minimax", "failed", error_code="content_policy", error_message=f"refused: {NASTY}"),
        record(3, "minimax", "unknown"),
    ])
    out = tmp_path / "deep" / "report.html"
    assert write_report(results, out, title=f"Spring {NASTY}") == 4
    return out.read_text(encoding="utf-8")


def test_every_value_is_text_and_nothing_loads_from_elsewhere(page):
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in page.replace("&#39;", "'")
    assert "<script" not in page and "<b>" not in page and "<img" not in page
    assert page.count("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;") >= 5
    assert "=cmd &lt;script&gt;" in page  # the results CSV's formula guard is undone for display
    assert re.findall(r'<video[^>]*src="([^"]*)"', page) == ["https://cdn.example/0.mp4"]  # no javascript:
    assert not re.search(r'<(link|iframe|object|embed)\b|\s(href|srcset)=', page)


def test_totals_and_failures(page):
    assert '<td>gccai</td><td class="n">1</td><td class="n">$0.34</td><td class="n">-</td>' in page
    assert '<td>apiframe</td><td class="n">1</td><td class="n">unknown</td><td class="n">5</td>' in page
    assert '<th>all</th><th class="n">2</th><th class="n">$0.34 + 1 unknown</th>' in page  # never as zero
    groups = re.findall(r'<h3 class="error-group" data-code="([^"]+)">', page)
    assert groups == ["content_policy", "unknown"]  # by error code, else status; sorted


def test_a_file_that_is_not_a_results_csv_is_a_clear_error(tmp_path):
    bad = tmp_path / "jobs.csv"
    bad.write_text("prompt,provider\nx,minimax\n")
    with pytest.raises(ConfigError, match="not a batch-runner results CSV"):
        write_report(bad, tmp_path / "r.html")
    results = tmp_path / "results.csv"
    write_results(results, [record(0, "gccai", "succeeded")])
    results.write_text(results.read_text() + '"extra","1","2",' + ",".join(["x"] * 42) + "\n")
    with pytest.raises(ConfigError, match="row 3 has more cells than the 44 columns"):
        write_report(results, tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_tiles_show_a_persons_verdict_and_note_and_the_gallery_filters_by_it(tmp_path):
    results = tmp_path / "results.csv"
    write_results(results, [
        record(0, "gccai", "succeeded", cost_usd=0.34, video_url="https://cdn.example/0.mp4", review="approved"),
        record(2, "gccai", "succeeded", cost_usd=0.34, video_url="https://cdn.example/2.mp4", review="rejected",
               review_note=f"prompt: slower {NASTY}"),
        record(3, "minimax", "succeeded", cost_usd=0.3, video_url="https://cdn.example/3.mp4"),
    ])
    out = tmp_path / "report.html"
    write_report(results, out, title="t")
    html = out.read_text(encoding="utf-8")
    assert 'data-filter="review"' in html
    assert "approved (1)" in html and "rejected (1)" in html and "awaiting review (1)" in html
    assert 'data-review="approved">review: approved</p>' in html
    assert "review: rejected · prompt: slower &lt;script&gt;" in html and "<script>" not in html
    tiles = re.findall(r'<article class="tile [^"]*" data-job-id="([0-9a-f]+)" data-f="([^"]*)"', html)
    assert len({f.split()[-1] for _, f in tiles}) == 3  # each verdict its own filter word


def test_a_report_without_verdicts_has_no_review_filter(page):
    assert 'data-filter="review"' not in page and "review:" not in page
