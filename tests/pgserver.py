"""A throwaway PostgreSQL server for the shared-journal tests: initdb + pg_ctl in a
temporary folder, listening only on a Unix socket in that folder.

PostgreSQL refuses to run as root (CI runs as root): then the server runs as the
user ``nobody`` (``runuser``). Debian keeps the binaries in
/usr/lib/postgresql/<version>/bin, not on PATH.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def pg_bin() -> Path | None:
    """The folder holding initdb and pg_ctl, or None when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server; yields its URL (``postgresql://postgres@/postgres?host=SOCKET_DIR``); stops it after."""
    bindir = pg_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed (initdb not found): apt-get install postgresql")
    root = Path(tempfile.mkdtemp(prefix="br-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "nobody", "--"]
        shutil.chown(root, "nobody")
    data = root / "data"

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, cwd=root)

    run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
    options = f"-k {root} -c listen_addresses='' -c fsync=off -c max_connections=200"
    run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "-t", "30", "start")
    try:
        yield f"postgresql://postgres@/postgres?host={root}"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, cwd=root)
        shutil.rmtree(root, ignore_errors=True)


def pg_ctl(url: str, action: str) -> None:
    """``pg_ctl stop`` (fast) or ``start`` for the server of ``url`` (one started by
    ``postgres_server``), to test a run whose database goes away and comes back."""
    bindir = pg_bin()
    assert bindir is not None
    root = Path(url.rsplit("host=", 1)[1])
    as_user = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    args = [str(bindir / "pg_ctl"), "-D", str(root / "data"), "-w", "-t", "30", action]
    if action == "stop":
        args += ["-m", "fast"]
    else:
        args += ["-o", f"-k {root} -c listen_addresses='' -c fsync=off -c max_connections=200",
                 "-l", str(root / "log")]
    subprocess.run([*as_user, *args], check=True, capture_output=True, cwd=root)
