"""Probe and QA of video files made with PyAV right here."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from batch_runner.catalog.qa_settings import QaSettings, qa_settings
from batch_runner.errors import ConfigError
from batch_runner.output.probe import probe
from batch_runner.output.qa import check, qa_video

JOB = {"duration": 6, "resolution": "768P"}


def make_video(path: Path, *, width: int = 320, height: int = 180, seconds: float = 6.0, fps: int = 4,
               picture=None, audio: bool = False, faststart: bool = False) -> Path:
    """An H.264 MP4 of ``seconds`` at ``fps``: ``picture(i, n)`` gives frame i's
    grey level array (default: a bar moving left to right)."""
    frames = round(seconds * fps)

    def moving(i: int, n: int) -> np.ndarray:
        grey = np.full((height, width), 100, np.uint8)
        x = i * (width - width // 8) // max(n - 1, 1)
        grey[:, x:x + width // 8] = 230
        return grey

    draw = picture or moving
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        sound = container.add_stream("aac", rate=16000) if audio else None
        for i in range(frames):
            rgb = np.repeat(draw(i, frames)[:, :, None], 3, axis=2)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode(None))
        if sound is not None:
            samples = np.zeros((1, int(16000 * seconds)), np.float32)
            block = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
            block.sample_rate = 16000
            container.mux(sound.encode(block))
            container.mux(sound.encode(None))
    return path


def test_probe_reads_what_is_in_the_file(tmp_path):
    found = probe(make_video(tmp_path / "a.mp4", width=1366, height=768, seconds=10, fps=2, audio=True))
    assert (found.codec, found.width, found.height, found.frames, found.fps) == ("h264", 1366, 768, 20, 2.0)
    assert found.duration_s == pytest.approx(10.0, abs=0.3) and found.audio and found.decodes
    assert "mp4" in found.container and found.size_bytes == (tmp_path / "a.mp4").stat().st_size
    assert found.error == "" and len(found.samples) == 8 and found.samples[0].shape == (32, 32)


def test_a_clean_video_passes_and_each_fault_gets_its_code(tmp_path):
    def black(i, n):
        return np.full((180, 320), 16, np.uint8)

    def still(i, n):
        return np.full((180, 320), 120, np.uint8) + (np.arange(320, dtype=np.uint8)[None, :] // 4)

    cases = {
        "clean": (make_video(tmp_path / "clean.mp4"), {"duration": 6, "resolution": "180P"}, ()),
        "short": (make_video(tmp_path / "s.mp4", seconds=4), {"duration": 6, "resolution": "180P"},
                  ("short_duration",)),
        "size": (make_video(tmp_path / "r.mp4"), JOB, ("wrong_resolution",)),
        "black": (make_video(tmp_path / "b.mp4", picture=black), {"duration": 6, "resolution": "180P"},
                  ("black",)),
        "frozen": (make_video(tmp_path / "f.mp4", picture=still), {"duration": 6, "resolution": "180P"},
                   ("frozen",)),
    }
    for name, (path, job, problems) in cases.items():
        result = qa_video(path, job)
        assert result.problems == problems, (name, result.details)
        assert result.status == ("failed" if problems else "passed"), name


def test_duration_within_the_tolerance_passes(tmp_path):
    job = {"duration": 6, "resolution": "180P"}
    assert qa_video(make_video(tmp_path / "a.mp4", seconds=5.75), job).status == "passed"
    assert qa_video(make_video(tmp_path / "b.mp4", seconds=5.25), job).problems == ("short_duration",)
    lenient = QaSettings(duration_tolerance_s=1.0)
    assert qa_video(make_video(tmp_path / "c.mp4", seconds=5.25), job, lenient).status == "passed"


def test_a_file_cut_short_or_not_a_video_is_undecodable(tmp_path):
    whole = make_video(tmp_path / "w.mp4", faststart=True, seconds=6).read_bytes()  # index first, then frames
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: len(whole) * 6 // 10])
    found = probe(cut)
    assert not found.decodes and "frames" in found.error and 0 < found.frames < 24, found.error
    page = tmp_path / "page.mp4"
    page.write_text("<html>Please sign in</html>")
    for path in (cut, page, tmp_path / "missing.mp4"):
        result = qa_video(path, JOB)
        assert (result.status, result.problems) == ("failed", ("undecodable",)), path
    assert qa_video(tmp_path / "missing.mp4", JOB).details == ("undecodable: does not play: file not found",)


def test_first_frame_unlike_the_image_only_warns(tmp_path):
    video = make_video(tmp_path / "v.mp4")
    like = np.full((180, 320), 100, np.uint8)
    like[:, : 320 // 8] = 230
    Image.fromarray(like).save(tmp_path / "like.png")
    Image.new("L", (320, 180), 0).save(tmp_path / "dark.png")
    job = {"duration": 6, "resolution": "180P"}
    assert qa_video(video, {**job, "image": "like.png", "image_file": str(tmp_path / "like.png")}).status == "passed"
    unlike = qa_video(video, {**job, "image": "dark.png", "image_file": str(tmp_path / "dark.png")})
    assert (unlike.status, unlike.problems) == ("warning", ("first_frame_mismatch",)) and not unlike.failed
    remote = qa_video(video, {**job, "image": "https://example.com/x.png"})  # not fetched: not checked
    assert remote.status == "passed"


def test_check_reports_what_the_probe_read(tmp_path):
    result = check(probe(make_video(tmp_path / "a.mp4", fps=2)), {"duration": 6, "resolution": "180P"},
                   QaSettings())
    assert (result.width, result.height, result.codec, result.fps) == (320, 180, "h264", 2.0)
    assert result.duration_s == pytest.approx(6.0, abs=0.3)


def test_qa_settings_name_a_bad_one():
    assert qa_settings({"black_max_luma": 30}, {"black_max_luma": 10}).black_max_luma == 10.0
    with pytest.raises(ConfigError, match="unknown QA setting 'black_luma'"):
        qa_settings({"black_luma": 3}, where="s.yaml: qa")
    with pytest.raises(ConfigError, match="black_min_fraction must be a number from 0 to 1"):
        qa_settings({"black_min_fraction": 2})
    with pytest.raises(ConfigError, match="frozen_max_diff must be a number >= 0"):
        qa_settings({"frozen_max_diff": "a lot"})
