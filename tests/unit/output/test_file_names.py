"""Download file names: one safe name per job on every file system, clashes refused."""

from __future__ import annotations

import pytest

from batch_runner.errors import ConfigError
from batch_runner.jobs.model import Job
from batch_runner.output.file_names import (
    MAX_NAME_BYTES,
    assign_file_names,
    safe_filename,
)


def job(job_id="0123456789abcdef", name="hero", row=2, variant=1, **extras):
    return Job(job_id, 0, row, name, variant, "gccai", "hailuo-2.3", "text-to-video", "p", None, None, 6,
               "768P", extras=extras)


@pytest.mark.parametrize("text, expected", [
    ("nul.tar.gz", "_nul.tar.gz"),       # a device name whatever the extension
    ("Lpt1", "_Lpt1"),
    ("clip. ", "clip"),                  # Windows drops a trailing dot or space: so do we
    ("--help.mp4", "help.mp4"),          # never read as an option
    ("a\u0000b\u007fc.mp4", "a_b_c.mp4"),
    ("Cafe\u0301.mp4", "Caf\u00e9.mp4"),  # one spelling (NFC) for one name
    ("../..", "fallback.mp4"),
])
def test_names_are_safe_on_every_file_system(text, expected):
    assert safe_filename(text, "fallback.mp4") == expected


def test_a_long_name_is_cut_to_whole_characters_and_keeps_its_extension():
    name = safe_filename("視頻" * 100 + ".mp4", "x.mp4")
    assert name.endswith("視頻.mp4") or name.endswith("視.mp4")
    assert len(name.encode()) <= MAX_NAME_BYTES and name.encode().decode() == name
    odd = safe_filename("x." + "é" * 300, "x.mp4")  # an "extension" too long to keep
    assert len(odd.encode()) <= MAX_NAME_BYTES and odd.startswith("x.é")


def test_names_that_differ_only_in_case_clash():
    with pytest.raises(ConfigError, match=r"rows 2 and 3 would both be saved as Hero\.mp4"):
        assign_file_names([job(name="hero"), job("fedcba9876543210", name="Hero", row=3)], "{name}.mp4")


def test_template_placeholders_take_job_fields_and_columns_in_any_case():
    names = assign_file_names([job(Colour="red"), job("fedcba9876543210", variant=2, Colour="blue")],
                              "{COLOUR}-{Variant}.mp4")
    assert names == {"0123456789abcdef": "red-1.mp4", "fedcba9876543210": "blue-2.mp4"}
    with pytest.raises(ConfigError, match="--download-name"):
        assign_file_names([job()], "{name")
    assert assign_file_names([], "{anything}.mp4") == {}
