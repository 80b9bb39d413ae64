"""Write a whole file so that a reader finds the old file or the new one, never a part.

``write_atomically`` is how the results CSV and the HTML report are written: to
a temporary file beside the target (``.<name>.<random>``, same folder, so the
rename stays on one file system), flushed to disk, then renamed over the target
with ``os.replace`` (atomic on POSIX and Windows). A crash mid-write leaves the
previous file as it was.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_atomically"]


def write_atomically(path: str | Path, data: str | bytes) -> Path:
    """Replace the file ``path`` with ``data`` and return ``path`` as a Path.

    Text is written as UTF-8 exactly as given (no newline translation). The
    folder is created when missing. The temporary file is created with mode
    0600 (``tempfile.mkstemp``), and the renamed file keeps that mode.

    Raises OSError (folder not writable, disk full, ...); the temporary file is
    removed then and ``path`` is left as it was.
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
