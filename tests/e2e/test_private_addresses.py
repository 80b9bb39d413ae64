"""No fetch made on a user's or a provider's behalf reaches a private, local or
link-local address: names are resolved first (here by a table: no real DNS),
every address is checked, and the connection goes to the address checked. A
listening socket on 127.0.0.1 stands for an internal service: it must see no
connection at all."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.abc import AbstractResolver

from batch_runner import transport
from batch_runner.run.image_urls import ImageUse, check_urls

from conftest import SIM_ENV

NAMES = {"cdn.internal.invalid": "127.0.0.1", "meta.internal.invalid": "10.0.0.1", "localhost": "127.0.0.1"}


class TableResolver(AbstractResolver):
    """Names from NAMES; any other name is unknown (no DNS query is made)."""

    async def resolve(self, host: str, port: int = 0, family: Any = socket.AF_INET) -> list[Any]:
        if host not in NAMES:
            raise OSError(f"unknown name {host}")
        return [{"hostname": host, "host": NAMES[host], "port": port, "family": socket.AF_INET,
                 "proto": 0, "flags": 0}]

    async def close(self) -> None:
        pass


@pytest.fixture(autouse=True)
def _table_resolver(monkeypatch):
    monkeypatch.setattr(transport, "make_resolver", TableResolver, raising=False)


@contextlib.contextmanager
def internal_service() -> Iterator[tuple[int, list[tuple[str, int]]]]:
    """A socket listening on 127.0.0.1 (an internal service); yields its port and
    the list of the peers it accepted (filled on exit: read it after the block)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.setblocking(False)
    seen: list[tuple[str, int]] = []
    try:
        yield server.getsockname()[1], seen
    finally:
        with contextlib.suppress(BlockingIOError):
            while True:
                conn, peer = server.accept()
                conn.close()
                seen.append(peer)
        server.close()


def test_check_urls_sends_nothing_to_private_local_or_link_local_addresses(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from batch_runner.cli import main

    with internal_service() as (port, seen):
        urls = [f"http://127.0.0.1:{port}/a.png", f"http://0.0.0.0:{port}/b.png", f"http://[::1]:{port}/c.png",
                f"http://cdn.internal.invalid:{port}/d.png", "http://meta.internal.invalid/latest/meta-data/iam",
                f"http://localhost:{port}/e.png"]
        (tmp_path / "m.yaml").write_text(yaml.safe_dump(
            {"jobs": [{"prompt": f"shot {i}", "provider": "gccai", "image": u} for i, u in enumerate(urls)]}))
        monkeypatch.chdir(tmp_path)
        result = CliRunner().invoke(main, ["validate", "m.yaml", "--check-urls", "--simulate"], env=SIM_ENV)
    assert result.exit_code == 2, result.output
    assert seen == [], "a request reached the internal service"
    for url in urls:
        line = next(line for line in result.stderr.splitlines() if url in line)
        assert "is a private, local or reserved address, or a name for one: refused" in line, line


async def test_one_message_whether_a_port_is_closed_or_silent():
    """--allow-private-urls: a closed port and an open one that never answers read alike."""
    with internal_service() as (open_port, _):
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        closed_port = closed.getsockname()[1]
        closed.close()
        uses = [ImageUse("m.yaml: line 1", "image", f"http://127.0.0.1:{p}/x.png", "gccai")
                for p in (open_port, closed_port)]
        problems = await check_urls(uses, timeout_s=0.5, allow_private=True)
    said = {p.message.split(" ", 1)[1] for p in problems}
    assert len(problems) == 2 and len(said) == 1, [p.message for p in problems]
    assert said == {"cannot be fetched (no connection, or no answer within 0.5 s)"}


@contextlib.contextmanager
def provider_in_thread(video_url: str) -> Iterator[str]:
    """A gptproto-shaped provider on 127.0.0.1 whose tasks finish at once with
    ``video_url``; yields its port."""

    async def submit(request: web.Request) -> web.Response:
        return web.json_response({"data": {"id": "task-1"}})

    async def poll(request: web.Request) -> web.Response:
        return web.json_response({"data": {"status": "completed", "outputs": [video_url]}})

    app = web.Application()
    app.router.add_post("/api/v3/minimax/{model}/{scene}", submit)
    app.router.add_get("/api/v3/predictions/{task}/result", poll)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(runner.cleanup())
        loop.close()


def test_a_provider_video_url_naming_a_private_address_is_not_downloaded(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from batch_runner.cli import main

    with internal_service() as (port, seen), \
            provider_in_thread(f"http://cdn.internal.invalid:{port}/video.mp4") as provider_port:
        (tmp_path / "m.yaml").write_text(yaml.safe_dump({
            "providers": {"gptproto": {"rpm": 6000, "poll_interval_s": 0.05, "typical_generation_s": 0.1,
                                       "max_attempts": 1}},
            "jobs": [{"prompt": "a lighthouse at dusk", "provider": "gptproto"}]}))
        monkeypatch.chdir(tmp_path)
        env = {**SIM_ENV, "GPTPROTO_API_KEY": "sim-key",
               "GPTPROTO_BASE_URL": f"http://127.0.0.1:{provider_port}"}  # loopback allowed: the provider's own
        result = CliRunner().invoke(main, ["run", "m.yaml", "-o", "r.csv", "--download", "videos",
                                           "--no-canary", "--verbose"], env=env)
    assert seen == [], "the download reached the internal service"
    assert result.exit_code == 1, result.output
    assert ("video of job" in result.stderr and "not saved: cdn.internal.invalid is a private, local or reserved "
            "address, or a name for one: refused" in result.stderr), result.output
    assert "downloads: 0 saved, 0 already there, 1 failed" in result.stderr
    assert "trying again" not in result.stderr  # a refusal is final
    assert not list((tmp_path / "videos").glob("*.mp4"))


async def test_a_redirect_to_a_private_address_is_refused_before_connecting(aiohttp_server):
    """A trusted host (a provider's own base URL on 127.0.0.1) that redirects to
    another local port, or to a name for a link-local address: the second hop is
    checked like the first, and never made."""
    from batch_runner.errors import TransportError
    from batch_runner.providers.url_safety import AddressPolicy
    from batch_runner.transport import Transport

    with internal_service() as (port, seen):
        targets = {"a": f"http://127.0.0.1:{port}/latest/meta-data/iam", "b": "http://meta.internal.invalid/iam"}

        async def hop(request: web.Request) -> web.Response:
            raise web.HTTPFound(targets[request.match_info["to"]])

        app = web.Application()
        app.router.add_get("/to/{to}", hop)
        server = await aiohttp_server(app)
        policy = AddressPolicy.for_base_urls([str(server.make_url(""))])
        async with Transport.open(policy=policy) as transport:
            for to in targets:
                with pytest.raises(TransportError, match="private, local or reserved address") as caught:
                    async with transport.stream("image", str(server.make_url(f"/to/{to}"))):
                        pass
                assert caught.value.maybe_sent is False and caught.value.retryable is False
    assert seen == []
