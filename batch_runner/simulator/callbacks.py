"""The simulator's callbacks: pushes in each provider's documented form.

MiniMax (and gpt.ge, which reuses its class): a submit whose body has a
``callback_url`` first gets a POST ``{"challenge": <random>}`` to that URL,
which must echo the value within 3 s, else the submit is refused (2013
"callback_url verification failed": the refusal's code and text INFERRED);
after that every status change of the task (``processing``, then ``success``
or ``failed``) is POSTed with the query answer's body (SEEN:
https://platform.minimax.io/docs/api-reference/video-generation-s2v).

apiframe (simulator/apiframe.py): a submit with ``webhookUrl`` gets a push per
event it asked for in ``webhookEvents`` (``progress`` as the job is made,
``completed`` or ``failed`` as it ends), each the job's GET body with
``jobId`` and ``type`` (the event) on top (the SDK documents ``jobId`` and
``type``; the rest INFERRED), signed (``sign_apiframe``): HMAC-SHA256 of the
raw body keyed by sha256(API key), header ``x-webhook-signature: sha256=<hex>``
(SEEN: https://github.com/apiframe-ai/apiframe-nodejs-sdk/blob/main/src/webhooks.ts).

Knobs (config.ProviderSimConfig): ``callback_drop_rate`` (a status push is not
sent), ``callback_duplicate_rate`` (sent twice), ``callback_delay_s`` (each
status push that late). Every push is recorded in ``SimStore.pushes``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp

if TYPE_CHECKING:
    from batch_runner.simulator.config import ProviderSimConfig
    from batch_runner.simulator.store import SimStore, Task


class _Sim(Protocol):
    """What a Pusher reads of its provider's simulator (base.ProviderSim)."""

    @property
    def name(self) -> str: ...
    @property
    def cfg(self) -> ProviderSimConfig: ...
    @property
    def store(self) -> SimStore: ...

__all__ = ["CHALLENGE_TIMEOUT_S", "Pusher", "sign_apiframe"]

CHALLENGE_TIMEOUT_S = 3.0  # MiniMax: the endpoint must echo the challenge within 3 s (SEEN)
PUSH_TIMEOUT_S = 10.0
_TICK_S = 0.02


def sign_apiframe(body: bytes, api_key: str) -> str:
    """apiframe's ``x-webhook-signature`` value for ``body`` sent with ``api_key``."""
    digest = hmac.new(hashlib.sha256(api_key.encode()).digest(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class Pusher:
    """One provider's callback pushes (its ProviderSim ``sim``); background
    tasks are kept until done."""

    def __init__(self, sim: _Sim):
        self.sim = sim
        self._tasks: set[asyncio.Task[None]] = set()

    async def challenge(self, url: str) -> bool:
        """POST a challenge to ``url``; whether it was echoed within 3 s."""
        value = secrets.token_hex(8)
        try:
            async with aiohttp.ClientSession() as session, session.post(
                    url, json={"challenge": value},
                    timeout=aiohttp.ClientTimeout(total=CHALLENGE_TIMEOUT_S)) as resp:
                answer = await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError):
            self._note(url, "challenge", 0)
            return False
        echoed = isinstance(answer, dict) and answer.get("challenge") == value
        self._note(url, "challenge", resp.status)
        return echoed

    def follow(self, url: str, task: Task, body: Callable[[Task], Any],
               sign: Callable[[bytes], dict[str, str]] | None = None) -> None:
        """Push ``body(task)`` to ``url`` at each change of the task's status word
        until it is final (in the background); a None body is not pushed (an event
        not asked for). ``sign(raw body)``: headers that sign each push (apiframe)."""
        job = asyncio.ensure_future(self._follow(url, task, body, sign))
        self._tasks.add(job)
        job.add_done_callback(self._tasks.discard)

    async def _follow(self, url: str, task: Task, body: Callable[[Task], Any],
                      sign: Callable[[bytes], dict[str, str]] | None) -> None:
        """One push as the task is made (``processing``), one as it ends (a stuck
        task never ends: no second push)."""
        await self._push(url, body(task), sign)
        if task.ends_at == float("inf"):
            return
        await asyncio.sleep(max(0.0, task.ends_at - self.sim.store.now()) + _TICK_S)
        await self._push(url, body(task), sign)

    async def _push(self, url: str, answer: Any, sign: Callable[[bytes], dict[str, str]] | None = None) -> None:
        """One status push, with the drop / duplicate / delay knobs."""
        if answer is None:
            return
        cfg, rng = self.sim.cfg, self.sim.store.rng
        if cfg.callback_drop_rate and rng.random() < cfg.callback_drop_rate:
            self._note(url, "push", 0, "dropped")
            return
        if cfg.callback_delay_s:
            await asyncio.sleep(cfg.callback_delay_s)
        times = 2 if cfg.callback_duplicate_rate and rng.random() < cfg.callback_duplicate_rate else 1
        raw = json.dumps(answer).encode()
        headers = {"Content-Type": "application/json", **(sign(raw) if sign else {})}
        for _ in range(times):
            try:
                async with aiohttp.ClientSession() as session, session.post(
                        url, data=raw, headers=headers,
                        timeout=aiohttp.ClientTimeout(total=PUSH_TIMEOUT_S)) as resp:
                    self._note(url, "push", resp.status)
            except (TimeoutError, aiohttp.ClientError):
                self._note(url, "push", 0, "unreachable")

    def _note(self, url: str, kind: str, status: int, reason: str | None = None) -> None:
        self.sim.store.pushes.append((self.sim.name, kind, url, status, reason))
