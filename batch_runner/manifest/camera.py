"""Camera commands in prompts: ``[推进]``, ``[Push in]``, ``[Pan left,Zoom in]``.

Hailuo 2.3 reads the 15 documented commands (data/camera.yaml; Chinese or
English, any case, up to 3 in one bracket separated by commas) as camera moves.
Anything else in square brackets reaches the model as plain words, most likely a
typo: ``camera_warnings`` returns one warning per such bracket, naming the
closest command. Validation and ``run`` print them before any request is sent,
and ``--strict`` refuses the manifest instead. The prompt is never changed.
Source: https://platform.minimax.io/docs/api-reference/video-generation-t2v and
https://gccai.heqingsong.uk/en/api-reference/videos/minimax-hailuo-2.3/generation (seen 2026-11).
"""

from __future__ import annotations

import difflib
import re
from functools import cache
from importlib import resources

import yaml

__all__ = ["camera_warnings"]

_BRACKET = re.compile(r"\[([^\[\]]*)\]")
_SEPARATOR = re.compile(r"[,\uff0c、]")  # ASCII, fullwidth (U+FF0C) and ideographic commas
_SPACES = re.compile(r"\s+")


def _norm(text: str) -> str:
    return _SPACES.sub(" ", text.strip()).casefold()


@cache
def _data() -> tuple[dict[str, str], int]:
    raw = yaml.safe_load(
        resources.files("batch_runner").joinpath("data/camera.yaml").read_text(encoding="utf-8")
    )
    known = {}
    for english, chinese in raw["commands"].items():
        known[_norm(english)] = english
        known[_norm(chinese)] = chinese
    return known, int(raw["max_combined"])


def camera_warnings(prompt: str) -> list[str]:
    """A message for each bracket in ``prompt`` that is not 1..3 known commands.

    E.g. ``[Zoom inn]`` -> "[Zoom inn]: 'Zoom inn' is not a camera command (did
    you mean [Zoom in]?); it would be sent to the model as plain text".
    """
    known, most = _data()
    out = []
    for match in _BRACKET.finditer(prompt):
        whole = match.group(0)
        parts = [p.strip() for p in _SEPARATOR.split(match.group(1))]
        bad = [p for p in parts if _norm(p) not in known]
        for part in bad:
            if not part:
                out.append(f"{whole}: an empty camera command; write e.g. [Push in] or [推进]")
                continue
            close = difflib.get_close_matches(_norm(part), list(known), n=1, cutoff=0.6)
            hint = f" (did you mean [{known[close[0]]}]?)" if close else ""
            out.append(f"{whole}: {part!r} is not a camera command{hint}; it would be sent "
                       "to the model as plain text")
        if len(parts) > most and not bad:
            out.append(f"{whole}: {len(parts)} commands in one bracket; at most {most} combine")
    return out
