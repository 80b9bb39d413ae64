"""Write a whole file so that a reader finds the old file or the new one, never a part.

``write_atomically`` is how the results CSV and the HTML report are written: to
a temporary file beside the target (``.<name>.<random>``, same folder, so the
rename stays on one file system), flushed to disk, then renamed over the target
with ``os.replace`` (atomic on POSIX and Windows). A crash mid-write leaves the
previous file as it was. The file gets the mode a plain ``open(path, "w")``
would give it: an existing file's mode, else 0666 less the umask.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

__all__ = ["write_atomically"]


def _umask() -> int:
    """The process's umask, read without changing it where the system says it
    (Linux ``/proc/self/status``); else set and restored at once."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_for(path: Path) -> int:
    """The permission bits ``open(path, "w")`` would leave: those of the file
    there now, else 0666 less the umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0o666 & ~_umask()


def write_atomically(path: str | Path, data: str | bytes | Iterable[str]) -> Path:
    """Replace the file ``path`` with ``data`` and return ``path`` as a Path.

    Text is written as UTF-8 exactly as given (no newline translation); an
    iterable of texts is written piece by piece as it comes (a large file is
    never whole in memory). The
    folder is created when missing. The file's permission bits are what a plain
    ``open(path, "w")`` gives: kept from the file it replaces, else 0666 less
    the umask (0644 under the usual umask 022), never the temporary file's 0600.

    Raises OSError (folder not writable, disk full, ...); the temporary file is
    removed then and ``path`` is left as it was.
    """
    path = Path(path)
    pieces = [data] if isinstance(data, str | bytes) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _mode_for(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            for piece in pieces:
                fh.write(piece.encode("utf-8") if isinstance(piece, str) else piece)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
