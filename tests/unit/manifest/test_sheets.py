"""Spreadsheets as marketers export them: every quirk gives the same jobs, or a clear error."""

from __future__ import annotations

import pytest
from openpyxl import Workbook

from batch_runner.app import RunRequest, load_jobs

from conftest import DATA, ROOT

KEYS = {f"{p.upper()}_API_KEY": "k-123456" for p in
        ("minimax", "gptge", "gccai", "gptproto", "apiinone", "apiframe")}
HEADER = "name,prompt,provider,duration,resolution"
ROWS = ["a,Studio shot of a sneaker [推进],apiframe,6,768P",
        'b,"Morning, ""fresh start"" mood:\nthe mug steams [固定]",apiframe,10,768P']


def jobs_of(path, **kw):
    jobs, manifest = load_jobs(RunRequest(path, **kw), KEYS)
    return jobs, manifest


def write_bytes(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.fixture
def reference(tmp_path):
    """Job ids of the plain comma/LF/UTF-8 sheet every variant must reproduce."""
    path = write_bytes(tmp_path, "ref.csv", ("\n".join([HEADER, *ROWS]) + "\n").encode())
    jobs, _ = jobs_of(path)
    assert [j.name for j in jobs] == ["a", "b"]
    assert jobs[1].prompt == 'Morning, "fresh start" mood:\nthe mug steams [固定]'
    return [j.job_id for j in jobs]


@pytest.mark.parametrize("variant", [
    "bom", "semicolon", "tab", "crlf", "sep-line", "utf16", "trailing-blank-rows",
    "trailing-blank-columns", "ragged-rows", "header-case-and-units", "blank-rows-above-header", "cell-spaces",
])
def test_export_quirks_give_the_same_jobs(tmp_path, reference, variant):
    header, rows, sep, nl, enc, pre = HEADER, list(ROWS), ",", "\n", "utf-8", b""
    if variant == "bom":
        pre = b"\xef\xbb\xbf"
    elif variant == "semicolon":  # Excel in a locale with decimal commas
        sep = ";"
    elif variant == "tab":
        sep = "\t"
    elif variant == "crlf":  # Windows line ends, also inside the quoted cell
        nl = "\r\n"
        rows[1] = rows[1].replace("\n", "\r\n")
    elif variant == "sep-line":  # Excel's "sep=;" directive line
        sep, header = ";", "sep=;\n" + header
    elif variant == "utf16":  # Excel "Unicode Text": UTF-16 with BOM, tabs
        sep, enc = "\t", "utf-16"
    elif variant == "trailing-blank-rows":
        rows += ["", ",,,,", ",,,,", ""]
    elif variant == "trailing-blank-columns":
        header += ",,,"
        rows = [r + ",,," for r in rows]
    elif variant == "ragged-rows":  # rows longer than the header, by empty cells
        rows = [rows[0] + ",,", rows[1] + ","]
    elif variant == "header-case-and-units":
        header = " Name ,PROMPT,Provider,Duration (s),Resolution [px]"
    elif variant == "blank-rows-above-header":
        header = ",,,,\n" + header
    elif variant == "cell-spaces":
        rows[0] = " a ,  Studio shot of a sneaker [推进]\u00a0, apiframe ,6 , 768P"
    if sep != ",":
        header = header.replace(",", sep)
        rows = [r.replace(",", sep, 4) if i == 0 else _resep(r, sep) for i, r in enumerate(rows)]
    text = nl.join([header, *rows]) + nl
    path = write_bytes(tmp_path, "sheet.csv", pre + text.encode(enc))
    jobs, _ = jobs_of(path)
    assert [j.job_id for j in jobs] == reference, variant


def _resep(row: str, sep: str) -> str:
    """Change the delimiter of the quoted-cell row (commas inside quotes stay)."""
    out, quoted = [], False
    for ch in row:
        if ch == '"':
            quoted = not quoted
        out.append(sep if ch == "," and not quoted else ch)
    return "".join(out)


@pytest.mark.parametrize("sep", [",", ";"])
def test_one_column_sheet_keeps_delimiters_inside_prompts(write, sep):
    other = ";" if sep == "," else ","
    path = write("one.csv", f'Prompt\n"Beach{sep} sunset [下降]"\nCity{other} night [跟随]\n')
    jobs, _ = jobs_of(path, sets=["provider=gccai"])
    assert [j.prompt for j in jobs] == [f"Beach{sep} sunset [下降]", f"City{other} night [跟随]"]


def test_blank_rows_keep_spreadsheet_row_numbers_in_errors(cli, write):
    path = write("gaps.csv", "prompt,provider,duration\nok,apiframe,6\n\n,,\nbad,apiframe,7\n")
    result = cli("validate", path, "--simulate")
    assert result.exit_code == 2
    assert "gaps.csv: row 5, field 'resolution': 768P with 7 s is not offered by apiframe" in result.output


def test_stored_exports_of_excel_google_sheets_and_libreoffice(cli):
    for name, expected in (("excel-semicolon.csv", "2 jobs"), ("google-sheets.csv", "2 jobs"),
                           ("libreoffice-tab.tsv", "2 jobs")):
        result = cli("validate", DATA / name, "--simulate")
        assert result.exit_code == 0, result.output
        assert expected in result.output
    jobs, _ = jobs_of(DATA / "excel-semicolon.csv")
    assert jobs[0].prompt == "Studio shot of the TR-100 sneaker; white background [推进]"
    assert jobs[0].image == "https://cdn.example-shop.com/img/tr100.jpg"  # "Image URL" header
    assert (jobs[0].duration, jobs[0].resolution) == (6, "768P")  # "Duration (s)", "768p"
    assert jobs[0].extras == {"SKU": "007"} and jobs[1].extras == {"SKU": "NA"}  # text stays text
    assert jobs[1].prompt == 'Morning routine, "fresh start" mood:\nthe mug steams [固定]'


def test_not_utf8_is_refused_with_how_to_export(cli, tmp_path):
    path = write_bytes(tmp_path, "latin.csv", "prompt,provider\ncafé crème,apiframe\n".encode("cp1252"))
    result = cli("validate", path, "--simulate")
    assert result.exit_code == 2
    assert "latin.csv: line 2: not UTF-8 text" in result.output and "CSV UTF-8" in result.output


def test_column_with_values_but_no_header_is_an_error(cli, write):
    path = write("nohead.csv", "prompt,provider,\nhi,apiframe,oops\n")
    result = cli("validate", path, "--simulate")
    assert result.exit_code == 2
    assert "nohead.csv: row 2: column 3 has values but no header: name it in row 1" in result.output


def test_two_headers_for_one_field_are_an_error_unless_mapped(cli, write, tmp_path):
    sheet = write("two.csv", "Prompt (draft),Prompt (final),provider\nold text,new text [推进],apiframe\n")
    result = cli("validate", sheet, "--simulate")
    assert result.exit_code == 2
    assert "headers 'Prompt (draft)' and 'Prompt (final)' both give 'prompt'" in result.output
    manifest = write("two.yaml", "source: two.csv\ncolumns:\n  Prompt (final): prompt\n  Prompt (draft): draft\n")
    jobs, _ = jobs_of(manifest)
    assert jobs[0].prompt == "new text [推进]" and jobs[0].extras == {"draft": "old text"}


def workbook(path, sheets: dict[str, list[list]]):
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def test_excel_first_sheet_or_named_sheet(cli, tmp_path):
    path = workbook(tmp_path / "campaign.xlsx", {
        "Launch": [["Name", "Prompt", "Provider", "Duration (s)", "Prompt Optimizer", "SKU", None],
                   ["x1", "Shot one [推进]", "gccai", 10, True, "007", None],
                   [None, None, None, None, None, None, None],
                   ["x2", "Shot two [Zoom in]", "gccai", 6.0, False, 42, None]],
        "Retail": [["prompt", "provider"], ["Shelf shot [固定]", "minimax"]],
    })
    jobs, _ = jobs_of(path)
    assert [(j.name, j.duration, j.prompt_optimizer, j.row) for j in jobs] == [
        ("x1", 10, True, 2), ("x2", 6, False, 4)]
    assert jobs[0].extras == {"SKU": "007"} and jobs[1].extras == {"SKU": "42"}
    retail, _ = jobs_of(path, sheet="retail")
    assert [j.provider for j in retail] == ["minimax"]
    result = cli("validate", path, "--sheet", "Outlet", "--simulate")
    assert result.exit_code == 2
    assert "campaign.xlsx: no sheet named 'Outlet'; sheets: Launch, Retail" in result.output
    result = cli("validate", path, "--sheet", "Retail", "--simulate")
    assert result.exit_code == 0 and "1 job " in result.output


def test_yaml_source_with_columns_defaults_templates_and_matrix(tmp_path, write):
    workbook(tmp_path / "products.xlsx", {"Sheet1": [
        ["Product Name", "Hero shot", "Mood", "SKU"],
        ["Trail Runner 100", "https://cdn.example-shop.com/tr100.jpg", "energetic", "TR-100"],
        ["Cold Brew 220", "https://cdn.example-shop.com/cb220.jpg", "calm", "CB-220"],
    ]})
    manifest = write("campaign.yaml", """
source: products.xlsx
columns: {Product Name: product, Hero shot: image}
defaults:
  provider: gccai
  name: "{sku}-{background}-{duration}s"
  prompt: "{product} on a {background}, {mood} mood [推进]"
matrix:
  background: [white studio, beach at sunset, forest trail]
  duration: [6, 10]
""")
    jobs, manifest_ = jobs_of(manifest)
    assert len(jobs) == 2 * 3 * 2
    first = jobs[0]
    assert first.prompt == "Trail Runner 100 on a white studio, energetic mood [推进]"
    assert (first.name, first.duration, first.image) == (
        "TR-100-white studio-6s", 6, "https://cdn.example-shop.com/tr100.jpg")
    assert first.extras["background"] == "white studio"  # matrix values reach the results
    assert {j.duration for j in jobs} == {6, 10}
    assert len({j.job_id for j in jobs}) == 12
    assert manifest_.rows[1].where == "products.xlsx: row 2 (background=white studio, duration=10)"


def test_missing_template_variable_names_row_and_variable(cli, write):
    write("sheet.csv", "product,provider\nTrail Runner,gccai\n,gccai\n")
    manifest = write("m.yaml", 'source: sheet.csv\ndefaults: {prompt: "{product} on a {backgrnd} {{literal}}"}\n')
    result = cli("validate", manifest, "--simulate")
    assert result.exit_code == 2
    out = result.output
    # a variable no row can fill is one line at its YAML line, not one per row
    assert ("m.yaml: line 2, field 'defaults.prompt': template variable {backgrnd} names no column, default or "
            "matrix entry: add that column, or use one of: product, prompt, provider") in out
    assert "{backgrnd} has no value in this row" not in out
    assert "sheet.csv: row 3, field 'prompt': template variable {product} has no value in this row" in out
    write("ok.csv", "product,background,provider\nTrail Runner,beach,gccai\n")
    jobs, _ = jobs_of(write("ok.yaml", "source: ok.csv\n"
                                       'defaults: {prompt: "{Product} on a {background} {{literal}}"}\n'))
    assert jobs[0].prompt == "Trail Runner on a beach {literal}"


def test_per_job_matrix_in_yaml(write):
    jobs, _ = jobs_of(write("m.yaml", """
defaults: {provider: apiframe}
jobs:
  - prompt: "A sneaker on a {surface} [Pan left, Zoom in]"
    matrix: {surface: [rock, sand, snow], resolution: [768P, 1080P]}
"""))
    assert len(jobs) == 6
    assert {j.resolution for j in jobs} == {"768P", "1080P"}
    assert jobs[0].prompt == "A sneaker on a rock [Pan left, Zoom in]"


def test_unknown_camera_commands_are_warnings_and_strict_refuses_them(cli, write):
    path = write("cam.csv", "prompt,provider\n"
                 '"ok [推进] then [Push in] and [pan LEFT,Zoom in\uff0c上升]",apiframe\n'
                 "typo [Zoom inn],apiframe\n"
                 "typo again [Zoom inn],apiframe\n"
                 "\"four [左移,右移,推进,拉远]\",apiframe\n")
    result = cli("validate", path, "--simulate")
    assert result.exit_code == 0, result.output
    out = result.output
    assert ("cam.csv: row 3, row 4, field 'prompt': warning: [Zoom inn]: 'Zoom inn' is not a camera "
            "command (did you mean [Zoom in]?)") in out
    assert "cam.csv: row 5, field 'prompt': warning: [左移,右移,推进,拉远]: 4 commands in one bracket; at most 3" in out
    assert "row 2" not in out
    strict = cli("validate", path, "--simulate", "--strict")
    assert strict.exit_code == 2
    assert "[Zoom inn]" in strict.output and "warning:" not in strict.output


def test_run_prints_camera_warnings_before_any_request_and_strict_sends_nothing(cli, write, tmp_path):
    path = write("cam.csv", "prompt,provider\ntypo [Zoom inn],apiframe\n")
    out = tmp_path / "r.csv"
    result = cli("run", path, "--simulate", "-o", out, "--strict")
    assert result.exit_code == 2 and "[Zoom inn]" in result.output
    assert not out.exists()  # refused before the journal or any request
    result = cli("run", path, "--simulate", "-o", out, "--dry-run")
    assert result.exit_code == 0


def test_sheet_without_rows_or_with_bad_source_is_clear(cli, write):
    assert "no job rows" in cli("validate", write("e.csv", "prompt,provider\n,,\n"), "--simulate").output
    result = cli("validate", write("s.yaml", "source: missing.xlsx\n"), "--simulate")
    assert result.exit_code == 2 and "s.yaml, field 'source': no CSV or Excel sheet at missing.xlsx" in result.output
    result = cli("validate", write("b.yaml", "source: x.csv\njobs: [{prompt: a}]\n"), "--simulate")
    assert result.exit_code == 2 and "use either a jobs list or a source sheet" in result.output
    write("x.csv", "prompt,provider\nhi,apiframe\n")
    result = cli("validate", write("c.yaml", "source: x.csv\ncolumns: {Promt: prompt}\n"), "--simulate")
    assert result.exit_code == 2 and "no header 'Promt' in x.csv; its headers: prompt, provider" in result.output


def test_example_campaign_sheet_manifest(cli):
    result = cli("validate", ROOT / "manifests" / "campaign-sheet.yaml", "--simulate")
    assert result.exit_code == 0, result.output
    assert "12 jobs (12 on gccai)" in result.output
    jobs, _ = jobs_of(ROOT / "manifests" / "campaign-sheet.yaml")
    assert jobs[0].prompt == "Trail Runner 100 on a white studio, energetic mood, soft light [推进]"
    assert (jobs[0].name, jobs[0].image) == ("TR-100-white studio", "https://cdn.example-shop.com/img/tr100-hero.jpg")


# the 15 commands of MiniMax's t2v page (docs/providers.md), in English and in Chinese
CAMERA_EN = ["Truck left", "Truck right", "Pan left", "Pan right", "Push in", "Pull out", "Pedestal up",
             "Pedestal down", "Tilt up", "Tilt down", "Zoom in", "Zoom out", "Shake", "Tracking shot", "Static shot"]
CAMERA_ZH = ["左移", "右移", "左摇", "右摇", "推进", "拉远", "上升", "下降", "上摇", "下摇", "变焦推近", "变焦拉远",
             "晃动", "跟随", "固定"]


def test_all_15_camera_commands_are_recognised_in_both_languages():
    from batch_runner.manifest.camera import camera_warnings

    assert len(set(CAMERA_EN)) == len(set(CAMERA_ZH)) == 15
    for command in CAMERA_EN + CAMERA_ZH + [c.upper() for c in CAMERA_EN]:
        assert camera_warnings(f"a sneaker [{command}]") == [], command
    assert camera_warnings("a sneaker [Zoom in, Shake,跟随]") == []
    assert camera_warnings("a sneaker [Zoom inn]")  # anything else is a warning
