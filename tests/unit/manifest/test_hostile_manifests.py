"""Hostile manifests end in a clear error naming file, row/line and field (exit 2),
never a traceback, a hang or unbounded memory; odd but harmless input still runs."""

from __future__ import annotations

import codecs
import time
import tracemalloc
import zipfile

import pytest

from batch_runner.app import RunRequest, load_jobs
from batch_runner.errors import ManifestError
from batch_runner.manifest import bounds

from conftest import ROOT

KEYS = {f"{p.upper()}_API_KEY": "k-123456" for p in
        ("minimax", "gptge", "gccai", "gptproto", "apiinone", "apiframe")}


def problems(path, **kw) -> str:
    """The ManifestError text for ``path`` (fails if the manifest is accepted)."""
    with pytest.raises(ManifestError) as info:
        load_jobs(RunRequest(path, **kw), KEYS)
    return str(info.value)


def jobs(path, **kw):
    return load_jobs(RunRequest(path, **kw), KEYS)[0]


BILLION_LAUGHS = "\n".join(
    [f"{c}: &{c} [{', '.join(['*' + p] * 9 if p else ['lol'] * 9)}]"
     for p, c in zip(["", *"abcdefgh"], "abcdefghi", strict=True)]
    + ["jobs:", "  - {prompt: *i, provider: minimax}"]
)


