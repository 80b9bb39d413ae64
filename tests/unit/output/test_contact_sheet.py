"""The contact sheet (``batch-runner contact-sheet``): one image of every job's
poster, grouped by a column, grey tiles saying why a poster is missing."""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import pytest
from PIL import Image

from batch_runner.output.contact_sheet import Layout, write_contact_sheet
from batch_runner.output.posters import make_poster

from conftest import tiny_video

COLUMNS = ["job_id", "row", "name", "variant", "provider", "duration", "status", "error_code", "local_path",
           "background"]


def results_csv(path: Path, rows: list[dict[str, str]], extra: tuple[str, ...] = ()) -> Path:
    """A results CSV with the columns the contact sheet reads (and ``extra`` ones)."""
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, [*COLUMNS, *extra], restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def row(i: int, video: Path | None, background: str = "studio", **more: str) -> dict[str, str]:
    return {"job_id": f"id{i}", "row": str(i + 2), "name": f"shot-{i}", "variant": "1", "provider": "gccai",
            "duration": "6", "status": "succeeded" if video else "failed", "error_code": "" if video else "timeout",
            "local_path": str(video or ""), "background": background, **more}


def expected_size(groups: list[int], layout: Layout, banded: bool) -> tuple[int, int]:
    """The documented layout: columns of tiles, one band per group when grouped."""
    cols = min(layout.columns, max(groups))
    width = 2 * layout.margin + cols * layout.tile[0] + (cols - 1) * layout.gap
    height = 2 * layout.margin + (len(groups) - 1) * layout.gap
    for n in groups:
        lines = math.ceil(n / cols)
        height += (layout.band_h if banded else 0) + lines * (layout.tile[1] + layout.label_h) \
            + (lines - 1) * layout.gap
    return width, height


def test_the_sheet_is_a_grid_of_tiles_by_columns(tmp_path):
    video = tiny_video(tmp_path / "v" / "a.mp4", rgb=(250, 10, 10))
    rows = [row(i, video) for i in range(7)] + [row(7, None)]
    path = results_csv(tmp_path / "results.csv", rows)
    layout = Layout(columns=3)
    assert write_contact_sheet(path, tmp_path / "sheet.png", layout=layout) == 8
    with Image.open(tmp_path / "sheet.png") as img:
        assert img.format == "PNG"
        assert img.size == expected_size([8], layout, banded=False)  # 3 columns x 3 rows of tiles
        sheet = img.convert("RGB")
    tile_x, tile_y = layout.margin + layout.tile[0] // 2, layout.margin + layout.tile[1] // 2
    pixel = sheet.getpixel((tile_x, tile_y))
    assert isinstance(pixel, tuple)  # an RGB image's pixel
    r, g, b = pixel
    assert r > 200 and g < 60 and b < 60  # the first tile shows its red poster
    last = (layout.margin + layout.tile[0] + layout.gap + 4,  # row 3, column 2: the failed job's grey tile
            layout.margin + 2 * (layout.tile[1] + layout.label_h + layout.gap) + 4)
    assert sheet.getpixel(last) == (0x8A, 0x8F, 0x98)


def test_by_groups_tiles_in_one_labelled_band_per_value(tmp_path, cli):
    video = tiny_video(tmp_path / "v" / "a.mp4")
    rows = [row(i, video, background=bg) for i, bg in enumerate(["studio", "beach", "studio", "forest", "beach"])]
    rows[0]["qa_status"], rows[0]["qa_problems"] = "failed", "black;frozen"
    path = results_csv(tmp_path / "results.csv", rows, extra=("qa_status", "qa_problems"))
    result = cli("contact-sheet", path, "-o", tmp_path / "s.jpg", "--by", "background", "--columns", "4")
    assert result.exit_code == 0, result.output
    assert "5 tiles" in result.output
    with Image.open(tmp_path / "s.jpg") as img:
        assert img.format == "JPEG"
        assert img.size == expected_size([2, 2, 1], Layout(columns=4), banded=True)


