"""The simulator's MiniMax callbacks: a challenge first (echoed, or the submit is
refused), then a push at each status change with the query answer's body."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
from aiohttp import web

BODY = {"model": "MiniMax-Hailuo-2.3", "prompt": "a lighthouse at dusk", "duration": 6, "resolution": "768P"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def submit(sim, callback_url: str) -> dict:
    async with aiohttp.ClientSession() as session, session.post(
            sim.url("minimax") + "/v1/video_generation", json={**BODY, "callback_url": callback_url},
            headers={"Authorization": "Bearer sim-key"}) as resp:
        return await resp.json()


async def test_a_challenge_then_a_push_per_status_change(sim):
    got: list[dict] = []

    async def receive(request: web.Request) -> web.Response:
        body = await request.json()
        if "challenge" in body:
            return web.json_response({"challenge": body["challenge"]})
        got.append(body)
        return web.json_response({"status": "success"})

    app = web.Application()
    app.add_routes([web.post("/cb", receive)])
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        answer = await submit(sim, f"http://127.0.0.1:{port}/cb")
        assert answer["base_resp"]["status_code"] == 0
        await asyncio.sleep(0.6)  # tasks take 0.3 s here
    finally:
        await runner.cleanup()
    assert [b["status"] for b in got] == ["Preparing", "Success"]
    assert {b["task_id"] for b in got} == {answer["task_id"]}


async def test_an_unanswered_challenge_refuses_the_submit(sim):
    answer = await submit(sim, f"http://127.0.0.1:{free_port()}/nobody")
    assert answer["base_resp"]["status_code"] == 2013
    assert not sim.store.submissions["minimax"]
