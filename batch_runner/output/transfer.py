"""One try at saving a video URL as a file, resuming its ``.part``: ``save``.

A succeeded job's ``video_url`` is streamed (transport.py) into
``DIR/.<file>.part`` and renamed to ``DIR/<file>`` once complete, so a file with
its final name is always whole. An interrupted transfer (connection cut, timeout,
killed run) keeps its ``.part``: the next try (a tenacity retry, or the next run)
asks only for the rest with ``Range: bytes=N-``, and starts over when the server
sends the whole file instead. The size cap applies to the announced and to the
received length.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from batch_runner.errors import DownloadError
from batch_runner.providers.url_safety import (
    UnsafeUrlError,
    check_video_url,
    refuse_redirect,
)
from batch_runner.transport import Transport

__all__ = ["part_path", "save"]

_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n} bytes"


async def save(transport: Transport, url: str, dest: Path, *, max_bytes: int, timeout_s: float = 60.0,
               trusted_hosts: frozenset[str] = frozenset()) -> int:
    """One try at saving ``url`` as ``dest`` (resuming its ``.part``); returns bytes.

    The URL must pass urls.check_video_url (http(s), no local address but
    ``trusted_hosts``) and is fetched without following redirects.
    Raises DownloadError (``retryable`` for 5xx, 429, a short body; not for a
    refused URL or a redirect) and TransportError (connection refused or cut,
    timeout: the part is kept).
    """
    try:
        check_video_url(url, trusted_hosts=trusted_hosts)
    except UnsafeUrlError as exc:
        raise DownloadError(str(exc)) from None
    part = part_path(dest)
    if part.is_symlink():  # never written through
        part.unlink()
    have = part.stat().st_size if part.is_file() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    async with transport.stream("download", url, headers=headers, timeout_s=timeout_s,
                                allow_redirects=False) as resp:
        status, content_range = resp.status, resp.headers.get("content-range", "")
        try:
            refuse_redirect(status, resp.headers.get("location"))
        except UnsafeUrlError as exc:
            raise DownloadError(str(exc)) from None
        found = _RANGE.match(content_range)
        if status == 416 and have:
            if content_range.rpartition("/")[2] != str(have):  # else: the part is the whole file
                part.unlink()
                raise DownloadError("the saved part does not fit the file: starting over", retryable=True)
        elif status == 206:
            if not found or int(found.group(1)) != have:
                part.unlink(missing_ok=True)
                raise DownloadError("the server sent another part of the file: starting over", retryable=True)
            total = int(found.group(3)) if found.group(3).isdigit() else None
            await _write(resp, part, "ab" if have else "wb", have, total, max_bytes)
        elif status == 200:
            if resp.headers.get("content-type", "").startswith("text/html"):
                raise DownloadError("answered a web page, not a video (has the URL expired?)")
            await _write(resp, part, "wb", 0, resp.length, max_bytes)
        else:
            gone = " (URL expired or gone)" if status in (403, 404, 410) else ""
            raise DownloadError(f"HTTP {status}{gone}", retryable=status in (408, 429) or status >= 500,
                                url_gone=bool(gone))
    size = part.stat().st_size
    os.replace(part, dest)
    return size


async def _write(resp: Any, part: Path, mode: str, have: int, total: int | None, max_bytes: int) -> None:
    """Append (``ab``) or write (``wb``) the body to ``part``; ``have``: bytes
    already there; ``total``: the whole file's size when known."""
    if total is not None and total > max_bytes:
        raise DownloadError(f"is {_size(total)}, over the {_size(max_bytes)} cap (--download-max-mb)")
    with part.open(mode) as fh:
        async for chunk in resp.chunks():
            have += len(chunk)
            if have > max_bytes:
                fh.close()
                part.unlink()
                raise DownloadError(f"is over the {_size(max_bytes)} cap (--download-max-mb)")
            fh.write(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    if total is not None and have != total:
        raise DownloadError(f"got {have} of {total} bytes", retryable=True)


def part_path(dest: Path) -> Path:
    """The partial file ``dest`` is written through: ``.<name>.part`` beside it."""
    return dest.with_name(f".{dest.name}.part")
