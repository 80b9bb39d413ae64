"""The callback receiver over real HTTP on 127.0.0.1: the challenge is echoed,
forged, replayed and foreign-campaign pushes change nothing, apiframe's
signature is checked in constant time, a large body is refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket

import aiohttp
import pytest

from batch_runner.journal import Journal
from batch_runner.keys import Secret
from batch_runner.providers import HttpRequest
from batch_runner.run.callbacks import (
    MAX_BODY_BYTES,
    CallbackHub,
    apiframe_signature_ok,
    callback_secret,
    parse_listen,
    still_running,
)
from batch_runner.simulator.callbacks import sign_apiframe


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def hub():
    port = free_port()
    hub = CallbackHub(f"http://127.0.0.1:{port}/br/", "spring.csv", "s" * 64)
    await hub.start("127.0.0.1", port)
    yield hub
    await hub.stop()


def submit(hub: CallbackHub, provider: str = "minimax", job_id: str = "job1", attempt: int = 0,
           key: str = "k") -> str:
    request = HttpRequest("POST", "http://provider/v1/video_generation", {}, {"prompt": "p"})
    sent = hub.attach(provider, request, job_id, attempt, Secret(key))
    assert sent.json is not None
    return str(sent.json.get("callback_url") or sent.json.get("webhookUrl") or hub.url(job_id, attempt))


async def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers or {}) as resp:
        return resp.status, await resp.read()


async def test_the_challenge_is_echoed_and_a_push_names_the_task(hub):
    url = submit(hub)
    assert url.startswith(hub.public_url + "/spring.csv/job1/0/")
    status, body = await post(url, b'{"challenge": "abc123"}')
    assert (status, json.loads(body)) == (200, {"challenge": "abc123"})
    status, _ = await post(url, b'{"task_id": "106916112212032", "status": "processing"}')
    assert status == 200
    assert await hub.named_task("job1", 0, 0.1) == "106916112212032"
    assert await hub.nap("job1", 0.2) is False  # "processing": a poll now would only read that
    status, _ = await post(url, b'{"task_id": "106916112212032", "status": "Success", "file_id": "1"}')
    assert status == 200
    assert await hub.nap("job1", 5.0) is True  # the push of its end woke the job's poll


async def test_a_push_of_a_task_that_runs_on_wakes_no_poll_one_of_its_end_or_of_no_word_does():
    assert still_running({"status": "Processing"}) and still_running({"data": {"status": "Queueing"}})
    assert still_running({"type": "progress", "status": "PROCESSING", "jobId": "x"})
    assert not still_running({"type": "completed", "status": "COMPLETED"})
    assert not still_running({"status": "success", "data": {"status": "Processing"}})  # mixed: wake
    assert not still_running({"task_id": "1"}) and not still_running(None) and not still_running([])


async def test_forged_foreign_and_other_attempt_pushes_change_nothing(hub):
    url = submit(hub)
    forged = url.rsplit("/", 1)[0] + "/" + "0" * 32
    foreign = url.replace("/spring.csv/", "/autumn.csv/")
    other_attempt = hub.url("job1", 1)  # a valid token, but not the attempt in flight
    assert (await post(forged, b'{"task_id": "1"}'))[0] == 404
    assert (await post(foreign, b'{"task_id": "2"}'))[0] == 404
    assert (await post(other_attempt, b'{"task_id": "3"}'))[0] == 200
    assert (await post(hub.public_url + "/nothing", b"{}"))[0] == 404
    assert await hub.named_task("job1", 0, 0.05) is None
    assert await hub.nap("job1", 0.01) is False
    assert hub.counts == {"forged": 1, "foreign": 1, "unknown_path": 2}


async def test_a_replayed_push_is_counted_and_harmless(hub):
    url = submit(hub)
    for _ in range(3):
        assert (await post(url, b'{"task_id": "7", "status": "success"}'))[0] == 200
    assert await hub.named_task("job1", 0, 0.05) == "7"
    assert hub.counts["duplicate"] == 2 and hub.counts["hint"] == 3


async def test_a_body_over_the_limit_is_refused(hub):
    url = submit(hub)
    status, _ = await post(url, b'{"task_id": "' + b"9" * MAX_BODY_BYTES + b'"}')
    assert status == 413
    assert await hub.named_task("job1", 0, 0.05) is None


async def test_a_flood_from_one_address_is_answered_429(hub, monkeypatch):
    monkeypatch.setattr("batch_runner.run.callbacks.MAX_PUSHES_PER_S", 3)
    url = submit(hub)
    statuses = [(await post(url, b'{"task_id": "7"}'))[0] for _ in range(12)]
    # at most 3 a second pass: over up to 3 seconds of a slow machine, at least 3 of 12 are refused
    assert statuses.count(429) >= 3 and statuses[0] == 200
    assert hub.counts["rate_limited"] == statuses.count(429)


def test_apiframe_signature_as_its_sdk_computes_it():
    body, key = b'{"jobId": "j1", "status": "completed"}', "af-key"
    expected = hmac.new(hashlib.sha256(key.encode()).digest(), body, hashlib.sha256).hexdigest()
    assert sign_apiframe(body, key) == f"sha256={expected}"
    assert apiframe_signature_ok(body, f"sha256={expected}", key)
    assert apiframe_signature_ok(body, expected, key)  # the SDK also takes the bare hex
    assert not apiframe_signature_ok(body + b" ", f"sha256={expected}", key)
    assert not apiframe_signature_ok(body, f"sha256={expected}", "another-key")
    assert not apiframe_signature_ok(body, None, key)


async def test_an_unsigned_apiframe_push_is_refused(hub):
    url = submit(hub, "apiframe", "job2", key="af-key")
    body = b'{"jobId": "j9", "status": "completed"}'
    assert (await post(url, body))[0] == 401
    assert (await post(url, body, {"x-webhook-signature": sign_apiframe(body, "wrong")}))[0] == 401
    assert await hub.named_task("job2", 0, 0.05) is None
    assert (await post(url, body, {"x-webhook-signature": sign_apiframe(body, "af-key")}))[0] == 200
    assert await hub.named_task("job2", 0, 0.05) == "j9"
    assert hub.counts["bad_signature"] == 2


def test_the_secret_is_kept_in_the_journal(tmp_path):
    with Journal(tmp_path / "j.sqlite") as journal:
        first = callback_secret(journal)
    with Journal(tmp_path / "j.sqlite") as journal:
        assert callback_secret(journal) == first and len(first) == 64


def test_listen_is_host_colon_port():
    assert parse_listen("127.0.0.1:8787") == ("127.0.0.1", 8787)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    for bad in ("8787", "host:", "host:99999", "host:x"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            parse_listen(bad)


def test_apiframe_submits_carry_the_webhook_and_its_terminal_events(hub):
    request = HttpRequest("POST", "http://provider/v2/videos/generate", {}, {"model": "hailuo-2.3", "prompt": "p"})
    sent = hub.attach("apiframe", request, "job3", 2, Secret("af-key"))
    assert sent.json == {"model": "hailuo-2.3", "prompt": "p", "webhookUrl": hub.url("job3", 2),
                         "webhookEvents": ["progress", "completed", "failed"]}


async def test_pushes_recorded_in_the_journal_reach_the_watched_jobs_signatures_checked(tmp_path):
    # what `batch-runner receive` records, a worker with --callback-listen none reads
    import asyncio

    with Journal(tmp_path / "j.sqlite") as journal:
        hub = CallbackHub("http://hooks.example.com/br/", "spring.csv", callback_secret(journal))
        submit(hub, "apiframe", "job2", key="af-key")
        submit(hub, "minimax", "job4")
        follow = asyncio.ensure_future(hub.follow_journal(journal, 0.01))
        await asyncio.sleep(0.05)
        body = '{"jobId": "j9", "status": "completed"}'
        journal.record_push("job2", 0, body, sign_apiframe(body.encode(), "wrong"))
        journal.record_push("job4", 0, '{"task_id": "m1"}', None)
        journal.record_push("job4", 0, '{"task_id": "m1"}', None)  # read once each: a replay is harmless
        journal.record_push("gone", 0, '{"task_id": "x"}', None)  # another worker's job: not counted here
        assert await hub.named_task("job4", 0, 2.0) == "m1"
        assert await hub.named_task("job2", 0, 0.1) is None
        journal.record_push("job2", 0, body, sign_apiframe(body.encode(), "af-key"))
        assert await hub.named_task("job2", 0, 2.0) == "j9"
        follow.cancel()
        assert hub.counts == {"bad_signature": 1, "hint": 3, "duplicate": 1}


async def test_apiframe_progress_pushes_name_the_task_and_wake_no_poll(hub):
    url = submit(hub, "apiframe", "job5", key="af-key")

    async def push(kind: str, progress: int) -> None:
        body = json.dumps({"jobId": "j5", "type": kind, "progress": progress}).encode()
        assert (await post(url, body, {"x-webhook-signature": sign_apiframe(body, "af-key")}))[0] == 200

    for step in (0, 30, 60):
        await push("progress", step)
    assert await hub.named_task("job5", 0, 0.05) == "j5"  # a lost submit answer can be adopted at once
    assert not await hub.nap("job5", 0.1)  # but no poll is due: the task is not done
    await push("completed", 100)
    assert await hub.nap("job5", 1.0)
