"""Results for Excel, the report of an Excel-saved results CSV, JSON that never
says 0.0 for an unknown price, and a plan of ``auto`` jobs without any key.

Through the CLI, against the bundled simulator on 127.0.0.1 (``--simulate``).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
from pathlib import Path

import pytest

PROMPT = "A trail shoe on wet rock [推进] [Zoom in]"


def campaign(tmp_path: Path, rows: str) -> Path:
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "campaign.csv"
    path.write_text("name,prompt,provider,resolution,duration\n" + rows, encoding="utf-8")
    return path


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_results_csv_has_a_bom_for_excel_and_the_mode_of_a_plain_open(cli, tmp_path, umask_022):
    path = campaign(tmp_path, f"hero,{PROMPT},minimax,768P,6\n")
    out, report = tmp_path / "results.csv", tmp_path / "report.html"
    result = cli("run", path, "--simulate", "-o", out, "--report", report)
    assert result.exit_code == 0, result.output
    raw = out.read_bytes()
    assert raw.startswith(codecs.BOM_UTF8)  # Excel reads UTF-8 (and shows [推进]) only after a BOM
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0]["job_id"] and rows[0]["prompt"] == PROMPT
    assert out.stat().st_mode & 0o777 == 0o644  # what open() gives under umask 022, not 0600
    assert report.stat().st_mode & 0o777 == 0o644
    out.chmod(0o640)  # a file the user made private stays private when it is written again
    assert cli("results", tmp_path / "campaign.csv.simulate.journal.sqlite", "-o", out).exit_code == 0
    assert out.stat().st_mode & 0o777 == 0o640


def excel_resave(results: Path, dest: Path) -> None:
    """The results CSV as Excel in a comma-decimal locale saves it again as
    'CSV UTF-8': ``;`` between cells, a BOM, CRLF, quotes only where needed,
    ``0,28`` for 0.28."""
    with results.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    decimal = re.compile(r"^-?\d+\.\d+$")
    rows = [[c.replace(".", ",") if decimal.match(c) else c for c in row] for row in rows]
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";", lineterminator="\r\n").writerows(rows)
    dest.write_bytes(codecs.BOM_UTF8 + buffer.getvalue().encode("utf-8"))


def test_report_reads_a_results_csv_excel_saved_again(cli, tmp_path):
    path = campaign(tmp_path, f"hero,{PROMPT},minimax,768P,6\n"
                              "line,\"two lines; one cell\nsecond\",minimax,768P,6\n"
                              "sku,A mug; on a table,gccai,768P,6\n")
    out = tmp_path / "results.csv"
    assert cli("run", path, "--simulate", "-o", out).exit_code == 0
    saved = tmp_path / "results-excel.csv"
    excel_resave(out, saved)
    assert b"\r\n" in saved.read_bytes() and b'"job_id"' not in saved.read_bytes()
    report = tmp_path / "report.html"
    result = cli("report", saved, "-o", report)
    assert result.exit_code == 0, result.output
    page = report.read_text(encoding="utf-8")
    assert page.count('<article class="tile ok"') == 3  # every job, every one succeeded
    assert "[推进]" in page and "A mug; on a table" in page and "two lines; one cell" in page
    assert "$0.28" in page and "$0.29" in page  # 0,28 read as a number, not as an unknown price
    assert "price unknown" not in page and "USD unknown" not in page


def json_events(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_summary_json_has_null_usd_with_a_count_for_an_unknown_price(cli, tmp_path):
    # apiframe prices in credits with no usd_per_credit: its USD is unknown, never 0.0
    path = campaign(tmp_path, "a,A shoe,apiframe,768P,6\nb,A mug,apiframe,768P,6\nc,A cat,minimax,768P,6\n")
    result = cli("run", path, "--simulate", "-o", tmp_path / "r.csv", "--log-format", "json", "--quiet")
    assert result.exit_code == 0, result.output
    summary = next(e for e in json_events(result.output) if e["event"] == "summary")
    assert summary["cost"]["apiframe"]["usd"] is None
    assert summary["cost"]["apiframe"]["usd_unknown_jobs"] == 2 and summary["cost"]["apiframe"]["videos"] == 2
    assert summary["cost"]["minimax"]["usd"] == 0.28 and summary["cost"]["minimax"]["usd_unknown_jobs"] == 0
    assert summary["cost_total"] == {"videos": 3, "credits": summary["cost_total"]["credits"], "usd": 0.28,
                                     "usd_unknown_jobs": 2}
    path = campaign(tmp_path / "other", "a,A shoe,apiframe,768P,6\n")  # nothing of known price: the total is null too
    result = cli("run", path, "--simulate", "-o", tmp_path / "r2.csv", "--log-format", "json", "--quiet")
    summary = next(e for e in json_events(result.output) if e["event"] == "summary")
    assert summary["cost_total"]["usd"] is None and summary["cost_total"]["usd_unknown_jobs"] == 1
    assert summary["plan"]["usd"] is None and summary["plan"]["usd_unknown_jobs"] == 1


def test_plan_json_has_null_usd_for_an_unknown_price(cli, tmp_path):
    path = campaign(tmp_path, "a,A shoe,apiframe,768P,6\nb,A cat,minimax,768P,6\n")
    result = cli("plan", path, "--format", "json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    by_provider = {p["provider"]: p for p in plan["providers"]}
    assert by_provider["apiframe"]["usd"] is None and by_provider["apiframe"]["usd_unknown_jobs"] == 1
    assert by_provider["minimax"]["usd"] == 0.28
    assert plan["total"]["usd"] == 0.28 and plan["total"]["usd_unknown_jobs"] == 1


def test_plan_of_auto_jobs_without_keys_lists_every_capable_provider_and_marks_the_missing_key(cli, tmp_path):
    path = campaign(tmp_path, "t2v,A shoe,auto,768P,6\n")
    result = cli("plan", path, "--format", "json", env={"GCCAI_API_KEY": "gc-key-123456"})
    assert result.exit_code == 0, result.output
    (route,) = json.loads(result.stdout)["routes"]
    listed = {p["provider"]: p for p in route["providers"]}
    # every provider that sells hailuo-2.3 768P 6 s text-to-video (apiinone runs it image-to-video only)
    assert set(listed) == {"minimax", "gptge", "gccai", "gptproto", "apiframe"}
    assert route["provider"] == "gccai" and listed["gccai"]["key"] is True  # what a run would choose
    assert [p for p, v in listed.items() if not v["key"]] == [p for p in listed if p != "gccai"]
    assert listed["minimax"]["usd"] == 0.28 and listed["apiframe"]["usd"] is None
    assert "minimax $0.28 (no key)" in route["why"]
    result = cli("plan", path)  # no key at all: the cheapest, marked
    assert result.exit_code == 0, result.output
    assert "row 2 -> auto: minimax at $0.28 (no key: set MINIMAX_API_KEY); then gccai $0.2928 (no key)" \
        in result.stdout


def test_capable_none_says_why(cli, tmp_path):
    path = campaign(tmp_path, "hd,A shoe,auto,1080P,10\n")
    for command in ("plan", "validate"):
        result = cli(command, path, "--simulate")
        assert result.exit_code == 2
        assert ("row 2, field 'provider': provider auto: no provider can run it (capable: none): no provider "
                "sells hailuo-2.3 at 1080P with 10 s (sold: 768P 6 s, 768P 10 s, 1080P 6 s)") in result.output
