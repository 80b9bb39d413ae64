"""The report's posters, QA section and script-free filters, as page text (the browser
test clicks them: tests/browser/test_report_filters_chromium.py)."""

from __future__ import annotations

import re

from batch_runner.output.report import render_report

from conftest import tiny_video

BASE = {"job_id": "", "row": "2", "name": "", "variant": "1", "provider": "gccai", "prompt": "p", "status": "succeeded",
        "video_url": "", "cost_usd": "0.28", "cost_credits": "", "error_code": "", "error_message": "",
        "elapsed_s": "30", "local_path": ""}


def test_posters_qa_groups_and_filters_hold_no_cell_text_in_css(tmp_path):
    video = tiny_video(tmp_path / "videos" / "a.mp4")
    rows = [{**BASE, "job_id": "a", "local_path": str(video), "qa_status": "failed", "qa_problems": "black;frozen"},
            {**BASE, "job_id": "b", "provider": '"><style>x{}</style>', "status": "failed",
             "error_code": "timeout", "qa_status": ""}]
    page = render_report(rows, tmp_path, "t")
    assert 'poster="videos/a.jpg"' in page and (tmp_path / "videos" / "a.jpg").is_file()
    assert re.findall(r'<h3 class="qa-group" data-code="([^"]+)">', page) == ["black", "frozen"]
    assert "QA failed: black, frozen" in page
    style = page[page.index("<style>"):page.index("</style>")]
    assert "gccai" not in style and "&lt;" not in style  # values live in labels, never in CSS
    assert '#fq-0:checked ~ .grid .tile:not([data-f~="fq-0"]){display:none}' in style
    assert re.findall(r'data-f="([^"]+)"', page) == ["fs-0 fp-0 fq-0", "fs-1 fp-1 fq-1"]
    labels = re.findall(r'<label for="(f[spq]-\w+)">([^<]*)</label>', page)
    assert ("fq-1", "not checked (1)") in labels and ("fp-1", "&#34;&gt;&lt;style&gt;x{}&lt;/style&gt; (1)") in labels


def test_without_qa_columns_there_is_no_qa_filter_nor_section(tmp_path):
    page = render_report([{**BASE, "job_id": "a"}], tmp_path, "t")
    assert 'id="fq-all"' not in page and 'id="qa"' not in page and 'id="fs-all" checked' in page
