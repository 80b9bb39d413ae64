"""The deliverables of one run against the simulator: the results workbook (read back
with openpyxl, then opened by LibreOffice Calc), the report and the contact sheet.

LibreOffice (``soffice``, Debian's ``libreoffice-calc-nogui``, installed by .ci/run):
without it the LibreOffice test is skipped with a notice, except under CI=true,
where it fails.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from openpyxl import load_workbook
from PIL import Image

from browser.test_report_chromium import in_ci

EVIL = "=cmd|' /C calc'!A0"


def soffice_or_skip() -> str:
    """The path of ``soffice``; skipped with what to install when missing, failed under CI."""
    found = shutil.which("soffice")
    if found is None:
        missing = "no soffice on PATH: install LibreOffice Calc (Debian: apt-get install libreoffice-calc-nogui)"
        if in_ci():
            pytest.fail(f"{missing} (CI must open the workbook in LibreOffice)")
        pytest.skip(missing)
    return found


@pytest.fixture(scope="module")
def delivered(tmp_path_factory) -> Path:
    """One simulated run of a 2 x 2 matrix (one refused job) writing every deliverable."""
    from click.testing import CliRunner

    from batch_runner.cli import main
    from batch_runner.simulator.config import ProviderSimConfig

    folder = tmp_path_factory.mktemp("delivered")
    marker = ProviderSimConfig().content_policy_marker
    (folder / "m.yaml").write_text(yaml.safe_dump({
        "defaults": {"note": EVIL},
        "jobs": [{"name": "shoe-{background}", "provider": "gccai", "prompt": "A shoe on a {background}",
                  "matrix": {"background": ["white studio", "beach"], "duration": [6, 10]}},
                 {"name": "refused", "provider": "minimax", "prompt": f"forbidden {marker}"}],
    }), encoding="utf-8")
    out = folder / "out"
    result = CliRunner().invoke(main, [
        "run", str(folder / "m.yaml"), "--simulate", "--no-canary", "--quiet", "-o", str(out / "results.xlsx"),
        "--download", str(out / "videos"), "--report", str(out / "report.html"),
        "--contact-sheet", str(out / "sheet.png"), "--contact-sheet-by", "background"], catch_exceptions=False)
    assert result.exit_code == 1, result.output  # the refused job failed
    return out


def test_the_workbook_reads_back_with_links_posters_and_types(delivered):
    book = load_workbook(delivered / "results.xlsx")
    sheet = book["Results"]
    header = [c.value for c in sheet[1]]
    rows = [dict(zip(header, (c for c in row), strict=True)) for row in sheet.iter_rows(min_row=2)]
    assert len(rows) == 5 and len(sheet._images) == 4  # one poster per saved video
    done = [r for r in rows if r["status"].value == "succeeded"]
    assert all(r["local_path"].hyperlink.target.startswith("videos/") for r in done)
    assert all(r["video_url"].hyperlink.target.startswith("http://127.0.0.1:") for r in done)
    assert all(isinstance(r["cost_usd"].value, float) and isinstance(r["duration"].value, int) for r in done)
    assert {r["note"].value for r in rows} == {"'" + EVIL}
    assert all(r["note"].data_type == "s" for r in rows)
    summary = {row[0].value: [c.value for c in row[1:]] for row in book["Summary"].iter_rows(min_row=2)}
    assert summary["all"][:3] == [5, 4, 1]  # jobs, succeeded, failed


def test_libreoffice_opens_the_workbook_and_keeps_text_as_text(delivered, tmp_path):
    soffice = soffice_or_skip()
    profile = f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}"  # its own, so runs never collide
    for kind in ("pdf", "csv"):
        done = subprocess.run([soffice, profile, "--headless", "--convert-to", kind, "--outdir", str(tmp_path),
                               str(delivered / "results.xlsx")], capture_output=True, text=True, timeout=180)
        assert done.returncode == 0 and "Error" not in done.stderr, (done.stdout, done.stderr)
    assert (tmp_path / "results.pdf").read_bytes().startswith(b"%PDF")
    with (tmp_path / "results.csv").open(encoding="utf-8", newline="") as fh:
        cells = list(csv.DictReader(fh))
    assert len(cells) == 5 and {c["note"] for c in cells} == {"'" + EVIL}  # never run as a formula
    assert {c["status"] for c in cells} == {"succeeded", "failed"}


def test_the_report_and_the_contact_sheet_come_from_the_workbook(delivered):
    page = (delivered / "report.html").read_text(encoding="utf-8")
    assert page.count(' poster="videos/') == 4
    with Image.open(delivered / "sheet.png") as img:
        # 2 bands (background: white studio, beach) of 2 tiles, then the refused job's blank band
        assert img.size == (16 * 2 + 2 * 256 + 8, 16 * 2 + 2 * 8 + 3 * (30 + 144 + 58))


def test_results_rebuilds_the_workbook_from_the_journal(delivered, cli):
    journal = delivered.parent / "m.yaml.simulate.journal.sqlite"
    result = cli("results", journal, "-o", delivered / "rebuilt.xlsx")
    assert result.exit_code == 0 and "5 rows" in result.output, result.output
    sheet = load_workbook(delivered / "rebuilt.xlsx")["Results"]
    assert sheet.max_row == 6 and len(sheet._images) == 4
    result = cli("results", journal, "-o", delivered / "report.html")
    assert result.exit_code == 2 and "written as .csv or .xlsx" not in result.output
    assert "needs a name ending in .csv or .xlsx" in result.output
