"""The ``html_host`` knob: a provider whose base URL is a web site, not its API."""

from __future__ import annotations

import aiohttp
import pytest

from batch_runner.simulator import SimConfig, apply_knobs

from conftest import PROVIDERS


async def test_every_path_of_the_provider_answers_a_web_page_and_the_others_do_not(sim):
    sim.config.providers["gccai"].html_host = True
    async with aiohttp.ClientSession() as session:
        for path in ("/v1/tasks/task_X", "/v1/videos/generations", "/", "/pricing"):
            async with session.get(sim.url("gccai") + path) as resp:
                assert resp.status == 200
                assert resp.content_type == "text/html"
                assert "<html>" in await resp.text()
        async with session.post(sim.url("gccai") + "/v1/videos/generations", json={"prompt": "x"}) as resp:
            assert resp.content_type == "text/html"
        async with session.get(sim.url("apiframe") + "/v2/jobs/00000000-0000-4000-8000-000000000000",
                               headers={"X-API-Key": "sim-key"}) as resp:
            assert resp.status == 404
            assert await resp.json() == {"error": "Job not found"}
    assert not sim.store.tasks
    assert {r.reason for r in sim.store.requests if r.provider == "gccai"} == {"html_host"}


@pytest.mark.parametrize(("value", "on"), [("true", True), ("1", True), ("yes", True), ("false", False),
                                           ("0", False), ("no", False)])
def test_the_knob_takes_true_or_false(value, on):
    config = apply_knobs(SimConfig(), [f"all.html_host={value}"])
    assert all(config.providers[p].html_host is on for p in PROVIDERS)


def test_another_value_is_refused():
    with pytest.raises(ValueError, match="html_host takes true or false"):
        apply_knobs(SimConfig(), ["gccai.html_host=maybe"])