def measured_problems(path) -> tuple[str, float, int]:
    """``problems(path)``, the seconds it took and its peak of Python memory (bytes):
    a bound against hangs and blow-ups, not a speed target."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        text = problems(path)
        return text, time.monotonic() - started, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_alias_bomb_is_refused_quickly_in_little_memory(write):
    text, elapsed, peak = measured_problems(write("laughs.yaml", BILLION_LAUGHS))
    assert "laughs.yaml: line" in text and "aliases are expanded" in text
    assert elapsed < 5 and peak < 50 * 2**20


@pytest.mark.parametrize("text, expected", [
    ("jobs: " + "[" * 100_000, "line 1: not valid YAML: nested more than 32 levels deep"),
    ("a: &x [1, *x]\njobs: [{prompt: p, provider: minimax}]\n",
     "line 1: not valid YAML: an anchor is used inside itself"),
    ("jobs:\n  - prompt: a\n    provider: minimax\n    prompt: b\n",
     "line 4: not valid YAML: duplicate key 'prompt' (first on line 2)"),
    ("jobs:\n  - {prompt: a, provider: minimax, 1: x}\n", "line 2: not valid YAML: a key must be text, not int"),
    ("jobs:\n  - {prompt: !!int x, provider: minimax}\n", "line 2: not valid YAML: not a valid int"),
    ("jobs:\n  - {prompt: a, provider: minimax, n: " + "9" * 5000 + "}\n", "line 2: not valid YAML: not a valid int"),
    ("jobs:\n  - {prompt: !!python/object:os.system x, provider: minimax}\n", "could not determine a constructor"),
    ("jobs:\n  - {prompt: \"bell\\a\", provider: minimax}\n", "field 'prompt': contains a control character (U+0007)"),
    ("jobs:\n  - {prompt: \"\\u202eevil\", provider: minimax}\n", "contains a bidirectional override (U+202E)"),
    ("jobs:\n  - {prompt: a, provider: minimax, duration: -6}\n",
     "line 2, field 'duration': -6 is not allowed. Allowed: 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15."),
    ("jobs:\n  - {prompt: a, provider: minimax, duration: 6.5}\n", "field 'duration': 6.5 is not an integer"),
    ("jobs:\n  - {prompt: a, provider: minimax, duration: .nan}\n", "field 'duration': nan is not"),
    ("jobs:\n  - {prompt: a, provider: minimax, weight: .inf}\n",
     "field 'weight': inf is not a number: use a finite number"),
    ("providers:\n  minimax: {poll_interval_s: .inf}\njobs:\n  - {prompt: a, provider: minimax}\n",
     "field 'providers.minimax.poll_interval_s': inf is not a number"),
    ("jobs:\n  - {prompt: a, provider: minimax, variants: 100}\n" * 1
     + "  - {prompt: b, provider: minimax, variants: 100}\n" * 1000,
     "jobs; a run may have at most 100,000"),
])
def test_hostile_yaml_is_a_clear_error(write, text, expected):
    assert expected in problems(write("m.yaml", text))


def test_undecodable_command_line_bytes_are_refused(write):
    path = write("m.csv", "prompt,provider\nhello,minimax\n")
    assert "field 'name': contains a lone surrogate (U+DCFF)" in problems(path, sets=["name=\udcff"])


def test_odd_but_harmless_yaml_runs(write):
    path = write("m.yaml", "jobs:\n"
                           "  - &base {provider: minimax, prompt: \"line one\\nline two\\ttab\", launch: 2026-03-01}\n"
                           "  - {<<: *base, prompt: b, duration: 10.0}\n")
    first, second = jobs(path)
    assert first.prompt == "line one\nline two\ttab" and first.extras["launch"] == "2026-03-01"
    assert second.duration == 10


def test_files_over_the_size_limits_are_refused_before_reading(tmp_path):
    for name, limit in (("big.csv", bounds.MAX_MANIFEST_BYTES), ("big.yaml", bounds.MAX_YAML_BYTES)):
        path = tmp_path / name
        with path.open("wb") as fh:
            fh.truncate(50 * 2**20)  # a sparse 50 MiB file: no 50 MiB written
        assert f"the file is 50.0 MiB; a manifest may be at most {limit / 2**20:g} MiB" in problems(path)


def test_a_million_rows_are_refused(write):
    path = write("rows.csv", "prompt,provider\n" + "p,minimax\n" * 1_000_000)
    assert "more than 100,000 rows: split the manifest" in problems(path)


def test_long_cells_and_too_many_columns_are_refused(write):
    path = write("cell.csv", "prompt,provider,note\nhi,minimax," + "x" * 20_000 + "\n")
    assert "cell.csv: row 2, field 'note': has 20,000 characters; a cell may have at most 10,000" in problems(path)
    path = write("wide.csv", ",".join(f"c{i}" for i in range(1000)) + "\n")
    assert "wide.csv: row 1: 1000 columns; at most 200 are allowed" in problems(path)
    path = write("twice.csv", "prompt,provider,Prompt \nfirst,minimax,second\n")
    assert "headers 'prompt' and 'Prompt' both give 'prompt'" in problems(path)


@pytest.mark.parametrize("data, expected", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "m.csv: line 1: not UTF-8 text (byte 0x89)"),
    (b"\x7fELF\x02\x01\x01\x00\x00", "m.csv: line 1: contains NUL bytes: this is a binary file"),
    ("prompt,provider\ncaf\u00e9,minimax\n".encode("latin-1"), "m.csv: line 2: not UTF-8 text (byte 0xe9)"),
    (b"prompt,provider\n\"unterminated,minimax\n", "m.csv: row 2, field 'provider'"),
    (b"", "m.csv: no job rows"),
    (codecs.BOM_UTF16_LE + "prompt\n".encode("utf-16-le") + b"x", "m.csv: line 2: not UTF-16 text (byte 0x78)"),
    (codecs.BOM_UTF16_LE + b"\x00\xd8a\x00", "m.csv: line 1: not UTF-16 text (byte 0x00)"),  # a lone surrogate
    (codecs.BOM_UTF16_BE + b"\x00p\x00", "m.csv: line 1: not UTF-16 text"),  # cut short
    ("prompt,provider\nhello,minimax\n".encode("utf-16-le"),
     "m.csv: line 1: looks like UTF-16 without a byte-order mark: save the file as UTF-8"),
])
def test_binary_and_wrongly_encoded_csv_is_a_clear_error(tmp_path, data, expected):
    path = tmp_path / "m.csv"
    path.write_bytes(data)
    assert expected in problems(path)


def test_utf16_one_column_and_semicolon_sheets_are_read(tmp_path):
    utf16 = tmp_path / "unicode.csv"  # Excel's "Unicode text": UTF-16 with a BOM, tab separated
    utf16.write_bytes(codecs.BOM_UTF16_LE + "prompt\tprovider\n[推进] 海边\tminimax\n".encode("utf-16-le"))
    assert jobs(utf16)[0].prompt == "[推进] 海边"
    one = tmp_path / "one.csv"  # a single column: the sniffer used to pick a letter as separator
    one.write_text("prompt\nhello\n", encoding="utf-8")
    assert jobs(one, sets=["provider=minimax"])[0].prompt == "hello"
    semi = tmp_path / "semi.csv"
    semi.write_text("prompt;provider;duration\nhello, world;minimax;6,0\n", encoding="utf-8")
    assert "field 'duration'" in problems(semi)  # 6,0 is not a number: said, not guessed


def test_damaged_excel_files_are_a_clear_error(tmp_path, monkeypatch):
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"not a zip at all")
    assert "junk.xlsx: not an Excel .xlsx file" in problems(junk)
    empty = tmp_path / "empty.xlsx"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("hello.txt", "no workbook here")
    assert "empty.xlsx: cannot read as an Excel workbook" in problems(empty)
    monkeypatch.setattr(bounds, "MAX_XLSX_UNPACKED_BYTES", 2**20)
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * 3 * 2**20)
    assert bomb.stat().st_size < 20_000
    assert "bomb.xlsx: unpacks to 3 MiB; at most 1 MiB are allowed" in problems(bomb)


@pytest.mark.parametrize("cell, reason", [
    ("use sk-proj-AbCdEf0123456789xyzXYZ", "it starts with 'sk-'"),
    ("afk_live_0123456789abcdef", "like an apiframe key"),
    ("aio_0123456789abcdefgh", "like an apiin.one key"),
    ("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl", "JSON Web Token"),
    ("Bearer abcdefghijklmnopqrstuvwxyz", "Bearer token"),
    ("token q8Z3xK0pL2vN7mR4tY6wB1cD9fH5jS0a here", "long random-looking token"),
])
def test_a_key_pasted_in_a_cell_is_refused_without_echoing_it(write, cell, reason):
    secret = cell.split()[-2] if cell.endswith(" here") else cell.split()[-1]
    text = problems(write("m.csv", f"prompt,provider,note\nhello,minimax,{cell}\n"))
    assert "m.csv: row 2, field 'note': looks like an API key or token (" in text and reason in text
    assert "keys belong in the environment" in text and secret not in text


def test_the_value_of_a_real_key_is_refused_and_columns_named_like_secrets(write):
    key = "zz-this-is-my-real-minimax-key-0001"
    path = write("m.csv", f"prompt,provider\nuse {key},minimax\n")
    with pytest.raises(ManifestError) as info:
        load_jobs(RunRequest(path), {**KEYS, "MINIMAX_API_KEY": key})
    assert "holds the value of one of your API keys" in str(info.value) and key not in str(info.value)
    for column in ("api_key", "API Key", "access_token", "client_secret", "password"):
        text = problems(write("c.csv", f"prompt,provider,{column}\nhello,minimax,x\n"))
        assert f"field '{column}': column name '{column}' names a secret" in text


def test_ordinary_campaign_text_is_not_taken_for_a_key(write):
    path = write("m.csv", "prompt,provider,hashtag,image\n"
                 "SpringLaunch2026TrailRunnerCollection at dawn,minimax,#TrailRunner2026SpringLaunchHeroVideoV2Final,"
                 "https://cdn.example.com/a.png?X-Amz-Signature=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
                 "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE\n")
    assert len(jobs(path)) == 1
    for name in ("example.yaml", "example.csv"):
        assert len(jobs(ROOT / "manifests" / name)) == 17


def test_problem_lists_are_capped_in_the_message(write):
    path = write("m.csv", "prompt,provider\n" + "hi,nobody\n" * 500)
    text = problems(path)
    assert "500 problem(s)" in text and "... and 300 more" in text


@pytest.mark.timeout(30)
@pytest.mark.parametrize("matrix, rows", [
    ("".join(f"  v{i}: [a, b, c, d, e, f, g, h, i, j]\n" for i in range(12)), 1),  # 10^12 combinations
    ("  a: [" + ", ".join(f"x{i}" for i in range(100)) + "]\n  b: [" + ", ".join(f"y{i}" for i in range(100))
     + "]\n  c: [" + ", ".join(f"z{i}" for i in range(11)) + "]\n", 1),  # 110,000: just over
])
def test_a_matrix_bomb_is_refused_before_it_is_expanded(write, matrix, rows):
    path = write("m.yaml", "matrix:\n" + matrix + "jobs:\n" + "  - {prompt: hi, provider: minimax}\n" * rows)
    text, elapsed, peak = measured_problems(path)
    assert "field 'matrix'" in text and "a run may have at most 100,000" in text
    assert elapsed < 5 and peak < 200 * 2**20


def test_a_matrix_of_a_sheet_is_bounded_too(write):  # refused at the row that goes over
    write("rows.csv", "prompt\n" + "".join(f"p{i}\n" for i in range(2000)))
    path = write("m.yaml", "source: rows.csv\ndefaults: {provider: minimax}\nmatrix:\n  a: ["
                 + ", ".join(f"x{i}" for i in range(60)) + "]\n")
    text = problems(path)
    assert "rows.csv: row 1668, field 'matrix'" in text and "a run may have at most 100,000" in text


@pytest.mark.parametrize("header, field", [("prompt,provider,prompt", "prompt"), ("prompt,provider,sku, sku", "sku")])
def test_the_same_header_twice_is_an_error_not_a_silent_overwrite(write, header, field):
    row = ",".join(["first", "minimax", "second", "third"][: header.count(",") + 1])
    text = problems(write("m.csv", f"{header}\n{row}\n"))
    assert f"m.csv: row 1, field '{field}': columns" in text and "have the same header" in text
