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

import secrets
import sys

import click

from batch_runner.errors import ConfigError, TransportError

__all__ = ["CHALLENGE_TIMEOUT_S", "check_callback", "probe"]

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


@click.command("check-callback")
@click.option("--callback-url", required=True, metavar="URL",
              help="The public URL that should reach the receiver, as given to run --callback-url.")
@click.option("--callback-listen", default="127.0.0.1:8787", show_default=True, metavar="HOST:PORT",
              help="Where the receiver listens, as given to run --callback-listen.")
def check_callback(callback_url: str, callback_listen: str) -> None:
    """Test that --callback-url reaches this machine's callback receiver (a challenge, within 3 s)."""
    import asyncio

    try:
        problem = asyncio.run(probe(callback_url, callback_listen))
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    if problem:
        click.echo(f"callback URL not reachable: {problem}", err=True)
        sys.exit(1)
    click.echo(f"callback URL ok: a challenge sent to {callback_url} came back from the receiver on "
               f"{callback_listen}")
