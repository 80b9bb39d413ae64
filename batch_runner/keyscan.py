"""Spot API keys where they do not belong: in a manifest, or in a message.

``looks_like_key(text)`` says why a text looks like a secret, or None:
- the value of a key this process knows (secrets.known_keys(), 16+ characters);
- a known key shape: ``sk-...`` (gptproto, OpenAI-style resellers), ``afk_...``
  (apiframe), ``aio_...`` (apiin.one), a JSON Web Token ``eyJ....eyJ...``
  (MiniMax keys), ``Bearer <token>``, AWS, GitHub, Slack and Stripe keys, a
  PEM private key (shapes from the providers' docs: docs/providers.md);
- with ``strict`` (every cell but images, whose URLs may carry their own
  signed tokens): the other key shapes, and a random-looking token of 32+
  characters from ``[A-Za-z0-9_+=-]`` mixing upper case, lower case and digits,
  with at least 4.0 bits of entropy per character and a character class change
  at 45% or more of its positions (CamelCase words and slugs stay below).
``key_column_reason(name)``: a column named like a secret (api_key, token, ...).
``mask(text)``: the text with every such token replaced by ``***``.
``MaskedStream(stream, scrub)``: a text stream whose every write goes through
``scrub`` first; the CLI puts ``mask`` on stderr (errors, warnings, logs) and
``redact`` on stdout, so no message can print a key, whoever wrote it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from itertools import pairwise
from typing import Any, TextIO

from batch_runner.keys import known_keys, redact

__all__ = ["MaskedStream", "key_column_reason", "looks_like_key", "mask"]

_START = r"(?<![A-Za-z0-9])"
_SHAPES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(_START + r"sk-[A-Za-z0-9_-]{16,}"), "it starts with 'sk-'"),
    (re.compile(_START + r"afk_[A-Za-z0-9_-]{12,}"), "it starts with 'afk_', like an apiframe key"),
    (re.compile(_START + r"aio_[A-Za-z0-9_-]{12,}"), "it starts with 'aio_', like an apiin.one key"),
    (re.compile(_START + r"(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,}"), "it has the shape of a Stripe key"),
    (re.compile(_START + r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.?[A-Za-z0-9_-]*"),
     "it is a JSON Web Token, like a MiniMax key"),
    (re.compile(r"\b(?i:bearer)\s+[A-Za-z0-9._~+/=-]{16,}"), "it is a Bearer token"),
    (re.compile(_START + r"(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Z])"), "it has the shape of an AWS access key"),
    (re.compile(_START + r"gh[pousr]_[A-Za-z0-9]{30,}"), "it has the shape of a GitHub token"),
    (re.compile(_START + r"xox[abprs]-[A-Za-z0-9-]{10,}"), "it has the shape of a Slack token"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "it is a private key"),
]
_PROVIDER_SHAPES = 3  # the first ones: the shapes of our providers' keys
_ANY_SHAPE = re.compile("|".join(f"(?:{p.pattern})" for p, _ in _SHAPES))
_PROVIDER_SHAPE = re.compile("|".join(f"(?:{p.pattern})" for p, _ in _SHAPES[:_PROVIDER_SHAPES]))
_TOKEN = re.compile(r"[A-Za-z0-9_+=-]{32,}")
_KEY_COLUMN = re.compile(r"api[\s_.-]?key|apikey|secret|token|passw(?:or)?d|bearer|authori[sz]ation|credential",
                         re.IGNORECASE)
_MIN_KNOWN = 16  # shorter values (the simulator's dummy key) are not searched for in cells


def _class(ch: str) -> int:
    return 0 if ch.isupper() else 1 if ch.islower() else 2 if ch.isdigit() else 3


def _random_looking(token: str) -> bool:
    if not (any(c.isupper() for c in token) and any(c.islower() for c in token)
            and any(c.isdigit() for c in token)):
        return False
    n = len(token)
    entropy = -sum(k / n * math.log2(k / n) for k in Counter(token).values())
    changes = sum(_class(a) != _class(b) for a, b in pairwise(token))
    return entropy >= 4.0 and changes >= 0.45 * (n - 1)


def looks_like_key(text: str, *, strict: bool = True) -> str | None:
    """Why ``text`` looks like an API key or token (a short reason that never
    quotes the key), or None."""
    if not text:
        return None
    if any(key in text for key in known_keys() if len(key) >= _MIN_KNOWN):
        return "it holds the value of one of your API keys"
    if (_ANY_SHAPE if strict else _PROVIDER_SHAPE).search(text):
        return next(reason for pattern, reason in _SHAPES if pattern.search(text))
    if strict and any(_random_looking(t) for t in _TOKEN.findall(text)):
        return "it holds a long random-looking token"
    return None


def key_column_reason(name: str) -> str | None:
    """Why a column named ``name`` looks like it holds secrets, or None."""
    if _KEY_COLUMN.search(name):
        return (f"'{name[:40]}' names a secret: keys belong in the environment (<PROVIDER>_API_KEY) "
                "or a .env file, never in a manifest; remove the column")
    return None


def mask(text: str) -> str:
    """``text`` with known keys, key shapes and random-looking tokens replaced by ``***``."""
    text = _ANY_SHAPE.sub("***", redact(text))
    return _TOKEN.sub(lambda m: "***" if _random_looking(m.group()) else m.group(), text)


class MaskedStream:
    """``stream`` (a text stream) with ``scrub`` applied to every text written;
    bytes and every other attribute (``isatty``, ``fileno``, ``encoding``...) go
    to ``stream`` unchanged. ``wrap(stream, scrub)`` does not wrap twice."""

    def __init__(self, stream: TextIO, scrub: Callable[[str], str]):
        self.stream, self.scrub = stream, scrub

    @classmethod
    def wrap(cls, stream: TextIO, scrub: Callable[[str], str]) -> Any:
        """``stream`` wrapped, or as it is when it already is a MaskedStream."""
        return stream if isinstance(stream, cls) else cls(stream, scrub)

    def write(self, text: Any) -> int:
        """Write ``scrub(text)``; returns ``len(text)`` (what the caller gave)."""
        if isinstance(text, str):
            self.stream.write(self.scrub(text))
            return len(text)
        return self.stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)
