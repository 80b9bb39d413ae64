"""The only module that talks aiohttp: send an HttpRequest, get an HttpResponse;
or stream a file (``Transport.stream``: video downloads, image URL checks).

Foreign errors become TransportError once, here, in one function
(``transport_error``): ``connection_error`` when the connection was refused or
the URL is not valid, before anything was sent (``maybe_sent=False``), or when
it broke after sending (``maybe_sent=True``); ``timeout`` when no answer or no
data came in time (``maybe_sent=True``).

Answers are untrusted: the whole exchange (connect, send, read) must end
within ``timeout_s``; a body (after decompression) is read up to
``MAX_BODY_BYTES`` and a longer one, or a Content-Length announcing one, is
``bad_response``; redirects are not followed (an API answer never redirects,
and following one could carry the key to another host). Error texts never
carry request headers (they hold API keys): aiohttp's own exception, whose
``request_info`` holds them, is not chained to ours; a summary of it (type and
redacted message) is.

With a ``policy`` (``Transport.open(policy=...)``, providers/url_safety.py
AddressPolicy) every connection is checked before it is made: each address the
resolver returns for a name, and an IP literal as it is, must be allowed, or
the exchange fails with ``connection_error`` (``maybe_sent=False``, nothing
sent) saying the address is refused. The connector connects to the addresses
the resolver returned and checked, so a second DNS answer cannot swap them,
and a redirect is a new connection, checked again. ``make_resolver`` builds
the resolver under the check (tests replace it with a table of names).

A ``Recorder`` (``Transport.open(recorder=...)``) is told of every exchange:
the request, the answer (or None) and the error (or None), its start (unix
seconds) and its duration (seconds); ``run --trace-http`` writes them as HAR.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from batch_runner.errors import TransportError
from batch_runner.keys import redact
from batch_runner.providers.url_safety import AddressPolicy
from batch_runner.providers.wire import HttpRequest, HttpResponse

__all__ = ["FOREIGN_ERRORS", "MAX_BODY_BYTES", "AddressRefused", "ForeignError", "Recorder", "Stream", "Transport",
           "make_resolver", "transport_error"]

MAX_BODY_BYTES = 1 << 20  # 1 MiB: no provider JSON answer is near this


#: The exceptions an aiohttp exchange raises for a network failure: what
#: ``transport_error`` converts. (ValueError: aiohttp rejects some bad URLs so.)
FOREIGN_ERRORS: tuple[type[BaseException], ...] = (TimeoutError, aiohttp.ClientError, OSError, ValueError)


class Recorder(Protocol):
    """What is told of every exchange (output: run --trace-http's HAR file)."""

    def record(self, label: str, req: HttpRequest, resp: HttpResponse | None, error: BaseException | None,
               started: float, elapsed_s: float) -> None:
        """One exchange with ``label`` (a provider, or a caller's name): ``resp``
        None when no answer came (``error`` says why); a streamed answer's body
        is ``b""`` (not kept); ``started``: unix seconds; ``elapsed_s``: seconds."""
        ...


class AddressRefused(OSError):
    """A connection the AddressPolicy refuses (the message says why); raised before
    anything is sent."""


#: builds the resolver whose answers the policy checks (aiohttp's threaded getaddrinfo)
make_resolver: Callable[[], AbstractResolver] = aiohttp.ThreadedResolver


class _CheckedResolver(AbstractResolver):
    """``inner``'s answers, refused (AddressRefused) when one is not allowed by ``policy``."""

    def __init__(self, inner: AbstractResolver, policy: AddressPolicy) -> None:
        self.inner, self.policy = inner, policy

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET,
                      ) -> list[ResolveResult]:
        found = await self.inner.resolve(host, port, family)
        why = self.policy.refusal(host, port, [r["host"] for r in found])
        if why:
            raise AddressRefused(why)
        return found

    async def close(self) -> None:
        await self.inner.close()


