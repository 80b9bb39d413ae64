"""Callbacks first, polling as the backstop: the receiver of the providers' pushes.

Each submit to a provider that documents callbacks (``CALLBACK_FIELDS``) carries
its own callback URL, ``<callback_url>/<campaign>/<job_id>/<attempt>/<token>``,
the token an HMAC-SHA256 of those fields keyed by a secret kept in the journal
(table ``meta``, key ``callback_secret``), so the path of a submit follows from
what the journal records with its intent (job, attempt generation) before it
is sent, and nobody without the secret can make one.

A push is a hint, never the truth (Lifecycle reads nothing from it but a task
id): it wakes the job's next poll now, and for a job whose submit answer was
lost it names the task the provider made, which the lifecycle verifies with a
poll with the job's key before adopting it. The receiver (aiohttp.web) starts
before the first submit and answers MiniMax's ``challenge`` from memory.

Provider facts (docs/callbacks.md):
- MiniMax ``callback_url``: a POST ``{"challenge": ...}`` to echo within 3 s, then
  every status change POSTed with the query answer's body (SEEN:
  https://platform.minimax.io/docs/api-reference/video-generation-s2v). gpt.ge
  passes the field through (INFERRED).
- apiframe ``webhookUrl`` / ``webhookEvents`` (SEEN: the SDK's openapi.json), each push
  signed with HMAC-SHA256 of the raw body keyed by sha256(API key), header
  ``x-webhook-signature: sha256=<hex>`` (SEEN:
  https://github.com/apiframe-ai/apiframe-nodejs-sdk/blob/main/src/webhooks.ts).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from aiohttp import web

from batch_runner.errors import ConfigError
from batch_runner.journal import Push
from batch_runner.keys import Secret
from batch_runner.providers import HttpRequest
from batch_runner.run.push_body import json_body as _json
from batch_runner.run.push_body import still_running, task_named
from batch_runner.run.push_body import task_id_in as _task_id

__all__ = ["CALLBACK_FIELDS", "EXTERNAL", "MAX_BODY_BYTES", "CallbackHub", "apiframe_signature_ok", "callback_secret",
           "check_public_url", "listen_on", "parse_listen", "receiving", "still_running", "task_named"]

log = logging.getLogger("batch_runner")

#: provider -> the submit body's field for the callback URL (docs/callbacks.md)
CALLBACK_FIELDS = {"minimax": "callback_url", "gptge": "callback_url", "apiframe": "webhookUrl"}
#: provider -> further submit body fields sent with the callback URL. apiframe: every event
#: (SEEN, OpenAPI ``webhookEvents``: https://github.com/apiframe-ai/apiframe-nodejs-sdk/blob/main/openapi.json):
#: ``progress`` names a task whose submit answer was lost soon after it was made (``completed``
#: alone comes only as it ends, maybe after the adoption's wait); a ``progress`` push wakes no poll
CALLBACK_EXTRA: dict[str, dict[str, Any]] = {"apiframe": {"webhookEvents": ["progress", "completed", "failed"]}}
#: providers whose pushes are signed as apiframe documents (apiframe_signature_ok)
SIGNED = {"apiframe"}
MAX_BODY_BYTES = 256 * 1024
#: pushes one client address may send per second; more are answered 429 (counted ``rate_limited``):
#: a push is only a hint, so a refused one costs at most a later poll
MAX_PUSHES_PER_S = 1000
SECRET_KEY = "callback_secret"
#: ``--callback-listen none``: pushes reach a ``batch-runner receive`` service, read from the journal
EXTERNAL = "none"
#: pushes re-read from the journal this many seconds back (a transaction that committed late)
JOURNAL_OVERLAP_S = 10.0


class _Meta(Protocol):
    def meta_setdefault(self, key: str, value: str) -> str: ...


class _Pushes(_Meta, Protocol):
    def pushes(self, since: float) -> list[Push]: ...

    def clock(self) -> float: ...


def callback_secret(journal: _Meta) -> str:
    """The journal's callback secret (64 hex characters), made and recorded on first
    use; atomic, so workers starting together on a shared journal share one."""
    return journal.meta_setdefault(SECRET_KEY, secrets.token_hex(32))


def apiframe_signature_ok(body: bytes, header: str | None, api_key: str) -> bool:
    """Whether ``header`` (``sha256=<hex>`` or ``<hex>``) is HMAC-SHA256 of the raw
    ``body`` keyed by sha256(``api_key``), compared in constant time. Source:
    https://github.com/apiframe-ai/apiframe-nodejs-sdk/blob/main/src/webhooks.ts"""
    if not header or not api_key:
        return False
    given = header.strip().removeprefix("sha256=")
    expected = hmac.new(hashlib.sha256(api_key.encode()).digest(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given.lower().encode(), expected.encode())


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port); raises ValueError with a one-line reason."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"--callback-listen {value!r}: use HOST:PORT, e.g. 127.0.0.1:8787")
    return host.strip("[]"), int(port)


