"""write_atomically: the target holds the old bytes or the new ones, never a part."""

from __future__ import annotations

import os

import pytest

from batch_runner.output.atomic import write_atomically


def test_text_and_bytes_are_written_exactly_and_the_folder_is_made(tmp_path):
    path = tmp_path / "new" / "folder" / "report.html"
    assert write_atomically(path, "a\nb\r\nç") == path
    assert path.read_bytes() == "a\nb\r\nç".encode()  # UTF-8, no newline translation
    write_atomically(str(path), b"\x00\xff")
    assert path.read_bytes() == b"\x00\xff"
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.html"]  # no temporary left


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "results.csv"
    path.write_text("old")

    def refuse(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="No space"):
        write_atomically(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_a_new_file_gets_the_mode_open_would_give_it(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = write_atomically(tmp_path / "r.csv", "x")
        with open(tmp_path / "plain.csv", "w") as fh:
            fh.write("x")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask == (tmp_path / "plain.csv").stat().st_mode & 0o777


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_replaced_file_keeps_its_mode(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("old")
    path.chmod(0o640)
    write_atomically(path, "new")
    assert path.read_text() == "new" and path.stat().st_mode & 0o777 == 0o640