class _CheckedConnector(aiohttp.TCPConnector):
    """A TCPConnector that refuses an IP literal the policy does not allow (names
    go through _CheckedResolver; aiohttp does not resolve a literal)."""

    def __init__(self, policy: AddressPolicy, **kwargs: Any) -> None:
        super().__init__(resolver=_CheckedResolver(make_resolver(), policy), **kwargs)
        self.policy = policy

    async def connect(self, req: Any, traces: Any, timeout: aiohttp.ClientTimeout) -> Any:  # noqa: ASYNC109 - aiohttp's
        host = (req.url.raw_host or "").strip("[]")
        if _is_literal(host) and (why := self.policy.refusal(host, req.url.port or 0, [host])):
            raise AddressRefused(why)
        return await super().connect(req, traces, timeout)


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


class ForeignError(Exception):
    """What a library error said (type and redacted text), without its data."""


def transport_error(label: str, exc: BaseException, timeout_s: float, *, sent: bool = False) -> TransportError:
    """The TransportError for an aiohttp (or OS) exception ``exc``.

    ``label`` names the provider or caller in the message; ``timeout_s`` is the
    limit that ran out (seconds, for the message); ``sent`` is True once the
    request is known to be sent (reading a body): then nothing is
    ``maybe_sent=False``.

    ========================================  =================  ==========
    exception                                 error_code         maybe_sent
    ========================================  =================  ==========
    TimeoutError (aiohttp's timeouts too)     timeout            True
    aiohttp.ClientConnectorError              connection_error   False
    aiohttp.InvalidURL                        connection_error   False
    any other ClientError, OSError, ...       connection_error   True
    ========================================  =================  ==========
    """
    refused = next((e for e in (exc, getattr(exc, "os_error", None), exc.__cause__) if isinstance(e, AddressRefused)),
                   None)
    if refused is not None:
        return TransportError(label, "connection_error", str(refused), maybe_sent=False, retryable=False)
    if isinstance(exc, TimeoutError):
        what = "no data" if sent else "no answer"
        return TransportError(label, "timeout", f"{what} within {timeout_s:g} s", maybe_sent=True)
    if not sent and isinstance(exc, aiohttp.ClientConnectorError):
        return TransportError(label, "connection_error", f"cannot connect: {exc.os_error}", maybe_sent=False)
    if not sent and isinstance(exc, aiohttp.InvalidURL):
        return TransportError(label, "connection_error", "cannot send: not a valid URL", maybe_sent=False)
    what = "body cut short" if sent else "connection broken"
    return TransportError(label, "connection_error", f"{what}: {type(exc).__name__}", maybe_sent=True)


@dataclass
class Stream:
    """An open streamed answer: ``status``, lower-case ``headers``, ``chunks()``."""

    status: int
    headers: dict[str, str]
    _resp: aiohttp.ClientResponse
    _label: str
    _timeout_s: float

    @property
    def length(self) -> int | None:
        """Content-Length in bytes, or None when not sent."""
        value = self.headers.get("content-length", "")
        return int(value) if value.isdigit() else None

    async def chunks(self, size: int = 1 << 16) -> AsyncIterator[bytes]:
        """The body in chunks of at most ``size`` bytes. Raises TransportError
        (``connection_error`` when the body is cut short, ``timeout``)."""
        error: TransportError | None = None
        try:
            async for chunk in self._resp.content.iter_chunked(size):
                yield chunk
        except FOREIGN_ERRORS as exc:
            error, summary = transport_error(self._label, exc, self._timeout_s, sent=True), _summary(exc)
        if error is not None:
            raise error from summary  # outside the except: aiohttp's error is not chained


