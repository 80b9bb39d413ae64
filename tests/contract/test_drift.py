"""Every adapter refuses an undocumented poll shape (the simulator's ``poll_drift_rate``)
as ``bad_response`` carrying the raw answer (what a capture keeps), instead of reading
it as a task still running; with the drift off, the same task reads again. Over HTTP
against the simulator on 127.0.0.1."""

from __future__ import annotations

import asyncio

import pytest

from batch_runner.errors import ProviderError
from batch_runner.jobs.model import Job
from batch_runner.keys import Secret
from batch_runner.providers import ADAPTERS, HttpResponse
from batch_runner.simulator import ProviderSimConfig, SimConfig, running_simulator
from batch_runner.transport import Transport


def a_job(provider: str) -> Job:
    return Job(job_id="0123456789abcdef", index=0, row=2, name="shot", variant=1, provider=provider,
               model="hailuo-2.3" if provider != "minimax_v2" else "h3", scene="image-to-video", prompt="a calm lake",
               image="https://example.com/a.jpg", end_image=None, duration=6, resolution="768P")


@pytest.mark.parametrize("provider", sorted(ADAPTERS))
async def test_a_drifted_poll_answer_is_refused_with_the_answer_kept(provider):
    config = SimConfig(providers={provider: ProviderSimConfig(generation_s=0.05, poll_drift_rate=1.0)})
    async with running_simulator(config, host="127.0.0.1", port=0) as sim, Transport.open() as transport:
        adapter = ADAPTERS[provider](sim.url(provider), Secret(config.providers[provider].api_key))
        task_id = adapter.read_submit(await transport.send(provider, adapter.build_submit(a_job(provider)), 5))
        await asyncio.sleep(0.1)
        with pytest.raises(ProviderError) as caught:
            adapter.read_poll(await transport.send(provider, adapter.build_poll(task_id), 5))
        assert caught.value.error_code == "bad_response"
        assert isinstance(caught.value.answer, HttpResponse) and b"COMPLETE_V2" in caught.value.answer.body
        config.providers[provider].poll_drift_rate = 0.0
        state = adapter.read_poll(await transport.send(provider, adapter.build_poll(task_id), 5))
        assert state.status == "succeeded" or state.follow_up is not None  # MiniMax: files/retrieve next
