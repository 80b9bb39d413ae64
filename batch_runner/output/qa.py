"""QA of a saved video: is it what the job ordered, and does it play?

A provider's "succeeded" and a URL do not make a good video. ``check`` compares
what probe.py found in the file with the job:

- ``undecodable``: the file does not decode to its end (cut short, damaged,
  not a video); the other checks are then skipped;
- ``short_duration``: the duration is off the ordered 6 or 10 s by more than
  ``duration_tolerance_s``;
- ``wrong_resolution``: the short side is off the ordered class (768P: 768 px,
  1080P: 1080 px, 720P, 512P) by more than ``resolution_tolerance_px``;
- ``black``: almost every sampled frame is black (``black_max_luma``,
  ``black_min_fraction``);
- ``frozen``: no sampled frame differs from the first (``frozen_max_diff``);
- ``first_frame_mismatch`` (a warning, not a failure): image-to-video, the
  first frame looks unlike the first-frame image (``first_frame_max_diff``;
  checked for a local file or a ``data:`` URI, not for a remote URL).

Verdicts (``qa_status``): ``passed``, ``failed`` (a problem other than a
warning), ``warning`` (only warnings), ``skipped`` (no saved video). The
thresholds are catalog/qa_settings.py's.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from batch_runner.catalog.qa_settings import QaSettings
from batch_runner.output.probe import SAMPLE_PX, Probe, probe

__all__ = ["FAILED", "PASSED", "PROBLEMS", "SKIPPED", "WARNING", "WARNINGS", "QaResult", "check", "qa_video"]

PASSED, FAILED, WARNING, SKIPPED = "passed", "failed", "warning", "skipped"
#: every problem code, in the order they are reported
PROBLEMS = ("undecodable", "short_duration", "wrong_resolution", "black", "frozen", "first_frame_mismatch")
#: the problem codes that only warn
WARNINGS = frozenset({"first_frame_mismatch"})


@dataclass(frozen=True)
class QaResult:
    """One video's QA: ``status`` (passed/failed/warning/skipped), ``problems``
    (codes, in PROBLEMS order), ``details`` (one line per problem, for people),
    and what the probe read: ``width``/``height`` px, ``duration_s`` s,
    ``codec``, ``fps`` frames per second (None when not probed)."""

    status: str
    problems: tuple[str, ...] = ()
    details: tuple[str, ...] = ()
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    codec: str | None = None
    fps: float | None = None

    @property
    def failed(self) -> bool:
        """Whether QA failed the video (a problem that is not only a warning)."""
        return self.status == FAILED


def qa_video(path: str | Path, job: Mapping[str, Any], settings: QaSettings | None = None) -> QaResult:
    """Probe the video at ``path`` and check it against ``job`` (the job's
    fields, as ``JobRecord.job_fields()`` gives them). Never raises for a bad
    video (it is ``undecodable``)."""
    return check(probe(path), job, settings or QaSettings())


def check(found: Probe, job: Mapping[str, Any], settings: QaSettings) -> QaResult:
    """The verdict on ``found`` for ``job`` (fields ``duration`` s,
    ``resolution`` like ``768P``, ``image`` / ``image_file``)."""
    problems: dict[str, str] = {}
    if not found.decodes:
        problems["undecodable"] = f"does not play: {found.error}"
    else:
        ordered_s = float(job.get("duration") or 6)
        if abs(found.duration_s - ordered_s) > settings.duration_tolerance_s:
            problems["short_duration"] = f"{found.duration_s:.1f} s, {ordered_s:g} s ordered"
        short_side = _short_side(str(job.get("resolution") or ""))
        if short_side and abs(min(found.width, found.height) - short_side) > settings.resolution_tolerance_px:
            problems["wrong_resolution"] = f"{found.width}x{found.height}, {job.get('resolution')} ordered"
        lumas = [float(s.mean()) for s in found.samples]
        dark = sum(1 for luma in lumas if luma < settings.black_max_luma)
        if lumas and dark >= settings.black_min_fraction * len(lumas):
            problems["black"] = f"{dark} of {len(lumas)} sampled frames black"
        elif len(found.samples) > 1:
            moved = max(float(np.abs(s - found.samples[0]).mean()) for s in found.samples[1:])
            if moved <= settings.frozen_max_diff:
                problems["frozen"] = f"sampled frames differ by at most {moved:.1f} luma levels"
        image = _first_frame_image(job)
        if image is not None and found.first_frame is not None:
            diff = float(np.abs(image - found.first_frame).mean())
            if diff > settings.first_frame_max_diff:
                problems["first_frame_mismatch"] = f"first frame differs from the image by {diff:.0f} luma levels"
    codes = tuple(code for code in PROBLEMS if code in problems)
    status = FAILED if set(codes) - WARNINGS else WARNING if codes else PASSED
    return QaResult(status, codes, tuple(f"{c}: {problems[c]}" for c in codes),
                    found.width or None, found.height or None, round(found.duration_s, 3) if found.decodes else None,
                    found.codec or None, round(found.fps, 3) if found.fps else None)


def _short_side(resolution: str) -> int | None:
    """The short side in px of a resolution class (``768P`` -> 768; ``2K`` -> 1440,
    MiniMax H3's 2560x1440: https://developer.civitai.com/orchestration/recipes/minimax-h3), or None."""
    if resolution.upper() == "2K":
        return 1440
    digits = resolution.upper().removesuffix("P")
    return int(digits) if digits.isdigit() else None


def _first_frame_image(job: Mapping[str, Any]) -> np.ndarray | None:
    """The job's first-frame image as a ``SAMPLE_PX`` square grey thumbnail
    (float luma 0..255), from its local file or ``data:`` URI; None for a
    text-to-video job, a remote URL, or an image that cannot be read."""
    ref, local = job.get("image"), job.get("image_file")
    try:
        if local:
            data = Path(str(local)).read_bytes()
        elif isinstance(ref, str) and ref.startswith("data:") and "," in ref:
            data = base64.b64decode(ref.split(",", 1)[1], validate=False)
        else:
            return None
        with Image.open(io.BytesIO(data)) as img:
            grey = img.convert("L").resize((SAMPLE_PX, SAMPLE_PX))
            return np.asarray(grey, dtype=np.float32)
    except (OSError, ValueError, UnidentifiedImageError, binascii.Error):
        return None
