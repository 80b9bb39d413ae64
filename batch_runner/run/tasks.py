"""Run coroutines together so that one failure stops them all, and none is left behind."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import Any

__all__ = ["cancel_and_wait", "gather_or_cancel"]


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel ``tasks`` and wait until each has ended; their errors are retrieved
    (so asyncio prints no "Task exception was never retrieved") and dropped: the
    caller raises the error that made it stop."""
    pending = [t for t in tasks if not t.done()]
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def gather_or_cancel(*aws: Awaitable[Any]) -> None:
    """Await every one of ``aws``; when one raises, cancel the others, wait for
    them and raise that error (``asyncio.gather`` leaves them running and their
    errors unretrieved). Cancelled itself: cancels them all."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        await asyncio.shield(cancel_and_wait(tasks))
        raise
