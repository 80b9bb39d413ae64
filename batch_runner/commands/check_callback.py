"""``batch-runner check-callback --callback-url URL``: does the public callback URL
reach this machine's receiver?

It starts the receiver on ``--callback-listen`` (as ``run --callback-url`` does),
then, from this machine, POSTs a MiniMax-style challenge (``{"challenge": ...}``)
to a probe path under the public URL, through the user's reverse proxy or
tunnel, and expects the same value back within 3 s (MiniMax's limit:
https://platform.minimax.io/docs/api-reference/video-generation-s2v). This proves
the route at least through the proxy; a provider outside may still be blocked
by a firewall. Exit 0 when the challenge came back, 1 when not (with the reason),
2 for bad options. Manual: docs/callbacks.md.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import sys
from typing import Any

import click

from batch_runner.errors import ConfigError, TransportError

__all__ = ["CHALLENGE_TIMEOUT_S", "check_callback", "probe", "verdict", "with_callback_check"]

CHALLENGE_TIMEOUT_S = 3.0
PROBE_CAMPAIGN, PROBE_JOB = "check-callback", "probe"


class _Memory:
    """A journal stand-in for the probe: its secret lives only in memory."""

    def __init__(self) -> None:
        self.items: dict[str, str] = {}

    def meta_setdefault(self, key: str, value: str) -> str:
        return self.items.setdefault(key, value)


async def probe(public_url: str, listen: str) -> str | None:
    """Start the receiver on ``listen``, send a challenge to ``public_url``'s probe
    path; None when it came back within 3 s, else what went wrong (one line).
    Raises ConfigError for a bad URL or an address that cannot be listened on."""
    from batch_runner.providers import HttpRequest
    from batch_runner.run.callbacks import receiving
    from batch_runner.transport import Transport

    async with receiving(public_url, listen, _Memory(), PROBE_CAMPAIGN) as hub:
        assert hub is not None
        url, value = hub.url(PROBE_JOB, 0), secrets.token_hex(8)
        request = HttpRequest("POST", url, {"Content-Type": "application/json"}, {"challenge": value})
        try:
            async with Transport.open() as transport:
                resp = await transport.send("callback", request, CHALLENGE_TIMEOUT_S)
        except TransportError as exc:
            if exc.error_code == "timeout":
                return f"no answer from {public_url} within {CHALLENGE_TIMEOUT_S:g} s"
            return f"{public_url} cannot be reached from here: {exc.provider_message}"
        if resp.status != 200 or value.encode() not in resp.body:
            return (f"{public_url} answered HTTP {resp.status} without the challenge: it does not lead to "
                    f"the receiver on {listen} (check the proxy's route and that it keeps the path)")
    return None


def verdict(callback_url: str, callback_listen: str) -> tuple[int, str]:
    """Test ``callback_url`` from outside (``probe``): (exit code, the one line
    to show): 0 when the challenge came back, 1 when not, 2 for bad options."""
    try:
        problem = asyncio.run(probe(callback_url, callback_listen))
    except ConfigError as exc:
        return 2, str(exc)
    if problem:
        return 1, f"callback URL not reachable: {problem}"
    return 0, (f"callback URL ok: a challenge sent to {callback_url} came back from the receiver on "
               f"{callback_listen}")


def _options(f: Any, required: bool = False) -> Any:
    f = click.option("--callback-listen", default="127.0.0.1:8787", show_default=True, metavar="HOST:PORT",
                     help="Where the receiver listens, as given to run --callback-listen.")(f)
    return click.option("--callback-url", required=required, metavar="URL",
                        help="The public URL that should reach the receiver, as given to run --callback-url: "
                             "a challenge is sent to it from here (as check-callback does).")(f)


@click.command("check-callback")
@functools.partial(_options, required=True)
def check_callback(callback_url: str, callback_listen: str) -> None:
    """Test that --callback-url reaches this machine's callback receiver (a challenge, within 3 s)."""
    code, line = verdict(callback_url, callback_listen)
    click.echo(line, err=code != 0)
    sys.exit(code)


def with_callback_check(command: click.Command) -> click.Command:
    """``command`` (``batch-runner check``) with check-callback's options: after its
    own checks, a given ``--callback-url`` is tested from outside as check-callback
    tests it (``verdict``); the exit code is the worse of the two. The line goes
    to stderr with ``--format json`` (stdout keeps the JSON). Returns ``command``."""
    inner = command.callback
    assert inner is not None
    _options(command)  # click.option on a Command object appends to its params
    command.params[-2:] = command.params[-2:][::-1]  # --callback-url first in --help

    @functools.wraps(inner)
    def callback(*args: Any, callback_url: str | None = None, callback_listen: str = "127.0.0.1:8787",
                 **kwargs: Any) -> None:
        code: Any = 0
        try:
            inner(*args, **kwargs)
        except SystemExit as exc:
            code = exc.code
        if callback_url:
            probed, line = verdict(callback_url, callback_listen)
            click.echo(line, err=probed != 0 or kwargs.get("fmt") == "json")
            code = max(int(code or 0), probed) if isinstance(code, int) or code is None else code
        sys.exit(code)

    command.callback = callback
    command.help = (command.help or "") + ("\n\nWith --callback-url, the callback URL is tested from outside too, "
                                           "as check-callback does; exit 1 when its challenge does not come back.")
    return command
