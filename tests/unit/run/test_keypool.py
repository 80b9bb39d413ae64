"""KeyPool: one slot per key, a place on the key with the most spare capacity,
another key after a key's breaker opens, a task's key found by its fingerprint."""

from __future__ import annotations

import asyncio

from batch_runner.errors import ProviderError
from batch_runner.keys import PoolKey, Secret
from batch_runner.run.keypool import KeyPool

from conftest import provider_settings

POOL = (PoolKey("fast", Secret("fast-key-0001")), PoolKey("slow", Secret("slow-key-0002")))


def pool(**kw: object) -> KeyPool:
    keys = {"fast": {"rpm": 40}, "slow": {"rpm": 10, "max_in_flight": 2}}
    return KeyPool(provider_settings(rpm=20, max_in_flight=8, keys=POOL, key_settings=keys, **kw))


async def test_each_key_has_its_own_slot_and_limits():
    p = pool()
    fast, slow = p.slots
    assert (fast.key_id, slow.key_id) == (POOL[0].key_id, POOL[1].key_id)
    assert (fast.pacer.rpm, fast.settings.max_in_flight, slow.pacer.rpm, slow.settings.max_in_flight) == (40, 8, 10, 2)
    assert fast.adapter is not slow.adapter


async def test_places_go_by_spare_capacity_and_wait_when_every_key_is_full():
    p = pool()
    got = [(await p.acquire()).key_id.split(":")[0] for _ in range(10)]
    assert got.count("fast") == 8 and got.count("slow") == 2  # 4x the rate: 4x the places, up to each cap
    assert got[:5].count("fast") == 4  # spread as they come, not one key first
    waiting = asyncio.ensure_future(p.acquire())
    await asyncio.sleep(0)
    assert not waiting.done()
    p.slots[1].in_flight.release()
    assert (await asyncio.wait_for(waiting, 1)).key_id == POOL[1].key_id


async def test_a_broken_key_takes_no_job_and_hands_its_job_to_another():
    p = pool()
    fast, slow = p.slots
    fast.breaker = ProviderError("gccai", "auth", "invalid key", retryable=False)
    assert p.other(fast) is slow
    assert (await p.acquire()) is slow and p.best() is slow
    fast.breaker = ProviderError("gccai", "unrecognised_answer", "drift", retryable=False)
    assert p.other(fast) is None  # the protocol, not the key: no other key helps
    slow.breaker = ProviderError("gccai", "quota", "daily quota", retryable=False)
    assert p.live() == [] and p.other(slow) is None


async def test_a_task_is_found_by_its_key_fingerprint_even_under_another_label():
    p = pool()
    renamed = PoolKey("team-x", POOL[1].secret).key_id
    assert p.by_key_id(renamed) is p.slots[1]
    assert p.by_key_id(None) is p.slots[0]  # recorded before pools
    assert p.by_key_id(PoolKey("gone", Secret("gone-key-0003")).key_id) is None
