"""Where a journal's tasks live: the simulator, or a provider host with one key.

A task id means something only on the host (and account) that made it: a task
made by the bundled simulator cannot be polled on api.minimax.io, and a real
task polled on the simulator ends "task not found" with its paid video never
fetched. So the journal records, per provider, the world its tasks were made in
(``World``: simulated or not, the base URL's host, the key's fingerprint), and a
run in another world refuses that journal before anything is sent.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from batch_runner.errors import ConfigError

if TYPE_CHECKING:
    from batch_runner.catalog.settings import ProviderSettings
    from batch_runner.journal import Journal

__all__ = ["World", "WorldMismatchError", "check_worlds", "guess_simulated", "world_of"]

_META_PREFIX = "world:"
_LOOPBACK = ("127.", "localhost", "::1")


class WorldMismatchError(ConfigError):
    """The journal's tasks of a provider were made in another world than this run's."""


@dataclass(frozen=True)
class World:
    """Where one provider's tasks are made: ``simulated`` (the bundled simulator,
    whatever its port), else the base URL's ``host`` (host[:port]) and the key's
    ``key_id`` (keys.Secret.fingerprint: 8 hex digits, never the key; a pool of
    keys: their fingerprints joined by commas)."""

    simulated: bool
    host: str
    key_id: str

    def same_place(self, other: World) -> bool:
        """Whether a task made in ``other`` can be polled in this world."""
        if self.simulated or other.simulated:
            return self.simulated == other.simulated
        return self.host == other.host and (self.key_id == other.key_id or bool(self.keys() & other.keys()))

    def keys(self) -> set[str]:
        """The key fingerprints of this world (one per key of the pool)."""
        return {k for k in self.key_id.split(",") if k}

    def describe(self) -> str:
        """One phrase for messages, e.g. ``the simulator`` or ``api.minimax.io (key 1a2b3c4d)``."""
        if self.simulated:
            return "the simulator (--simulate)"
        return f"{self.host} (key {self.key_id or 'none'})"


def world_of(settings: ProviderSettings, simulated: bool) -> World:
    """The world a run with these settings makes its tasks in."""
    parts = urlsplit(settings.base_url)
    host = parts.netloc or settings.base_url
    pool = ",".join(sorted({k.secret.fingerprint() for k in settings.pool}))
    return World(simulated=simulated, host=host, key_id=pool or settings.api_key.fingerprint())


def _recorded(journal: Journal) -> dict[str, World]:
    found = {}
    for key, value in journal.meta_items(_META_PREFIX):
        try:
            found[key[len(_META_PREFIX):]] = World(**json.loads(value))
        except (TypeError, ValueError):
            continue
    return found


def guess_simulated(journal: Journal, provider: str | None = None,
                    real_hosts: Collection[str] = ()) -> bool | None:
    """Whether a journal written before worlds were recorded holds simulated tasks
    (of ``provider``, or of any), from its video URLs: the in-process simulator's
    are on the loopback interface, on a port no configured base URL uses
    (``real_hosts``: host[:port] of this run's base URLs). None when no URL tells."""
    urls = journal.video_urls(provider)
    if not urls:
        return None
    parts = urlsplit(urls[0])
    return (parts.hostname or "").startswith(_LOOPBACK) and parts.netloc not in real_hosts


def _guessed(journal: Journal, provider: str, host: str) -> World | None:
    simulated = guess_simulated(journal, provider, () if not host else (host,))
    return None if simulated is None else World(simulated=simulated, host="", key_id="")


def check_worlds(journal: Journal, worlds: Mapping[str, World], providers: Iterable[str]) -> None:
    """Refuse a journal whose tasks of one of ``providers`` live in another world
    than ``worlds[provider]``; then record the worlds of the providers that have
    none yet.

    Raises WorldMismatchError (exit 2) naming the journal, the provider, both
    worlds and how to choose another journal. Only providers the journal holds
    tasks of are compared: a journal with no task there takes any world. A
    provider with tasks but no key in this run (and no job of this run) is left
    alone: this run cannot poll it anyway. A pool of keys is the same world when
    one of its keys made the journal's tasks (the recorded keys then grow by the
    pool's: a task made with a key no longer configured is reported per job by the
    run, run/dispatch.py).
    """
    recorded = _recorded(journal)
    with_tasks = journal.providers_with_tasks()
    used = set(providers)
    names = sorted((used | with_tasks) & set(worlds))
    for name in names:
        mine = worlds[name]
        if name not in used and not mine.simulated and not mine.key_id:
            continue  # no key for it here: its old tasks are not touched by this run
        theirs = recorded.get(name)
        if theirs is None and name in with_tasks:
            guess = _guessed(journal, name, mine.host)
            if guess is not None and guess.simulated != mine.simulated:
                theirs = guess
        if theirs is not None and name in with_tasks and not mine.same_place(theirs):
            raise WorldMismatchError(
                f"{journal.where}: its {name} tasks were made on {theirs.describe()}, "
                f"this run uses {mine.describe()}; a task can only be polled where it was made. "
                "Use the journal of that world, or start another with --journal PATH "
                "(a --simulate run has its own default journal)"
            )
    grown = {}
    for name in names:
        mine, theirs = worlds[name], recorded.get(name)
        if theirs is not None and not mine.simulated and mine.keys() - theirs.keys() and mine.same_place(theirs):
            grown[name] = World(False, mine.host, ",".join(sorted(mine.keys() | theirs.keys())))
    journal.set_meta({f"{_META_PREFIX}{name}": json.dumps(asdict(grown.get(name, worlds[name])))
                      for name in names if (name not in recorded and (name in used or name in with_tasks))
                      or name in grown})
