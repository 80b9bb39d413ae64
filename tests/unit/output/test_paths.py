"""check_outputs on its own: what it refuses, and that it leaves nothing behind."""

from __future__ import annotations

import os

import pytest

from batch_runner.output.paths import (
    OutputPathError,
    check_outputs,
    check_run_outputs,
    journal_outputs,
    report_output,
    results_output,
)


def test_a_hard_link_to_the_manifest_is_the_manifest(tmp_path):
    manifest = tmp_path / "campaign.csv"
    manifest.write_text("prompt\na fox\n", encoding="utf-8")
    os.link(manifest, tmp_path / "copy.csv")
    with pytest.raises(OutputPathError, match="is the manifest; writing the results CSV there") as err:
        check_run_outputs(output=tmp_path / "copy.csv", state=tmp_path / "j.sqlite", manifest=manifest)
    assert (err.value.option, err.value.path) == ("-o", tmp_path / "copy.csv")


def test_the_lock_file_counts_as_an_output(tmp_path):
    manifest = tmp_path / "m.yaml.lock"  # an odd name, but the journal's lock file would overwrite it
    manifest.write_text("jobs: []\n", encoding="utf-8")
    with pytest.raises(OutputPathError, match="the journal's lock file"):
        check_run_outputs(output=tmp_path / "r.csv", state=tmp_path / "m.yaml", manifest=manifest)


def test_good_paths_pass_and_leave_nothing_behind(tmp_path):
    (tmp_path / "old.csv").write_text("job_id\n", encoding="utf-8")
    (tmp_path / "old.csv").chmod(0o444)  # replaced through a temporary file: its own mode does not matter
    check_outputs([results_output(tmp_path / "old.csv"), results_output(tmp_path / "new" / "deeper" / "R.CSV"),
                   report_output(tmp_path / "r.htm"), *journal_outputs(tmp_path / "j.sqlite")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.csv"]


def test_a_folder_where_a_file_is_meant_shows_a_file_name(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(OutputPathError) as err:
        check_outputs(journal_outputs(tmp_path / "out"))
    assert str(err.value) == f"--journal {tmp_path / 'out'}: is a folder; the journal needs a file name, " \
                             f"e.g. {tmp_path / 'out' / 'journal.sqlite'}"


def test_an_existing_csv_that_is_not_results_is_never_overwritten(tmp_path):
    manifest = tmp_path / "m.yaml"
    manifest.write_text("jobs: []\n", encoding="utf-8")
    other = tmp_path / "products.csv"  # another campaign's sheet, say
    other.write_text("prompt,provider\na shoe,gccai\n", encoding="utf-8")
    with pytest.raises(OutputPathError, match="is not the results CSV of an earlier run"):
        check_run_outputs(output=other, state=tmp_path / "j.sqlite", manifest=manifest)
    assert other.read_text(encoding="utf-8") == "prompt,provider\na shoe,gccai\n"
    earlier = tmp_path / "results.csv"
    earlier.write_bytes(b'\xef\xbb\xbf"job_id","row"\n')  # a results CSV of an earlier run: replaced
    check_run_outputs(output=earlier, state=tmp_path / "j.sqlite", manifest=manifest)
