"""QA settings: the thresholds output/qa.py judges each saved video by.

Read from a ``qa:`` mapping (a manifest's, or a ``--settings`` file's; the
manifest's wins per setting), each setting a number in the unit its name says:

- ``duration_tolerance_s`` (s, default 0.5): how far the video's duration may
  be from the ordered 6 or 10 s before ``short_duration``;
- ``resolution_tolerance_px`` (px, default 8): how far the short side may be
  from the ordered class (768P: 768 px) before ``wrong_resolution``;
- ``black_max_luma`` (luma 0..255, default 20) and ``black_min_fraction``
  (0..1, default 0.95): a video is ``black`` when at least that fraction of
  its sampled frames have a mean luma below that;
- ``frozen_max_diff`` (luma 0..255, default 5): a video is ``frozen`` when no
  sampled frame differs from the first by more than this mean absolute
  difference (on 32 px grey thumbnails);
- ``first_frame_max_diff`` (luma 0..255, default 40): image-to-video, a first
  frame differing from the first-frame image by more than this is the warning
  ``first_frame_mismatch``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from batch_runner.errors import ConfigError

__all__ = ["QaSettings", "qa_settings"]


@dataclass(frozen=True)
class QaSettings:
    """QA thresholds (see the module docstring for each unit and meaning)."""

    duration_tolerance_s: float = 0.5
    resolution_tolerance_px: float = 8.0
    black_max_luma: float = 20.0
    black_min_fraction: float = 0.95
    frozen_max_diff: float = 5.0
    first_frame_max_diff: float = 40.0


def qa_settings(*layers: Mapping[str, Any] | None, where: str = "qa") -> QaSettings:
    """QaSettings from ``qa:`` mappings, a later layer winning per setting.

    Raises ConfigError naming ``where``, the setting and what it takes: an
    unknown name, or a value that is not a finite number >= 0 (fractions <= 1).
    """
    names = {f.name for f in dataclasses.fields(QaSettings)}
    values: dict[str, float] = {}
    for layer in layers:
        for key, value in (layer or {}).items():
            if key not in names:
                raise ConfigError(f"{where}: unknown QA setting {key!r}: use one of {', '.join(sorted(names))}")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 0 or (key == "black_min_fraction" and value > 1):
                limit = "a number from 0 to 1" if key == "black_min_fraction" else "a number >= 0"
                raise ConfigError(f"{where}: {key} must be {limit}, not {value!r}")
            values[key] = float(value)
    return QaSettings(**values)