class Transport:
    """One aiohttp ClientSession (connection pooling) for the whole run."""

    def __init__(self, session: aiohttp.ClientSession, recorder: Recorder | None = None) -> None:
        self.session = session
        self.recorder = recorder

    @classmethod
    @asynccontextmanager
    async def open(cls, limit: int = 100, recorder: Recorder | None = None,
                   policy: AddressPolicy | None = None) -> AsyncIterator[Transport]:
        """A Transport with its own session, closed on exit; ``recorder`` is
        told of every exchange; ``policy``: where connections may go (every
        command that fetches a user's or a provider's URL passes one; None: any
        address, for tests)."""
        connector = (aiohttp.TCPConnector(limit=limit, limit_per_host=limit) if policy is None
                     else _CheckedConnector(policy, limit=limit, limit_per_host=limit))
        async with aiohttp.ClientSession(connector=connector) as session:
            yield cls(session, recorder)

    def _record(self, label: str, req: HttpRequest, resp: HttpResponse | None, error: BaseException | None,
                started: float, t0: float) -> None:
        if self.recorder is not None:
            self.recorder.record(label, req, resp, error, started, time.perf_counter() - t0)

    async def send(self, provider: str, req: HttpRequest, timeout_s: float) -> HttpResponse:
        """Send ``req``; return the answer whatever its HTTP status.

        Raises TransportError (``connection_error`` / ``timeout`` /
        ``bad_response`` for an over-long body).
        """
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        started, t0 = time.time(), time.perf_counter()
        try:
            async with self.session.request(
                req.method, req.url, headers=req.headers, json=req.json, timeout=timeout,
                allow_redirects=False,
            ) as resp:
                if (resp.content_length or 0) > MAX_BODY_BYTES:
                    raise _too_large(provider)
                body = await _read_capped(provider, resp)
                headers = {k.lower(): v for k, v in resp.headers.items()}
                answer = HttpResponse(resp.status, headers, body)
                self._record(provider, req, answer, None, started, t0)
                return answer
        except TransportError as exc:
            self._record(provider, req, None, exc, started, t0)
            raise
        except FOREIGN_ERRORS as exc:
            error, summary = transport_error(provider, exc, timeout_s), _summary(exc)
        self._record(provider, req, None, error, started, t0)
        raise error from summary  # outside the except: aiohttp's error is not chained

    @asynccontextmanager
    async def stream(self, label: str, url: str, *, method: str = "GET",
                     headers: Mapping[str, str] | None = None, timeout_s: float = 60.0,
                     allow_redirects: bool = True) -> AsyncIterator[Stream]:
        """Open ``method url`` (no body) and yield its Stream whatever the status.

        ``timeout_s`` bounds connecting and each wait for data, not the whole
        transfer. ``label`` names the caller in errors. With
        ``allow_redirects=False`` (video downloads) a 3xx answer is yielded as
        it is. Raises TransportError.
        """
        timeout = aiohttp.ClientTimeout(total=None, connect=timeout_s, sock_read=timeout_s)
        error: TransportError | None = None
        started, t0 = time.time(), time.perf_counter()
        sent = HttpRequest(method, url, dict(headers or {}))
        try:
            resp = await self.session.request(method, url, headers=dict(headers or {}), timeout=timeout,
                                              allow_redirects=allow_redirects)
        except FOREIGN_ERRORS as exc:
            error, summary = transport_error(label, exc, timeout_s), _summary(exc)
        if error is not None:
            self._record(label, sent, None, error, started, t0)
            raise error from summary  # outside the except: aiohttp's error is not chained
        self._record(label, sent, HttpResponse(resp.status, {k.lower(): v for k, v in resp.headers.items()}, b""),
                     None, started, t0)
        try:
            yield Stream(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp, label, timeout_s)
        finally:
            resp.release()  # a connection with its body left unread is closed, not reused


async def _read_capped(provider: str, resp: aiohttp.ClientResponse) -> bytes:
    """The body, at most MAX_BODY_BYTES; TransportError beyond."""
    if resp.content_length is not None and "Content-Encoding" not in resp.headers:
        return await resp.read()  # announced length already checked; nothing to decompress
    chunks, size = [], 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large(provider)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(provider: str) -> TransportError:
    return TransportError(provider, "bad_response", "answer larger than 1 MiB", maybe_sent=True)


def _summary(exc: BaseException) -> ForeignError:
    return ForeignError(f"{type(exc).__name__}: {redact(str(exc))[:300]}")
