"""``validate --check-urls``: is each remote image reachable, and within limits?

Remote image URLs are not fetched by default (validation sends nothing). With
``--check-urls`` each distinct ``http(s)`` image of the jobs is fetched once:
a HEAD (status; a Content-Length over the limit is refused without
downloading), then a GET read only until Pillow knows the format and size (at
most the largest ``max_bytes`` + 1 bytes). Then each job's provider limits apply
as for a local file (images.py ImageLimits, from data/providers.yaml). At most ``concurrency`` at a time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
from collections.abc import Iterable
from dataclasses import dataclass

from batch_runner.catalog.facts import catalog
from batch_runner.errors import Problem, TransportError
from batch_runner.jobs.images import (
    IMAGE_FIELDS,
    ImageError,
    ImageFacts,
    ImageLimits,
    inspect_stream,
    ref_kind,
)
from batch_runner.jobs.model import Job
from batch_runner.manifest.model import ManifestRow
from batch_runner.providers.url_safety import REFUSED, AddressPolicy
from batch_runner.transport import Transport

__all__ = ["ImageUse", "check_urls", "fetch_facts", "image_uses"]

_FIRST_TRY = 1 << 14  # bytes read before the first attempt to parse the header


@dataclass(frozen=True)
class ImageUse:
    """One job's use of a remote image: where (file: row N), field, URL, provider."""

    where: str
    field: str
    url: str
    provider: str


async def fetch_facts(transport: Transport, url: str, max_bytes: int, timeout_s: float = 20.0) -> ImageFacts:
    """Format, pixels and size of the image at ``url``, reading no more than
    needed (and never more than ``max_bytes`` + 1 bytes).

    Raises ImageError (HTTP error, not an image, larger than ``max_bytes``) and
    TransportError (unreachable).
    """
    async with transport.stream("image", url, method="HEAD", timeout_s=timeout_s) as head:
        status, length = head.status, head.length
    if status >= 400 and status not in (405, 501):  # HEAD refused: try the GET
        raise ImageError(f"answers HTTP {status}")
    if length is not None and length > max_bytes:
        raise ImageError(f"is {length / 2**20:.1f} MB; at most {max_bytes / 2**20:g} MB is taken")
    async with transport.stream("image", url, timeout_s=timeout_s) as resp:
        if resp.status >= 400:
            raise ImageError(f"answers HTTP {resp.status}")
        size = resp.length if resp.length is not None else length
        buf, facts, next_try = bytearray(), None, _FIRST_TRY
        async for chunk in resp.chunks():
            buf += chunk
            if len(buf) > max_bytes:
                raise ImageError(f"is over {max_bytes / 2**20:g} MB; at most {max_bytes / 2**20:g} MB is taken")
            if facts is None and len(buf) >= next_try:
                facts, next_try = _try_header(buf, size), next_try * 4
            if facts is not None and size is not None:
                return facts
        final = _try_header(buf, len(buf)) if facts is None else facts
        if final is None:
            return inspect_stream(io.BytesIO(bytes(buf)), len(buf))  # raises the reason
        return dataclasses.replace(final, bytes=len(buf))


def _try_header(buf: bytearray, size: int | None) -> ImageFacts | None:
    try:
        return inspect_stream(io.BytesIO(bytes(buf)), size)
    except ImageError:
        return None  # perhaps not enough bytes yet


async def check_urls(uses: Iterable[ImageUse], *, concurrency: int = 8, timeout_s: float = 20.0,
                     allow_private: bool = False) -> list[Problem]:
    """Problems of every remote image use: refused (a private or local address,
    unless ``allow_private``), unreachable, not an image, or outside its
    provider's limits (one fetch per distinct URL)."""
    uses = list(uses)
    # the largest image any provider of these uses takes (MiniMax V2's 30 MB must not make
    # a 20 MB provider's image be fetched whole)
    limit = max((ImageLimits.of(catalog()[u.provider]).max_bytes for u in uses if u.provider in catalog()),
                default=max(ImageLimits.of(i).max_bytes for i in catalog().values()))
    gate = asyncio.Semaphore(concurrency)
    results: dict[str, ImageFacts | str] = {}

    async def one(transport: Transport, url: str) -> None:
        async with gate:
            try:
                results[url] = await fetch_facts(transport, url, limit, timeout_s)
            except ImageError as exc:
                results[url] = str(exc)
            except TransportError as exc:
                results[url] = _unreachable(exc, timeout_s)

    async with Transport.open(limit=concurrency, policy=AddressPolicy(allow_private=allow_private)) as transport:
        await asyncio.gather(*(one(transport, url) for url in dict.fromkeys(u.url for u in uses)))
    problems = []
    for use in uses:
        found = results[use.url]
        if isinstance(found, str):
            problems.append(Problem(use.where, use.field, f"{use.url} {found}"))
            continue
        limits = ImageLimits.of(catalog()[use.provider])
        problems += [Problem(use.where, use.field, f"{use.url} {msg}") for msg in limits.problems(found)]
    return problems


def _unreachable(exc: TransportError, timeout_s: float) -> str:
    """The one message of a failed fetch: why an address is refused, else the same
    words for a refused, timed out or broken connection."""
    if not exc.maybe_sent and exc.provider_message.endswith(REFUSED):
        return exc.provider_message
    return f"cannot be fetched (no connection, or no answer within {timeout_s:g} s)"


def image_uses(jobs: Iterable[Job], rows: Iterable[ManifestRow]) -> list[ImageUse]:
    """The remote images of ``jobs``, located by their manifest ``rows``
    (row number -> "file: row N")."""
    where: dict[int, str] = {}
    for row in rows:
        where.setdefault(row.row, row.where)
    return [
        ImageUse(where.get(job.row, f"row {job.row}"), fld, ref, job.provider)
        for job in jobs
        for fld, ref in zip(IMAGE_FIELDS, (job.image, job.end_image), strict=True)
        if ref and ref_kind(ref) == "url"
    ]