class _Watch:
    """What the receiver knows of one job in flight: its attempt, provider, key,
    the event that wakes its poll, and the task ids pushes named."""

    def __init__(self, attempt: int, provider: str, api_key: Secret):
        self.attempt, self.provider, self.api_key = attempt, provider, api_key
        self.hint = asyncio.Event()
        self.task_ids: list[str] = []
        self.named = asyncio.Event()


class CallbackHub:
    """The run's callback URLs and their receiver.

    ``public_url``: the URL that reaches the receiver from outside (a reverse
    proxy or tunnel), e.g. ``https://hooks.example.com/br/``; ``campaign``: the
    campaign's name (a push for another is refused); ``secret``: the journal's
    (``callback_secret``). ``counts``: pushes by outcome (``challenge``, ``hint``,
    ``duplicate``, ``unknown_path``, ``forged``, ``foreign``, ``bad_signature``,
    ``too_large``, ``not_json``, ``rate_limited``, ``late``: a push naming a task for a job no
    longer watched, handed to ``on_late``).
    """

    def __init__(self, public_url: str, campaign: str, secret: str):
        self.public_url, self.campaign, self._secret = public_url.rstrip("/"), campaign, secret.encode()
        self.counts: collections.Counter[str] = collections.Counter()
        self._watches: dict[str, _Watch] = {}
        self._seen: set[bytes] = set()
        self._rate: dict[str, tuple[int, int]] = {}  # client address -> (second, pushes in it)
        self._runner: web.AppRunner | None = None
        #: called with (job id, attempt, task id, raw body, signature) for a push on a verified path of a
        #: job no longer watched that names a task id (it may have ended ``unknown``: Lifecycle.late_push)
        self.on_late: Callable[[str, int, str, bytes, str | None], None] | None = None

    # -- URLs ------------------------------------------------------------------
    def token(self, job_id: str, attempt: int) -> str:
        """The HMAC token of one submit's path (32 hex characters)."""
        fields = "\x1f".join((self.campaign, job_id, str(attempt))).encode()
        return hmac.new(self._secret, fields, hashlib.sha256).hexdigest()[:32]

    def url(self, job_id: str, attempt: int) -> str:
        """The callback URL of job ``job_id``'s submit of attempt generation ``attempt``."""
        from urllib.parse import quote

        parts = (self.campaign, job_id, str(attempt), self.token(job_id, attempt))
        return self.public_url + "/" + "/".join(quote(p, safe="") for p in parts)

    def attach(self, provider: str, request: HttpRequest, job_id: str, attempt: int,
               api_key: Secret) -> HttpRequest:
        """``request`` with the submit's callback URL in the provider's field
        (``CALLBACK_FIELDS``), the job watched; unchanged for a provider
        without documented callbacks."""
        field = CALLBACK_FIELDS.get(provider)
        if field is None or request.json is None:
            return request
        self._watches[job_id] = _Watch(attempt, provider, api_key)
        return HttpRequest(request.method, request.url, request.headers,
                           {**request.json, field: self.url(job_id, attempt), **CALLBACK_EXTRA.get(provider, {})})

    def watching(self, job_id: str) -> bool:
        """Whether the job's submit carried a callback URL of this run (and it has not ended)."""
        return job_id in self._watches

    # -- what the lifecycle waits on --------------------------------------------
    async def nap(self, job_id: str, seconds: float) -> bool:
        """Sleep up to ``seconds``, woken early by a push for the watched job
        ``job_id``; True when woken. Raises KeyError for a job not watched."""
        watch = self._watches[job_id]
        try:
            await asyncio.wait_for(watch.hint.wait(), max(0.0, seconds))
        except TimeoutError:
            return False
        watch.hint.clear()
        return True

    async def named_task(self, job_id: str, attempt: int, within_s: float) -> str | None:
        """The first task id a push on job ``job_id``'s path of ``attempt`` named,
        waiting up to ``within_s`` seconds for one; None when none came."""
        watch = self._watches.get(job_id)
        if watch is None or watch.attempt != attempt:
            return None
        if not watch.task_ids:
            try:
                await asyncio.wait_for(watch.named.wait(), max(0.0, within_s))
            except TimeoutError:
                return None
        return watch.task_ids[0]

    def forget(self, job_id: str) -> None:
        """Stop watching ``job_id`` (it ended); later pushes count as unknown."""
        self._watches.pop(job_id, None)

    # -- the receiver ----------------------------------------------------------
    async def start(self, host: str, port: int) -> int:
        """Listen on ``host``:``port`` (0: any free port); returns the port."""
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.add_routes([web.post("/{tail:.*}", self._receive)])
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else port

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def lines(self) -> list[str]:
        """Summary lines: pushes received by outcome (none when none came)."""
        if not self.counts:
            return []
        return ["  callbacks: " + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(self.counts.items()))]

    def _over_rate(self, address: str) -> bool:
        """Count a push from ``address``; whether it is over ``MAX_PUSHES_PER_S`` this second."""
        second = int(asyncio.get_running_loop().time())
        start, count = self._rate.get(address, (second, 0))
        count = count + 1 if start == second else 1
        if len(self._rate) > 10_000:  # many addresses: forget the old seconds
            self._rate = {a: v for a, v in self._rate.items() if v[0] == second}
        self._rate[address] = (second, count)
        return count > MAX_PUSHES_PER_S

    async def _receive(self, request: web.Request) -> web.Response:
        """One push: checked (size, path token, campaign; challenge answered; rate per address,
        signature), then a hint."""
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            self.counts["too_large"] += 1
            return web.Response(status=413)
        parts = request.match_info["tail"].strip("/").split("/")
        if len(parts) < 4:
            self.counts["unknown_path"] += 1
            return web.Response(status=404)
        campaign, job_id, attempt_text, token = parts[-4:]
        if campaign != self.campaign:
            self.counts["foreign"] += 1
            return web.Response(status=404)
        if not attempt_text.isdigit() or not hmac.compare_digest(token, self.token(job_id, int(attempt_text))):
            self.counts["forged"] += 1
            return web.Response(status=404)
        try:
            payload: Any = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError):
            self.counts["not_json"] += 1
            return web.Response(status=400)
        if isinstance(payload, dict) and "challenge" in payload:  # MiniMax: echo it at once
            self.counts["challenge"] += 1
            return web.json_response({"challenge": payload["challenge"]})
        if self._over_rate(request.remote or ""):  # the challenge is never refused: MiniMax's 3 s
            self.counts["rate_limited"] += 1
            return web.Response(status=429, headers={"Retry-After": "1"})
        return await self.deliver(job_id, int(attempt_text), body, request.headers.get("x-webhook-signature"))

    async def deliver(self, job_id: str, attempt: int, body: bytes, signature: str | None) -> web.Response:
        """One push on a verified path (token and campaign checked): a hint for the
        watched job (its signature checked for apiframe); the receiver's answer."""
        watch = self._watches.get(job_id)
        if watch is None or watch.attempt != attempt:  # late: the job ended, or another attempt's
            task_id = _task_id(_json(body))
            if task_id and self.on_late is not None and watch is None:
                self.counts["late"] += 1
                self.on_late(job_id, attempt, task_id, body, signature)
            else:
                self.counts["unknown_path"] += 1
            return web.json_response({"status": "success"})
        if watch.provider in SIGNED and not apiframe_signature_ok(body, signature, watch.api_key.reveal()):
            self.counts["bad_signature"] += 1
            return web.Response(status=401)
        digest = hashlib.sha256(f"{job_id}\x1f{attempt}\n".encode() + body).digest()
        if digest in self._seen:
            self.counts["duplicate"] += 1
        self._seen.add(digest)
        self.counts["hint"] += 1
        payload = _json(body)
        task_id = _task_id(payload)
        if task_id and task_id not in watch.task_ids:
            watch.task_ids.append(task_id)
            watch.named.set()
        if not still_running(payload):  # a push that says the task runs on wakes no poll (it would read that)
            watch.hint.set()
        return web.json_response({"status": "success"})

    async def follow_journal(self, journal: _Pushes, tick_s: float) -> None:
        """Read the pushes a ``batch-runner receive`` service records in the shared
        journal (table ``pushes``) every ``tick_s`` seconds, each one once, as if
        they had reached this run's own receiver (``deliver``); runs until cancelled.
        Pushes from before the call are not read (they were for jobs no longer watched)."""
        since = await asyncio.to_thread(journal.clock)
        seen: dict[int, float] = {}
        while True:
            try:
                rows = await asyncio.to_thread(journal.pushes, since)
            except Exception as exc:  # a hint lost to a database hiccup costs at most a later poll
                log.debug("callbacks: reading the journal's pushes failed: %s", exc)
                rows = []
            for push in rows:
                if push.id in seen:
                    continue
                seen[push.id] = push.received_at
                if push.job_id in self._watches:
                    await self.deliver(push.job_id, push.attempt, push.body.encode(), push.signature)
            if seen:  # read again what a slow transaction committed late (ids out of order)
                since = max(since, max(seen.values()) - JOURNAL_OVERLAP_S)
                seen = {i: t for i, t in seen.items() if t >= since}
            await asyncio.sleep(tick_s)