def test_unknown_by_column_and_results_without_videos_are_clear_errors(tmp_path, cli):
    video = tiny_video(tmp_path / "v" / "a.mp4")
    path = results_csv(tmp_path / "results.csv", [row(0, video)])
    result = cli("contact-sheet", path, "-o", tmp_path / "s.png", "--by", "backgrund")
    assert result.exit_code == 2
    assert "--by backgrund: " in result.output and "columns: job_id, row, name" in result.output
    assert "background" in result.output and "Traceback" not in result.output
    bare = results_csv(tmp_path / "bare.csv", [row(0, None), row(1, None)])
    result = cli("contact-sheet", bare, "-o", tmp_path / "s.png")
    assert result.exit_code == 2 and "no saved videos" in result.output and "--download" in result.output
    result = cli("contact-sheet", path, "-o", tmp_path / "s.gif")
    assert result.exit_code == 2 and ".png or .jpg" in result.output
    assert not (tmp_path / "s.png").exists()


def test_a_missing_video_or_an_undecodable_one_is_a_tile_saying_why(tmp_path):
    video = tiny_video(tmp_path / "v" / "a.mp4")
    junk = tmp_path / "v" / "junk.mp4"
    junk.write_bytes(b"<html>not a video</html>")
    rows = [row(0, video), row(1, tmp_path / "v" / "gone.mp4"), row(2, junk)]
    path = results_csv(tmp_path / "results.csv", rows)
    assert write_contact_sheet(path, tmp_path / "s.png") == 3
    assert (tmp_path / "v" / "a.jpg").is_file()  # the poster was made beside the video


def test_a_300_tile_sheet_takes_seconds(tmp_path, capsys):
    video = tiny_video(tmp_path / "v" / "a.mp4")
    poster = make_poster(video)
    rows = []
    for i in range(300):  # 300 saved videos and their posters (links to one; bench/deliverables.py: real ones)
        local = tmp_path / "v" / f"shot-{i}.mp4"
        local.hardlink_to(video)
        local.with_suffix(".jpg").hardlink_to(poster)
        rows.append(row(i, local, background=("studio", "beach", "forest")[i % 3]))
    path = results_csv(tmp_path / "results.csv", rows)
    started = time.perf_counter()
    write_contact_sheet(path, tmp_path / "s.png", by="background", layout=Layout(columns=10))
    took = time.perf_counter() - started
    with Image.open(tmp_path / "s.png") as img:
        assert img.size == expected_size([100, 100, 100], Layout(columns=10), banded=True)
    with capsys.disabled():
        print(f"\ncontact sheet of 300 tiles (posters there, 10 columns, 3 groups): {took:.2f} s")
    assert took < 30


def test_run_contact_sheet_needs_download_and_a_known_column(tmp_path, cli, write):
    manifest = write("m.yaml", "jobs:\n  - {name: a, prompt: a shoe, provider: gccai, background: studio}\n")
    result = cli("run", manifest, "--simulate", "--no-canary", "-o", tmp_path / "r.csv",
                 "--contact-sheet", tmp_path / "s.png")
    assert result.exit_code == 2 and "--contact-sheet needs --download DIR" in result.output
    result = cli("run", manifest, "--simulate", "--no-canary", "-o", tmp_path / "r.csv", "--download",
                 tmp_path / "v", "--contact-sheet", tmp_path / "s.png", "--contact-sheet-by", "backdrop")
    assert result.exit_code == 2 and "--contact-sheet-by backdrop: no such results column" in result.output
    assert "background" in result.output
    assert not (tmp_path / "r.csv").exists()  # refused before anything ran


@pytest.mark.parametrize("suffix", [".gif", ".pdf"])
def test_run_refuses_a_contact_sheet_that_is_not_an_image(tmp_path, cli, write, suffix):
    manifest = write("m.yaml", "jobs:\n  - {name: a, prompt: a shoe, provider: gccai}\n")
    result = cli("run", manifest, "--simulate", "-o", tmp_path / "r.csv", "--download", tmp_path / "v",
                 "--contact-sheet", tmp_path / f"s{suffix}")
    assert result.exit_code == 2 and f"s{suffix}: the contact sheet needs a name ending in .png" in result.output


def test_a_run_whose_videos_all_failed_still_ends_with_its_summary(tmp_path, cli, write):
    manifest = write("m.yaml", "jobs:\n  - {name: a, prompt: 'forbidden [[REJECT]]', provider: minimax}\n")
    result = cli("run", manifest, "--simulate", "--no-canary", "-o", tmp_path / "r.csv", "--download",
                 tmp_path / "v", "--contact-sheet", tmp_path / "s.png")
    assert result.exit_code == 1, result.output  # the job failed: not a usage error after the run
    assert "contact sheet not written: " in result.output and "no saved videos" in result.output
    assert "1 job: 1 failed" in result.output and (tmp_path / "r.csv").is_file()
