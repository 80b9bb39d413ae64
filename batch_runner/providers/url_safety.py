"""Which video URLs we accept from a provider, and fetch.

A provider's answer is untrusted input. ``check_video_url(url)`` returns the
URL unchanged when it is safe to record and to download, and raises
UnsafeUrlError otherwise. It refuses:

- anything but ``http://`` and ``https://`` (``file:``, ``ftp:``, ``data:``,
  ``javascript:``, a bare path), a URL without a host, or with ``user:pass@``;
- control characters or spaces, and URLs longer than MAX_URL_CHARS;
- a host that is ``localhost`` or an IP literal that is not a public address
  (loopback, private, link-local such as 169.254.169.254, multicast,
  unspecified), unless it is one of ``trusted_hosts``: the hosts of the
  providers' own base URLs, so a simulator or proxy on 127.0.0.1 keeps working.
  Host names are not resolved (a public name that resolves to a private
  address is not caught here).

Downloads (output/transfer.py) call ``check_video_url`` before each request, send it
with ``allow_redirects=False`` and pass the answer to ``refuse_redirect``: a
redirect could lead anywhere, including back to a local address.

Names are checked where they are resolved: ``AddressPolicy`` says which
addresses a connection may go to (public ones; any address for the providers'
own base URL host and port, ``trusted``; any at all with ``allow_private``,
``--allow-private-urls``). transport.py applies it to every address its
resolver returns and to every IP literal, for every connection (redirects
included), and connects to the address it checked.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from batch_runner.errors import BatchRunnerError

__all__ = ["MAX_URL_CHARS", "REFUSED", "AddressPolicy", "UnsafeUrlError", "check_video_url", "is_public",
           "refuse_redirect"]

MAX_URL_CHARS = 8192
#: how every refusal of an address ends (a caller may tell it from other failures)
REFUSED = "refused (--allow-private-urls allows it)"
_BAD_CHARS = re.compile(r"[\x00-\x20\x7f-\x9f]")  # spaces, C0 and C1 controls, DEL


class UnsafeUrlError(BatchRunnerError, ValueError):
    """A URL we refuse to record or fetch; the message says why."""


def is_public(address: str) -> bool:
    """Whether the IP address ``address`` (text; an IPv6 zone is ignored) is a
    public unicast one: not loopback, private, link-local (169.254.169.254),
    shared, reserved, unspecified (0.0.0.0) or multicast. An IPv4-mapped IPv6
    address is judged as its IPv4 address. False for what is not an address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True)
class AddressPolicy:
    """Where a connection may go. ``trusted``: ``(host, port)`` pairs (host lower
    case, as in a URL) that may be any address: the providers' own base URLs, e.g.
    a simulator on 127.0.0.1; ``allow_private``: every address may be used."""

    trusted: frozenset[tuple[str, int]] = frozenset()
    allow_private: bool = False

    @classmethod
    def for_base_urls(cls, urls: Iterable[str], *, allow_private: bool = False) -> AddressPolicy:
        """The policy trusting the host and port of each of ``urls`` (default
        ports 80 / 443; ``localhost`` also as 127.0.0.1 and ::1)."""
        pairs: set[tuple[str, int]] = set()
        for url in urls:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
            try:
                port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
            except ValueError:
                continue
            names = (host, "127.0.0.1", "::1") if host == "localhost" else (host,)
            pairs.update((name, port) for name in names if name)
        return cls(frozenset(pairs), allow_private)

    def refusal(self, host: str, port: int, addresses: Iterable[str]) -> str | None:
        """Why ``host``:``port`` may not be connected to at ``addresses`` (what it
        resolved to), or None when it may."""
        if self.allow_private or (host.lower().strip("[]"), port) in self.trusted:
            return None
        if all(is_public(a) for a in addresses):
            return None
        return f"{host} is a private, local or reserved address, or a name for one: {REFUSED}"


def _local_host(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        try:  # the forms a resolver also reads as IPv4: 2130706433, 0x7f.1, 127.1
            ip = ipaddress.ip_address(socket.inet_aton(host))
        except (OSError, ValueError):
            return False  # a name: not resolved here
    return not ip.is_global or ip.is_multicast


def check_video_url(url: object, *, trusted_hosts: Collection[str] = ()) -> str:
    """``url`` if it is an http(s) URL to a public host (or one of ``trusted_hosts``).

    Raises UnsafeUrlError naming what is wrong (the URL is quoted cut to 100
    characters).
    """
    if not isinstance(url, str) or not url:
        raise UnsafeUrlError(f"the video URL is not text: {type(url).__name__}")
    shown = url[:100]
    if len(url) > MAX_URL_CHARS:
        raise UnsafeUrlError(f"the video URL has {len(url)} characters (at most {MAX_URL_CHARS}): {shown}...")
    if _BAD_CHARS.search(url):
        raise UnsafeUrlError(f"the video URL contains spaces or control characters: {shown!r}")
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise UnsafeUrlError(f"the video URL cannot be parsed ({exc}): {shown!r}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise UnsafeUrlError(f"only http(s) video URLs are accepted, not {parts.scheme or 'a bare path'}: {shown!r}")
    if not host:
        raise UnsafeUrlError(f"the video URL has no host: {shown!r}")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrlError("the video URL carries a user name or password: refused")
    if host not in {h.lower() for h in trusted_hosts} and _local_host(host):
        raise UnsafeUrlError(f"the video URL points at a local or private address ({host}): refused")
    return url


def refuse_redirect(status: int, location: str | None = None) -> None:
    """Raise UnsafeUrlError when a download answer is a redirect (HTTP 3xx):
    send downloads with ``allow_redirects=False`` and call this on the answer."""
    if 300 <= status < 400:
        where = f" to {location[:100]!r}" if location else ""
        raise UnsafeUrlError(f"the video URL redirects (HTTP {status}){where}: redirects are refused")
