"""API keys: read from the environment (or a ``.env`` file) only, never shown.

A ``Secret`` wraps a key so that ``repr``, ``str`` and f-strings print ``***``;
only ``reveal()`` gives the value, and only adapters call it to build headers.
Every key seen (a Secret, or ``remember_keys`` over an environment) is
remembered: ``redact(text)`` replaces each of them, and any run of 8 or more
characters of one of them (a provider that echoes a key's first 12 and last
10 characters), by ``***`` before a text is written to results, the journal,
logs or error messages.

A provider may hold a pool of keys (several accounts, each with its own
limits): ``<NAME>_API_KEYS=k1,k2`` or labelled ``team-a=k1,team-b=k2``;
``<NAME>_API_KEY`` alone is a pool of one. ``pool_from_env`` reads it into
``PoolKey`` items, each with a ``key_id`` (``label:fingerprint``, never the key).

``load_env_file()`` reads ``.env`` in the current folder with python-dotenv,
``override=False``: a variable already in the environment wins. The file is
never committed (.gitignore lists it).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "KeyPoolError",
    "PoolKey",
    "Secret",
    "has_key",
    "key_from_env",
    "known_keys",
    "load_env_file",
    "pool_from_env",
    "pool_variable",
    "redact",
    "remember_keys",
]

_KNOWN: set[str] = set()
_MIN_REDACTED = 6  # shorter values would redact ordinary words
RUN_CHARS = 8  # a run of this many characters of a key is masked wherever it appears
_RUN_DISTINCT = 5  # ... when it has this many different characters ("00000000" is no key's trace)
_frozen: frozenset[str] = frozenset()
_runs: frozenset[str] = frozenset()  # every RUN_CHARS-character piece of every known key


def _remember(value: str) -> None:
    global _frozen, _runs
    if len(value) >= _MIN_REDACTED and value not in _KNOWN:
        _KNOWN.add(value)
        _frozen = frozenset(_KNOWN)
        pieces = (value[i:i + RUN_CHARS] for i in range(len(value) - RUN_CHARS + 1))
        _runs = _runs | {p for p in pieces if len(set(p)) >= _RUN_DISTINCT}


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


class KeyPoolError(ValueError):
    """A ``<NAME>_API_KEYS`` variable that cannot be read (names the variable and the
    entry's position or label, never a key); catalog/settings.py raises it again as a
    ConfigError (exit 2)."""


@dataclass(frozen=True)
class PoolKey:
    """One key of a provider's pool: its ``label`` (given, or ``key1``, ``key2``... by
    position) and the ``secret``. ``key_id`` (``label:fingerprint``, e.g.
    ``team-a:3f2a9c1d``) is what journals, results and messages show."""

    label: str
    secret: Secret

    @property
    def key_id(self) -> str:
        """``label:fingerprint`` (8 hex digits of the key's SHA-256): never the key."""
        return f"{self.label}:{self.secret.fingerprint()}"


#: a label before ``=``: short, no spaces; what follows must not start with ``=``
#: (so a base64 key ending in ``==`` is not taken for a label)
_LABEL = re.compile(r"([A-Za-z0-9][A-Za-z0-9_.-]{0,31})\s*=(?!=)(.*)", re.DOTALL)


def _split_pool(value: str) -> list[tuple[str | None, str]]:
    """``(label or None, key)`` per non-blank comma-separated entry of ``value``."""
    out: list[tuple[str | None, str]] = []
    for entry in value.split(","):
        entry = entry.strip()
        if not entry:
            continue
        m = _LABEL.fullmatch(entry)
        out.append((m.group(1), m.group(2).strip()) if m else (None, entry))
    return out


def pool_variable(var: str) -> str:
    """The pool variable beside the single-key variable ``var``:
    ``MINIMAX_API_KEY`` -> ``MINIMAX_API_KEYS``."""
    return var + "S"


def pool_from_env(var: str, environ: Mapping[str, str] | None = None) -> tuple[PoolKey, ...]:
    """The pool of keys of the provider whose single-key variable is ``var``
    (``<NAME>_API_KEY``): ``<var>S`` when set (comma-separated, each entry ``key`` or
    ``label=key``; blank entries skipped; an unlabelled entry is labelled ``key<n>``
    by its position), else ``var`` alone as ``key1``, else no key.

    Raises KeyPoolError naming the variable and the entry (by position or label,
    never its value) for a label without a key, a key or label given twice, or a
    variable with no key at all.
    """
    env = os.environ if environ is None else environ
    pool_var = pool_variable(var)
    pooled = env.get(pool_var, "")
    if not pooled.strip():
        single = env.get(var, "").strip()
        return (PoolKey("key1", Secret(single)),) if single else ()
    keys: list[PoolKey] = []
    seen: dict[str, str] = {}
    for position, (label, value) in enumerate(_split_pool(pooled), start=1):
        name = label or f"key{position}"
        if not value:
            raise KeyPoolError(f"{pool_var}: entry {position} ({name}=) has no key: write {name}=<key>, "
                               "or remove the entry")
        secret = Secret(value)
        if value in seen:
            raise KeyPoolError(f"{pool_var}: entry {position} ({name}) is the same key as {seen[value]}: "
                               "list each key once")
        if any(k.label == name for k in keys):
            raise KeyPoolError(f"{pool_var}: the label {name!r} is given twice (entry {position}): "
                               "give each key its own label")
        seen[value] = name
        keys.append(PoolKey(name, secret))
    if not keys:
        raise KeyPoolError(f"{pool_var}: holds no key: write k1,k2 or label=k1,label=k2, or unset it")
    return tuple(keys)


def has_key(var: str, environ: Mapping[str, str]) -> bool:
    """Whether ``var`` (``<NAME>_API_KEY``) or its pool ``<var>S`` holds a key."""
    return bool(environ.get(var, "").strip() or any(e.strip() for e in environ.get(pool_variable(var), "").split(",")))


def remember_keys(environ: Mapping[str, str]) -> None:
    """Remember the value of every ``*_API_KEY`` variable of ``environ``, and every key
    of each ``*_API_KEYS`` pool, for redact()."""
    for name, value in environ.items():
        if name.endswith("_API_KEY"):
            _remember(value.strip())
        elif name.endswith("_API_KEYS"):
            for entry in value.split(","):
                _remember(entry.strip())  # the whole entry, label included
                for _, key in _split_pool(entry):
                    _remember(key)


def known_keys() -> frozenset[str]:
    """Every key value this process has seen."""
    return _frozen


def redact(text: str) -> str:
    """``text`` with every key seen by this process, and every run of RUN_CHARS
    (8) or more characters of one (of 5 different characters at least),
    replaced by ``***`` (one ``***`` per run)."""
    for key in sorted(_frozen, key=len, reverse=True):
        if key in text:
            text = text.replace(key, "***")
    if not _runs or len(text) < RUN_CHARS:
        return text
    runs, n = _runs, RUN_CHARS
    hits = [i for i in range(len(text) - n + 1) if text[i:i + n] in runs]
    if not hits:
        return text
    out: list[str] = []
    end = 0
    for i in hits:  # merge overlapping pieces into one masked run
        if i < end:
            end = i + n
            continue
        out += [text[end:i], "***"]
        end = i + n
    out.append(text[end:])
    return "".join(out)


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
