"""API keys: read from the environment only, never shown.

A ``Secret`` wraps a key so that ``repr``, ``str`` and f-strings print ``***``;
only ``reveal()`` gives the value, and only adapters call it to build headers.
``redact(text)`` removes every known key from a text before it is written to
results, logs or error messages.
"""

from __future__ import annotations

import os

__all__ = ["Secret", "key_from_env", "redact"]

_KNOWN: set[str] = set()


class Secret:
    """An API key that does not print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value
        if len(value) >= 6:
            _KNOWN.add(value)

    def reveal(self) -> str:
        """The key itself: for request headers only."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__


def key_from_env(var: str, environ: dict[str, str] | None = None) -> Secret:
    """The key in environment variable ``var`` (empty Secret when unset)."""
    env = os.environ if environ is None else environ
    return Secret(env.get(var, "").strip())


def redact(text: str) -> str:
    """``text`` with every key seen by this process replaced by ``***``."""
    for key in _KNOWN:
        if key in text:
            text = text.replace(key, "***")
    return text
