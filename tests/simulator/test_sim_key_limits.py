"""The simulator's per-key limits: several keys, a bad key, per-key rpm and in-flight
caps, tasks found only with the key that made them; knobs for them."""

from __future__ import annotations

import aiohttp
import pytest

from batch_runner.simulator import ProviderSimConfig, SimConfig, running_simulator
from batch_runner.simulator.config import apply_knobs, make_config

BODY = {"model": "MiniMax-Hailuo-2.3", "prompt": "a cat"}


def test_knobs_take_key_lists_and_a_per_key_table():
    config = make_config(["gccai.keys=k2, k3", "gccai.bad_keys=k3", "gccai.key_rpms=k2:5,sim-key:20",
                          "all.key_max_in_flight=2", "gccai.key_rpm=none"])
    c = config.providers["gccai"]
    assert c.keys == ("k2", "k3") and c.bad_keys == ("k3",) and c.key_rpms == {"k2": 5.0, "sim-key": 20.0}
    assert config.providers["minimax"].key_max_in_flight == 2 and c.key_rpm is None
    assert c.accepts("sim-key") and c.accepts("k2") and not c.accepts("k3") and not c.accepts("other")
    assert c.rpm_of("k2") == 5.0 and c.rpm_of("nope") is None
    with pytest.raises(ValueError, match="key_rpms takes KEY:NUMBER"):
        apply_knobs(config, ["gccai.key_rpms=k2"])


async def test_limits_are_per_key_and_a_task_answers_only_its_key():
    config = SimConfig(providers={"gccai": ProviderSimConfig(keys=("k-two-key",), bad_keys=("k-bad-key",),
                                                             key_rpm=1, key_max_in_flight=5, generation_s=5)})
    async with running_simulator(config) as sim, aiohttp.ClientSession() as http:
        url = sim.url("gccai")

        async def submit(key: str) -> tuple[int, dict]:
            async with http.post(f"{url}/v1/videos/generations", json=BODY,
                                 headers={"Authorization": f"Bearer {key}"}) as resp:
                return resp.status, await resp.json()

        first, _ = await submit("sim-key")
        again, _ = await submit("sim-key")  # one a minute per key
        other, body = await submit("k-two-key")  # the other key has its own window
        bad, _ = await submit("k-bad-key")
        assert (first, again, other, bad) == (200, 429, 200, 401)
        task_id = body["data"][0]["task_id"]
        for key, expected in (("k-two-key", 200), ("sim-key", 404)):
            async with http.get(f"{url}/v1/tasks/{task_id}", headers={"Authorization": f"Bearer {key}"}) as resp:
                assert resp.status == expected
        store = sim.store
        assert [s.key for s in store.submissions["gccai"]] == ["sim-key", "k-two-key"]
        assert store.max_submits_in_window_by_key("gccai", 60) == {"sim-key": 1, "k-two-key": 1}
        assert store.max_in_flight_seen_by_key("gccai") == {"sim-key": 1, "k-two-key": 1}
        polls = [r for r in store.requests if r.kind == "poll"]
        assert [(r.key, r.reason) for r in polls] == [("k-two-key", None), ("sim-key", "wrong_key")]
