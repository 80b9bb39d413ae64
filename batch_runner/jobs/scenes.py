"""How many jobs each provider runs as text-to-video and as image-to-video.

A job is image-to-video when it has an ``image`` (its first frame), else
text-to-video. ``plan``, ``run``'s start line and its summary print
``scene_line``, so a campaign whose image column was not read shows
"0 image-to-video" before anything is spent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

__all__ = ["SCENES", "scene_counts", "scene_line"]

SCENES = ("text-to-video", "image-to-video")


class _HasScene(Protocol):
    @property
    def provider(self) -> str: ...

    @property
    def scene(self) -> str: ...


def scene_counts(jobs: Iterable[_HasScene]) -> dict[str, dict[str, int]]:
    """Jobs per provider and scene, providers in order of first job:
    ``{"gccai": {"text-to-video": 1, "image-to-video": 2}}`` (both scenes
    always present)."""
    counts: dict[str, dict[str, int]] = {}
    for job in jobs:
        per = counts.setdefault(job.provider, dict.fromkeys(SCENES, 0))
        per[job.scene] = per.get(job.scene, 0) + 1
    return counts


def scene_line(counts: Mapping[str, Mapping[str, int]]) -> str:
    """``scenes: gccai 1 text-to-video, 2 image-to-video; minimax 3 text-to-video,
    0 image-to-video`` ("" for no jobs)."""
    parts = [f"{provider} " + ", ".join(f"{n} {scene}" for scene, n in per.items())
             for provider, per in counts.items()]
    return "scenes: " + "; ".join(parts) if parts else ""
