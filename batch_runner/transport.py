"""The only module that talks aiohttp: send an HttpRequest, get an HttpResponse;
or stream a file (``Transport.stream``: video downloads, image URL checks).

Foreign errors become TransportError once, here: ``connection_error`` when the
connection was refused before anything was sent (``maybe_sent=False``), or when
it broke after sending (``maybe_sent=True``); ``timeout`` when no answer came
in time (``maybe_sent=True``). Bodies are read up to ``MAX_BODY_BYTES``.
Error texts never carry request headers (they hold API keys).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp

from .errors import TransportError
from .providers.base import HttpRequest, HttpResponse

__all__ = ["Transport", "Stream", "MAX_BODY_BYTES"]

MAX_BODY_BYTES = 1 << 20  # 1 MiB: no provider JSON answer is near this


@dataclass
class Stream:
    """An open streamed answer: ``status``, lower-case ``headers``, ``chunks()``."""

    status: int
    headers: dict[str, str]
    _resp: aiohttp.ClientResponse
    _label: str

    @property
    def length(self) -> int | None:
        """Content-Length in bytes, or None when not sent."""
        value = self.headers.get("content-length", "")
        return int(value) if value.isdigit() else None

    async def chunks(self, size: int = 1 << 16) -> AsyncIterator[bytes]:
        """The body in chunks of at most ``size`` bytes. Raises TransportError
        (``connection_error`` when the body is cut short, ``timeout``)."""
        try:
            async for chunk in self._resp.content.iter_chunked(size):
                yield chunk
        except TimeoutError as exc:
            raise TransportError(self._label, "timeout", "no data for too long", maybe_sent=True) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise TransportError(self._label, "connection_error", f"body cut short: {type(exc).__name__}",
                                 maybe_sent=True) from exc


class Transport:
    """One aiohttp ClientSession (connection pooling) for the whole run."""

    def __init__(self, session: aiohttp.ClientSession):
        self.session = session

    @classmethod
    @asynccontextmanager
    async def open(cls, limit: int = 100) -> AsyncIterator[Transport]:
        """A Transport with its own session, closed on exit."""
        connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit)
        async with aiohttp.ClientSession(connector=connector) as session:
            yield cls(session)

    async def send(self, provider: str, req: HttpRequest, timeout_s: float) -> HttpResponse:
        """Send ``req``; return the answer whatever its HTTP status.

        Raises TransportError (``connection_error`` / ``timeout`` /
        ``bad_response`` for an over-long body).
        """
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        try:
            async with self.session.request(
                req.method, req.url, headers=req.headers, json=req.json, timeout=timeout
            ) as resp:
                body = await resp.content.read(MAX_BODY_BYTES + 1)
                if len(body) > MAX_BODY_BYTES:
                    raise TransportError(
                        provider, "bad_response", "answer larger than 1 MiB", maybe_sent=True
                    )
                headers = {k.lower(): v for k, v in resp.headers.items()}
                return HttpResponse(resp.status, headers, body)
        except TransportError:
            raise
        except TimeoutError as exc:
            raise TransportError(
                provider, "timeout", f"no answer within {timeout_s:g} s", maybe_sent=True
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            raise TransportError(
                provider, "connection_error", f"cannot connect: {exc.os_error}", maybe_sent=False
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise TransportError(
                provider, "connection_error", f"connection broken: {type(exc).__name__}", maybe_sent=True
            ) from exc

    @asynccontextmanager
    async def stream(self, label: str, url: str, *, method: str = "GET",
                     headers: Mapping[str, str] | None = None, timeout_s: float = 60.0) -> AsyncIterator[Stream]:
        """Open ``method url`` (no body) and yield its Stream whatever the status.

        ``timeout_s`` bounds connecting and each wait for data, not the whole
        transfer. ``label`` names the caller in errors. Raises TransportError.
        """
        timeout = aiohttp.ClientTimeout(total=None, connect=timeout_s, sock_read=timeout_s)
        try:
            resp = await self.session.request(method, url, headers=dict(headers or {}), timeout=timeout)
        except TimeoutError as exc:
            raise TransportError(label, "timeout", f"no answer within {timeout_s:g} s", maybe_sent=True) from exc
        except aiohttp.InvalidURL as exc:
            raise TransportError(label, "connection_error", f"not a valid URL: {exc}", maybe_sent=False) from exc
        except aiohttp.ClientConnectorError as exc:
            raise TransportError(label, "connection_error", f"cannot connect: {exc.os_error}", maybe_sent=False) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise TransportError(label, "connection_error", f"connection broken: {type(exc).__name__}",
                                 maybe_sent=True) from exc
        try:
            yield Stream(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp, label)
        finally:
            resp.release()  # a connection with its body left unread is closed, not reused
