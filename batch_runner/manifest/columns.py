"""Which job field an unmapped sheet column (or YAML key) looks like.

A column the manifest does not map to a job field is kept as a campaign
column and never sent: a ``Hero Image`` column makes text-to-video jobs. This
module guesses the job field such a column was meant to be, so that loading
can warn (or, for a required field, refuse) naming the column and the fix.

Three judgements, in order (``guess_field``):

1. typo: the header (as ``sheets.header_key`` reads it) is within
   difflib ratio 0.8 of a job field name (``promt`` -> ``prompt``);
2. synonym: the header's words name a field (``WORDS``): an image word
   (image, photo, picture, pic, img, frame, still, thumbnail, visual) means
   ``image``, or ``end_image`` beside an end word (end, last, final, closing,
   ending); ``prompt`` anywhere means ``prompt`` (not beside ``negative``);
   length, runtime, seconds, secs mean ``duration`` when the cells are numbers
   and the unit in brackets (if any) is seconds; ``video resolution``,
   ``video model``, ``vendor`` ... need cells the field accepts;
3. cells: most of the first SAMPLE non-blank cells are image URLs or paths
   (``looks_like_image``): ``image``.

``name`` (the job label) is only matched as a typo: "Product Name" is a
campaign column. A column with no non-blank cell loses nothing and is never
guessed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import cache

__all__ = ["SAMPLE", "Guess", "field_typo", "guess_field", "looks_like_image"]

SAMPLE = 50  # cells of a column looked at (the first non-blank ones)
_IMAGE_WORDS = frozenset({"image", "images", "img", "photo", "photos", "picture", "pictures", "pic",
                          "frame", "still", "thumbnail", "visual", "packshot"})
_END_WORDS = frozenset({"end", "last", "final", "closing", "ending"})
_DURATION_WORDS = frozenset({"length", "runtime", "seconds", "secs", "duration"})
_SECONDS_UNITS = frozenset({"", "s", "sec", "secs", "second", "seconds"})
#: other words that name a field whose cells must also fit it (value check in _fits)
WORDS: dict[str, frozenset[str]] = {
    "resolution": frozenset({"resolution", "res"}),
    "model": frozenset({"model"}),
    "provider": frozenset({"provider", "vendor", "api", "service"}),
    "variants": frozenset({"variants", "variant", "versions", "takes", "copies"}),
    "prompt_optimizer": frozenset({"optimizer", "optimiser", "optimize", "optimise"}),
    "fast_pretreatment": frozenset({"pretreatment"}),
    "watermark": frozenset({"watermark"}),
}
_IMAGE_SUFFIX = re.compile(r"\.(png|jpe?g|webp|gif|bmp|tiff?|heic|avif)$", re.IGNORECASE)
_UNIT = re.compile(r"[(\[]\s*([^)\]]*?)\s*[)\]]\s*$")
_BOOLEAN = frozenset({"true", "false", "yes", "no", "y", "n", "1", "0", "on", "off"})


@dataclass(frozen=True)
class Guess:
    """The job field a column looks like: ``field``, and ``how`` it was judged:
    ``typo`` (a misspelt field name), ``synonym`` (its header's words) or
    ``cells`` (its cells are image URLs or paths)."""

    field: str
    how: str


def looks_like_image(cell: str, *, header_says_image: bool = False) -> bool:
    """Whether a cell reads as an image reference: a ``data:image/`` URI, or a
    URL or file path ending in an image suffix (.png, .jpg, .webp, ...; a
    URL's query is ignored). With ``header_says_image``, any http(s) URL or
    path with a folder counts too."""
    text = cell.strip()
    low = text.lower()
    if low.startswith("data:image/"):
        return True
    path = re.split(r"[?#]", text, maxsplit=1)[0] if low.startswith(("http://", "https://")) else text
    if _IMAGE_SUFFIX.search(path) and "\n" not in text:
        return True
    return header_says_image and (low.startswith(("http://", "https://")) or ("/" in text and " " not in text))


@cache
def field_typo(key: str, fields: tuple[str, ...]) -> str | None:
    """The field of ``fields`` that ``key`` (a header_key) is likely a typo of
    (difflib ratio >= 0.8), or None; None for a field itself."""
    if key in fields:
        return None
    close = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.8)
    return close[0] if close else None


def _unit(header: str) -> str:
    match = _UNIT.search(header)
    return match.group(1).strip().lower() if match else ""


def _fits(name: str, cells: list[str], enums: dict[str, Collection[str]]) -> bool:
    """Whether the cells read as values of field ``name`` (all of the sample)."""
    low = [c.strip().lower() for c in cells]
    if name in ("duration", "variants"):
        return all(re.fullmatch(r"\d+(\.0+)?", c) for c in low)
    if name in ("prompt_optimizer", "fast_pretreatment", "watermark"):
        return all(c in _BOOLEAN for c in low)
    if name in enums:
        allowed = {str(v).lower() for v in enums[name]} | ({"auto"} if name == "provider" else set())
        return all(v in allowed for c in low for v in c.split("|") if v.strip())
    return True


def guess_field(header: str, key: str, cells: Iterable[str], fields: Collection[str],
                enums: dict[str, Collection[str]]) -> Guess | None:
    """The job field an unmapped column seems meant to be, or None.

    ``header``: the header as written; ``key``: its ``header_key``;
    ``cells``: its non-blank cells (the first SAMPLE are read); ``fields``:
    the job field names; ``enums``: field -> allowed values (model,
    resolution, provider), which a synonym's cells must match. The rules are
    in the module docstring.
    """
    sample = [c for _, c in zip(range(SAMPLE), cells, strict=False)]
    if not sample:
        return None
    typo = field_typo(key, tuple(fields))
    if typo:
        return Guess(typo, "typo")
    words = set(key.split("_"))
    if words & _IMAGE_WORDS:
        name = "end_image" if words & _END_WORDS else "image"
        if sum(looks_like_image(c, header_says_image=True) for c in sample) * 2 >= len(sample):
            return Guess(name, "synonym")
    if "prompt" in words and "negative" not in words and "prompt" in fields:
        return Guess("prompt", "synonym")
    if words & _DURATION_WORDS and _unit(header) in _SECONDS_UNITS and _fits("duration", sample, enums):
        return Guess("duration", "synonym")
    for name, names in WORDS.items():
        if name in fields and words & names and _fits(name, sample, enums):
            return Guess(name, "synonym")
    if sum(looks_like_image(c) for c in sample) * 2 > len(sample):
        return Guess("image", "cells")
    return None