def check_public_url(public_url: str) -> None:
    """Raise ConfigError unless ``public_url`` is an http(s) URL."""
    if not public_url.startswith(("http://", "https://")):
        raise ConfigError(f"--callback-url {public_url!r}: give the public http(s):// URL that reaches "
                          "the callback receiver, e.g. https://hooks.example.com/br/")


async def listen_on(hub: CallbackHub, listen: str, option: str = "--callback-listen") -> None:
    """Start ``hub``'s receiver on ``listen`` (``HOST:PORT``). Raises ConfigError
    naming ``option`` when it is not HOST:PORT or cannot be listened on."""
    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        raise ConfigError(str(exc).replace("--callback-listen", option)) from None
    try:
        await hub.start(host, port)
    except OSError as exc:
        raise ConfigError(f"{option} {listen}: cannot listen there ({exc.strerror or exc}); "
                          "choose another HOST:PORT") from None
    log.info("callbacks: receiving on %s:%d for %s", host, port, hub.public_url)


@contextlib.asynccontextmanager
async def receiving(public_url: str | None, listen: str, journal: _Meta,
                    campaign: str, tick_s: float = 1.0) -> AsyncIterator[CallbackHub | None]:
    """The run's CallbackHub, listening on ``listen`` (``HOST:PORT``) for the
    duration (None: no ``public_url``, no callbacks). With ``listen`` ``none``
    (``EXTERNAL``) nothing listens here: the pushes a ``batch-runner receive``
    service records in the shared ``journal`` are read every ``tick_s`` seconds.
    Raises ConfigError when ``listen`` is not HOST:PORT or cannot be listened on,
    or is ``none`` on a journal that is not shared (before anything is sent)."""
    if not public_url:
        yield None
        return
    check_public_url(public_url)
    if listen.strip().lower() == EXTERNAL and not getattr(journal, "shared", False):
        raise ConfigError("--callback-listen none: the pushes come through a `batch-runner receive` service, "
                          "which needs a shared journal: give --journal postgresql://..., or a HOST:PORT")
    hub = CallbackHub(public_url, campaign, callback_secret(journal))
    follower: asyncio.Task[None] | None = None
    if listen.strip().lower() == EXTERNAL:
        follower = asyncio.ensure_future(hub.follow_journal(journal, tick_s))  # type: ignore[arg-type]
        log.info("callbacks: reading the pushes `batch-runner receive` records for %s", hub.public_url)
    else:
        await listen_on(hub, listen)
    try:
        yield hub
    finally:
        if follower is not None:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
        await hub.stop()
