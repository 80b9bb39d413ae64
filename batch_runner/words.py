"""How counts are said in every message: ``count(1, "video")`` is "1 video",
``count(3, "video")`` "3 videos" (no "1 videos", no "1 jobs")."""

from __future__ import annotations

__all__ = ["count"]


def count(n: int | float, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, the noun plural unless ``n`` is 1 (``plural``: its
    plural when not ``noun + "s"``); ``n`` a whole number of things."""
    n = int(n)
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
