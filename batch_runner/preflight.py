"""``batch-runner check``: a preflight of each provider that spends nothing.

Per provider it tells the base URL used, whether its host name resolves (DNS)
and takes a TCP (and, for https, TLS) connection, whether the host speaks the
provider's API at all (a web page, a redirect or a foreign 404 means the base
URL points at a web site), whether the API key is accepted, the provider's
balance where a balance endpoint is documented (none of the six documents one,
seen 2026-11), and the clock skew against the server's ``Date`` header.

The key is tested by the request the adapter builds (``build_key_check``: a
poll of a made-up task id, which no provider bills; data/providers.yaml
``key_check`` gives the request and its source per provider), sent through
transport.py. No key is ever printed: every text leaves through keys.redact.
A provider with a pool of keys (``<NAME>_API_KEYS``) gets one row per key,
named by its key id (``label:fingerprint``): each key is its own account.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from batch_runner.catalog.facts import catalog
from batch_runner.catalog.settings import ProviderSettings
from batch_runner.errors import TransportError
from batch_runner.keys import redact
from batch_runner.keyscan import mask
from batch_runner.providers import ADAPTERS
from batch_runner.providers.url_safety import AddressPolicy
from batch_runner.transport import Transport

__all__ = ["CLOCK_SKEW_WARN_S", "ProviderCheck", "check_providers", "exit_status", "render_table"]

#: a clock further off than this many seconds is worth a warning: URL lifetimes
#: and Retry-After dates are read against the local clock
CLOCK_SKEW_WARN_S = 60.0


@dataclass
class ProviderCheck:
    """What ``check`` found about one provider.

    Each step is ``"ok"``, ``""`` (not tried: an earlier step failed) or a short
    text saying what went wrong: ``dns`` (the host name resolves), ``connect``
    (TCP, and TLS for https), ``api`` (the host answers as this provider's API),
    ``key`` (``ok``, ``missing``, ``refused``, ``unclear`` or ``""``).
    ``balance``: the balance, or why there is none. ``clock_skew_s``: the
    server's ``Date`` minus the local clock, seconds (None: no Date header).
    ``detail``: what the key check's answer said; ``fix``: what to do, or ``""``.
    ``key_id``: the key of the provider's pool this row checks (``""``: a pool of one).
    """

    provider: str
    base_url: str
    key_env: str
    key_id: str = ""
    dns: str = ""
    connect: str = ""
    api: str = ""
    key: str = ""
    balance: str = "no balance endpoint documented"
    clock_skew_s: float | None = None
    detail: str = ""
    fix: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The provider, with the key id when it is one key of a pool: ``minimax team-a:3f2a9c1d``."""
        return f"{self.provider} {self.key_id}" if self.key_id else self.provider

    @property
    def usable(self) -> bool:
        """Whether jobs can be sent to this provider: its key was accepted."""
        return self.key == "ok"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field, plus ``usable``."""
        return {
            "provider": self.provider, "key_id": self.key_id, "usable": self.usable, "base_url": self.base_url,
            "dns": self.dns, "connect": self.connect, "api": self.api, "key": self.key,
            "balance": self.balance,
            "clock_skew_s": None if self.clock_skew_s is None else round(self.clock_skew_s, 1),
            "detail": self.detail, "fix": self.fix, "warnings": list(self.warnings),
        }


def _clean(text: str) -> str:
    """``text`` with every known key and anything shaped like a key masked."""
    return mask(redact(text))


def _skew(date: str | None) -> float | None:
    """Seconds the server's clock (its ``Date`` header) is ahead of ours."""
    if not date:
        return None
    try:
        when = parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError):
        return None
    return when.timestamp() - time.time()


async def _reach(result: ProviderCheck, timeout_s: float) -> bool:
    """Fill ``dns`` and ``connect``; True when both went through."""
    parts = urlsplit(result.base_url)
    name = result.key_env.removesuffix("_API_KEY") + "_BASE_URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        result.dns = "not an http(s) URL"
        result.fix = f"set {name} to the provider's API URL, e.g. https://api.example.com"
        return False
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        result.dns = "the URL's port is not a number"
        result.fix = f"correct the port in {name}"
        return False
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout_s)
    except (OSError, TimeoutError) as exc:
        result.dns = f"{host} does not resolve ({type(exc).__name__})"
        result.fix = f"check {name} and this machine's network (DNS)"
        return False
    result.dns = "ok"
    context = ssl.create_default_context() if parts.scheme == "https" else None
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context, server_hostname=host if context else None),
            timeout_s)
    except ssl.SSLError as exc:
        result.connect = f"TLS failed: {exc.reason or type(exc).__name__}"
        result.fix = f"check {name} (the host's certificate is not valid for it) or the system clock"
        return False
    except (OSError, TimeoutError) as exc:
        reason = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__)
        result.connect = f"cannot connect to {host}:{port}: {reason}"
        result.fix = f"check {name} and that this machine may reach {host}:{port} (proxy, firewall)"
        return False
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()
    result.connect = "ok"
    return True


