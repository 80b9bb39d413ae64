"""API keys: read from the environment (or a ``.env`` file) only, never shown.

A ``Secret`` wraps a key so that ``repr``, ``str`` and f-strings print ``***``;
only ``reveal()`` gives the value, and only adapters call it to build headers.
Every key seen (a Secret, or ``remember_keys`` over an environment) is
remembered: ``redact(text)`` replaces each of them by ``***`` before a text is
written to results, the journal, logs or error messages.

``load_env_file()`` reads ``.env`` in the current folder with python-dotenv,
``override=False``: a variable already in the environment wins. The file is
never committed (.gitignore lists it).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from pathlib import Path

__all__ = ["Secret", "key_from_env", "known_keys", "load_env_file", "redact", "remember_keys"]

_KNOWN: set[str] = set()
_MIN_REDACTED = 6  # shorter values would redact ordinary words
_frozen: frozenset[str] = frozenset()


def _remember(value: str) -> None:
    global _frozen
    if len(value) >= _MIN_REDACTED and value not in _KNOWN:
        _KNOWN.add(value)
        _frozen = frozenset(_KNOWN)


class Secret:
    """An API key that does not print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value
        _remember(value)

    def reveal(self) -> str:
        """The key itself: for request headers only."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def fingerprint(self) -> str:
        """A short id of the key that cannot be turned back into it: the first 8 hex
        digits of its SHA-256 (``""`` for an empty key). Journals and results record
        this, never the key."""
        if not self._value:
            return ""
        return hashlib.sha256(self._value.encode("utf-8")).hexdigest()[:8]

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__


def key_from_env(var: str, environ: Mapping[str, str] | None = None) -> Secret:
    """The key in environment variable ``var`` (empty Secret when unset)."""
    env = os.environ if environ is None else environ
    return Secret(env.get(var, "").strip())


def remember_keys(environ: Mapping[str, str]) -> None:
    """Remember the value of every ``*_API_KEY`` variable of ``environ`` for redact()."""
    for name, value in environ.items():
        if name.endswith("_API_KEY"):
            _remember(value.strip())


def known_keys() -> frozenset[str]:
    """Every key value this process has seen."""
    return _frozen


def redact(text: str) -> str:
    """``text`` with every key seen by this process replaced by ``***``."""
    for key in sorted(_frozen, key=len, reverse=True):
        if key in text:
            text = text.replace(key, "***")
    return text


def load_env_file(path: str | Path = ".env") -> str | None:
    """Load ``path`` (default ``./.env``) into the environment without
    overriding variables already set; remember its keys. Returns a warning to
    show when the file can be read by other users, else None."""
    from dotenv import load_dotenv

    path = Path(path)
    if not path.is_file():
        return None
    load_dotenv(path, override=False)
    remember_keys(os.environ)
    if os.name == "posix" and path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH):
        return f"warning: {path} can be read by other users; protect your keys with: chmod 600 {path}"
    return None
