"""The results workbook (``-o results.xlsx``), read back with openpyxl as a user's
spreadsheet would: types, hyperlinks, embedded posters, no formula, the Summary sheet."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from batch_runner.journal import JobRecord, JobStatus
from batch_runner.output.paths import OutputPathError, check_outputs, results_output
from batch_runner.output.posters import make_poster
from batch_runner.output.results import write_results
from batch_runner.output.workbook import THUMB_PX

from conftest import tiny_video

EVIL = "=cmd|' /C calc'!A0"
#: whether the journal records QA verdicts (else a test gives them as manifest columns)
QA_IN_JOURNAL = "qa_status" in {f.name for f in dataclasses.fields(JobRecord)}


def record(i: int, videos: Path | None, *, status: str = "succeeded", provider: str = "gccai",
           **extras: Any) -> JobRecord:
    """A journal record of job ``i``; succeeded with a saved video in ``videos`` when given;
    ``qa_status`` / ``qa_problems`` in ``extras`` are its QA verdict."""
    qa = {k: extras.pop(k) for k in ("qa_status", "qa_problems") if k in extras} if QA_IN_JOURNAL else {}
    job = {"row": i + 2, "name": f"shot-{i}", "variant": 1, "provider": provider, "prompt": f"prompt {i}",
           "duration": 6, "resolution": "768P", "extras": extras}
    local = None
    if videos is not None and status == "succeeded":
        local = str(tiny_video(videos / f"shot-{i}.mp4", rgb=(30 * i % 255, 90, 160)).resolve())
    ok = status == "succeeded"
    return JobRecord(job_id=f"id{i:04d}", job=json.dumps(job), provider=provider, status=JobStatus(status),
                     task_id=f"t{i}", attempts=1, submitted_at=1_700_000_000.0, finished_at=1_700_000_042.5,
                     video_url=f"https://cdn.example.com/v/{i}.mp4" if ok else None,
                     cost_usd=0.28 if ok else None, error_code=None if ok else "content_policy",
                     error_message=None if ok else "refused", local_path=local,
                     size_bytes=1234 if local else None, **qa)


def test_workbook_has_links_posters_numbers_and_no_formula(tmp_path):
    videos = tmp_path / "out" / "videos"
    records = [record(0, videos, background=EVIL, qa_status="passed"),
               record(1, videos, background="studio", qa_status="failed", qa_problems="black;frozen"),
               record(2, videos, status="failed", provider="minimax", background="-5")]
    out = tmp_path / "out" / "results.xlsx"
    assert write_results(out, records, manifest_ids={r.job_id for r in records}) == 3

    book = load_workbook(out)
    assert book.sheetnames == ["Results", "Summary"]
    sheet = book["Results"]
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["job_id", "poster", "row"] and "qa_status" in header
    col = {name: i + 1 for i, name in enumerate(header)}
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == sheet.dimensions
    # numbers are numbers, text is text, the formula stays inert text
    assert sheet.cell(2, col["row"]).value == 2 and sheet.cell(2, col["row"]).data_type == "n"
    assert sheet.cell(2, col["cost_usd"]).value == pytest.approx(0.28)
    assert sheet.cell(2, col["bytes"]).value == 1234
    evil = sheet.cell(2, col["background"])
    assert evil.value == "'" + EVIL and evil.data_type == "s"
    assert sheet.cell(4, col["background"]).value == "-5"  # a plain number in a text column is left as is
    assert not any(c.data_type == "f" for row in sheet.iter_rows() for c in row)
    # hyperlinks: the provider's URL as is, the saved file relative to the workbook
    assert sheet.cell(2, col["video_url"]).hyperlink.target == "https://cdn.example.com/v/0.mp4"
    assert sheet.cell(2, col["local_path"]).hyperlink.target == "videos/shot-0.mp4"
    assert sheet.cell(4, col["local_path"]).hyperlink is None
    # one thumbnail per saved video, anchored in its row's poster cell; the failed job says why
    anchors = sorted((i.anchor._from.row, i.anchor._from.col) for i in sheet._images)
    assert anchors == [(1, 1), (2, 1)]  # zero-based: rows 2 and 3, column B
    assert all(i.width <= THUMB_PX[0] and i.height <= THUMB_PX[1] for i in sheet._images)
    assert sheet.row_dimensions[2].height >= THUMB_PX[1] * 0.75
    assert sheet.cell(4, col["poster"]).value == "failed: content_policy"
    assert (videos / "shot-0.jpg").is_file()  # the poster was made beside the video
    assert sheet.column_dimensions["A"].width >= len("id0000")

    summary = [[c.value for c in row] for row in book["Summary"].iter_rows()]
    assert summary[0] == ["provider", "jobs", "succeeded", "failed", "cancelled", "QA failed", "cost USD",
                          "USD unknown (paid attempts)", "approved", "rejected", "awaiting review",
                          "USD per approved video"]
    assert summary[1:] == [["gccai", 2, 2, 0, 0, 1, pytest.approx(0.56), 0, 0, 0, 2, None],
                           ["minimax", 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, None],
                           ["all", 3, 2, 1, 0, 1, pytest.approx(0.56), 0, 0, 0, 2, None]]


def test_workbook_without_saved_videos_has_no_poster_column(tmp_path):
    out = tmp_path / "r.xlsx"
    write_results(out, [record(0, None)])
    header = [c.value for c in load_workbook(out)["Results"][1]]
    assert "poster" not in header and header[0] == "job_id"


def test_other_spreadsheet_extensions_are_refused_naming_the_supported_ones(tmp_path):
    for name in ("results.xls", "results.ods"):
        with pytest.raises(OutputPathError, match=r"written as \.csv or \.xlsx"):
            check_outputs([results_output(tmp_path / name)])
    with pytest.raises(OutputPathError, match=r"needs a name ending in \.csv or \.xlsx"):
        check_outputs([results_output(tmp_path / "results.txt")])
    check_outputs([results_output(tmp_path / "results.xlsx")])


def test_an_existing_workbook_that_is_not_results_is_never_overwritten(tmp_path):
    from openpyxl import Workbook

    other = tmp_path / "budget.xlsx"
    book = Workbook()
    book.active.append(["month", "spend"])
    book.save(other)
    with pytest.raises(OutputPathError, match="is not the results workbook of an earlier run"):
        check_outputs([results_output(other)])
    ours = tmp_path / "results.xlsx"
    write_results(ours, [record(0, None)])
    check_outputs([results_output(ours)])  # an earlier run's workbook: replaced


def test_a_300_row_workbook_with_posters_is_written_in_seconds(tmp_path, capsys):
    videos = tmp_path / "videos"
    poster = make_poster(tiny_video(videos / "base.mp4"))
    records = []
    for i in range(300):  # 300 saved videos and their posters (links to one; bench/deliverables.py: real ones)
        rec = record(i, None)
        local = videos / f"shot-{i}.mp4"
        local.hardlink_to(videos / "base.mp4")
        local.with_suffix(".jpg").hardlink_to(poster)
        records.append(dataclasses.replace(rec, local_path=str(local)))
    started = time.perf_counter()
    write_results(tmp_path / "r.xlsx", records)
    took = time.perf_counter() - started
    assert len(load_workbook(tmp_path / "r.xlsx")["Results"]._images) == 300
    with capsys.disabled():
        print(f"\nworkbook of 300 rows with posters: {took:.2f} s")
    assert took < 30


def test_a_checkpoint_workbook_decodes_no_video(tmp_path):
    videos = tmp_path / "videos"
    write_results(tmp_path / "r.xlsx", [record(0, videos)], make_posters=False)
    sheet = load_workbook(tmp_path / "r.xlsx")["Results"]
    assert sheet["B2"].value == "no poster yet" and not sheet._images
    assert not (videos / "shot-0.jpg").exists()
