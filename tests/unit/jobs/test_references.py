"""Reference media of a row (MiniMax V2's H3): read, checked and sent as written or encoded."""

from __future__ import annotations

import base64
import shutil

from batch_runner.jobs.encode import encode_images
from batch_runner.jobs.model import Job, canonical_request, job_id_for
from batch_runner.jobs.references import check_references, media_type, references_of

from conftest import ROOT

MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 40
MOV = b"\x00\x00\x00\x14ftypqt  " + b"\x00" * 40
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 40
MP3 = b"ID3\x04\x00" + b"\x00" * 40


def test_the_kind_of_a_video_or_audio_file_is_read_from_its_first_bytes():
    assert [media_type(b) for b in (MP4, MOV, WAV, MP3, b"<html><body>")] == [
        "video/mp4", "video/quicktime", "audio/wav", "audio/mpeg", None]


def test_local_references_are_checked_and_sent_as_data_uris(tmp_path):
    shutil.copy(ROOT / "manifests" / "images" / "trail-runner.png", tmp_path / "shoe.png")
    (tmp_path / "clip.mp4").write_bytes(MP4)
    (tmp_path / "voice.mp3").write_bytes(MP3)
    fields = {"reference_image": "shoe.png", "reference_video": ["clip.mp4", "https://cdn.example.com/b.mov"],
              "reference_audio": "voice.mp3"}
    found = check_references("m.yaml: line 3", fields, tmp_path)
    assert found.problems == []
    refs = references_of(fields)
    assert [r for r, _ in refs] == ["reference_image", "reference_video", "reference_video", "reference_audio"]
    job = Job(job_id="j", index=0, row=3, name="n", variant=1, provider="minimax_v2", model="h3",
              scene="text-to-video", prompt="p", image=None, end_image=None, duration=5, resolution="768P",
              references=refs, reference_files=found.files)
    sent = encode_images(job).references
    assert sent[0][1].startswith("data:image/png;base64,")
    assert sent[1] == ("reference_video", "data:video/mp4;base64," + base64.b64encode(MP4).decode())
    assert sent[2] == ("reference_video", "https://cdn.example.com/b.mov")  # a URL travels as written
    assert sent[3][1].startswith("data:audio/mpeg;base64,")


def test_each_wrong_reference_is_a_problem_naming_row_and_field(tmp_path):
    (tmp_path / "page.mp4").write_bytes(b"<html>not a video</html>" * 2)
    (tmp_path / "voice.wav").write_bytes(WAV)
    (tmp_path / "big.mp3").write_bytes(b"ID3" + b"\x00" * (15 * 1024 * 1024 + 1))
    fields = {"reference_video": ["page.mp4", "a.mp4", "b.mp4", "c.mp4"], "reference_audio": ["voice.wav", "big.mp3"],
              "reference_image": "../outside.png"}
    found = check_references("m.csv: row 4", fields, tmp_path)
    said = [f"{p.field}: {p.message}" for p in found.problems]
    assert "reference_video: 4 references, at most 3: remove some" in said
    assert any(s.startswith("reference_video: page.mp4 is not one of video/mp4") for s in said)
    assert any(s.startswith("reference_video: a.mp4") for s in said)  # no such file
    assert any(s.startswith("reference_audio: big.mp3 is 15.0 MB, over the 15 MB limit") for s in said)
    assert any(s.startswith("reference_image: ../outside.png leads outside the manifest's folder") for s in said)
    assert all(p.where == "m.csv: row 4" for p in found.problems)
    alone = check_references("m.csv: row 5", {"reference_audio": "voice.wav"}, tmp_path)
    assert [p.message for p in alone.problems] == [
        "reference audio needs a reference image or video beside it: add reference_image or reference_video"]


def test_a_row_without_references_keeps_the_job_id_it_always_had():
    row = {"provider": "minimax", "prompt": "a cat", "duration": 6}
    assert "references" not in canonical_request(row)
    assert job_id_for(canonical_request(row), 1) == job_id_for(canonical_request({**row, "reference_image": None}), 1)
    assert job_id_for(canonical_request({**row, "reference_image": "https://x.test/a.png"}), 1) != \
        job_id_for(canonical_request(row), 1)