async def _check_one(transport: Transport, settings: ProviderSettings, timeout_s: float,
                     key_id: str = "") -> ProviderCheck:
    info = settings.info
    result = ProviderCheck(settings.name, settings.base_url.rstrip("/"), info.key_env, key_id)
    if not await _reach(result, timeout_s):
        result.detail = result.connect or result.dns
        if not settings.api_key:
            result.key = "missing"
        return result
    if not settings.api_key:
        result.key = "missing"
        result.fix = f"set {info.key_env} (in the environment or in .env)"
        return result
    adapter = ADAPTERS[settings.name](settings.base_url, settings.api_key)
    try:
        resp = await transport.send(settings.name, adapter.build_key_check(), timeout_s)
    except TransportError as exc:
        result.api = f"no answer: {exc.error_code}"
        result.key = "unclear"
        result.detail = str(exc)
        result.fix = "the host takes connections but gave no HTTP answer: try again, or check the base URL"
        return result
    result.clock_skew_s = _skew(resp.headers.get("date"))
    if result.clock_skew_s is not None and abs(result.clock_skew_s) > CLOCK_SKEW_WARN_S:
        result.warnings.append(f"this machine's clock is {abs(result.clock_skew_s):.0f} s "
                               f"{'behind' if result.clock_skew_s > 0 else 'ahead of'} the server's: "
                               "set it right (NTP)")
    verdict = adapter.read_key_check(resp)
    again = adapter.other_auth(adapter.build_key_check()) if resp.status == 401 else None
    if again is not None and verdict.verdict == "bad_key":  # another documented form of the key (gptproto)
        try:
            other = adapter.read_key_check(await transport.send(settings.name, again, timeout_s))
        except TransportError:
            other = verdict
        if other.verdict == "ok":
            form = getattr(adapter, "auth_form", "another")
            verdict = type(verdict)("ok", f"{other.detail}; the key is taken in its {form} form only, which a run "
                                          "switches to after its first 401")
    result.detail = verdict.detail
    if verdict.verdict == "not_api":
        result.api = "no: a web page, not the API"
        result.fix = (f"this host serves a web page, not the API: set {info.base_url_env} "
                      "to the provider's API host")
        return result
    result.api = "ok"
    if verdict.verdict == "bad_key":
        result.key = "refused"
        where = f"the key {key_id.partition(':')[0]} in {info.pool_env}" if key_id else f"the key in {info.key_env}"
        result.fix = (f"{where} was refused: copy it again from the provider's dashboard "
                      "(a key of another account or region?)")
    elif verdict.verdict == "unclear":
        result.key = "unclear"
        result.fix = "the answer tells nothing about the key (rate limit or server error): try again later"
    else:
        result.key = "ok"
    return result


async def check_providers(settings: Mapping[str, ProviderSettings], names: Sequence[str], *,
                          timeout_s: float = 10.0) -> list[ProviderCheck]:
    """Check the providers ``names`` (in that order) with their ``settings``,
    concurrently; each step waits at most ``timeout_s`` seconds; a pool of keys:
    one ProviderCheck per key, in the pool's order. Never raises for a
    provider's failure: it is in the ProviderCheck. Texts are redacted."""
    policy = AddressPolicy.for_base_urls(settings[n].base_url for n in names)
    async with Transport.open(policy=policy) as transport:
        found = await asyncio.gather(*(_check_one(transport, s, timeout_s, key_id)
                                       for n in names for s, key_id in _per_key(settings[n])))
    for result in found:
        result.detail = _clean(result.detail)[:300]
        result.api, result.connect, result.dns = _clean(result.api), _clean(result.connect), _clean(result.dns)
    return list(found)


def _per_key(settings: ProviderSettings) -> list[tuple[ProviderSettings, str]]:
    """(settings, key id) per key to check: each key of a pool, or the provider once."""
    if len(settings.pool) < 2:
        return [(settings, "")]
    return [(settings.for_key(k), k.key_id) for k in settings.pool]


def exit_status(results: Sequence[ProviderCheck]) -> int:
    """0 when there is at least one provider and every one is usable, else 1."""
    return 0 if results and all(r.usable for r in results) else 1


def render_table(results: Sequence[ProviderCheck]) -> list[str]:
    """The lines ``check`` prints: one table row per provider, then what to fix."""
    head = ("provider", "base URL", "DNS", "connect", "API", "key", "clock")
    rows = [head]
    for r in results:
        clock = "" if r.clock_skew_s is None else f"{round(r.clock_skew_s):+d} s"
        rows.append((r.name, r.base_url, _short(r.dns), _short(r.connect), _short(r.api), r.key or "-", clock))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    for r in results:
        if r.usable:
            lines.append(f"{r.name}: usable ({r.detail}); balance: {r.balance}")
        else:
            lines.append(f"{r.name}: NOT usable: {r.fix or r.detail}")
            if r.detail and r.fix:
                lines.append(f"  ({r.detail})")
        lines.extend(f"{r.name}: warning: {w}" for w in r.warnings)
    if not results:
        names = ", ".join(info.key_env for info in catalog().values())
        lines = [f"no provider to check: no API key is set (set one of {names})"]
    return [_clean(line) for line in lines]


def _short(step: str) -> str:
    return "-" if not step else ("ok" if step == "ok" else "FAIL")
