"""``--rows`` specs: which row numbers they choose, what they refuse, and the rows they
name that the manifest does not have."""

from __future__ import annotations

import pytest

from batch_runner.jobs.selection import describe_rows, parse_rows


@pytest.mark.parametrize(("spec", "inside", "outside"), [
    ("2-10", [2, 5, 10], [1, 11]),
    ("2,5,7-9", [2, 5, 7, 8, 9], [3, 4, 6, 10]),
    (" 3 - 4 , 6 ", [3, 4, 6], [2, 5, 7]),
    ("4", [4], [3, 5]),
    ("2-1000000000", [2, 999_999_999], [1]),  # a wide range is two numbers, not a set
])
def test_a_spec_chooses_its_rows(spec, inside, outside):
    rows = parse_rows(spec)
    assert all(r in rows for r in inside)
    assert not any(r in rows for r in outside)


@pytest.mark.parametrize(("spec", "said"), [
    ("2-x", "'2-x' is not a row number or a range like 2-10"),
    ("4-2", "the range ends before it starts (write 2-4)"),
    ("0", "rows are numbered from 1"),
    ("2,,3", "an empty part"),
    ("", "an empty part"),
    ("-3", "'-3' is not a row number"),
    ("2.5", "'2.5' is not a row number"),
])
def test_a_bad_spec_says_what_is_wrong(spec, said):
    with pytest.raises(ValueError, match=said.replace("(", r"\(").replace(")", r"\)")):
        parse_rows(spec)


def test_rows_past_either_end_of_the_manifest_are_named():
    assert parse_rows("1-3,5,7-12").outside(2, 6) == "1, 7-12"
    assert parse_rows("2-6").outside(2, 6) == ""
    assert parse_rows("3,5").outside(2, 11) == ""  # inside, even between a YAML manifest's jobs


def test_rows_are_written_short():
    assert describe_rows([6, 2, 3, 4, 9, 3]) == "2-4, 6, 9"
    assert describe_rows([]) == ""
