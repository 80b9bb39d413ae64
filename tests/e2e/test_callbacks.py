"""Callbacks first, polling as the backstop (issue 28), end to end on the simulator
over real HTTP on 127.0.0.1: MiniMax and gpt.ge submits whose answer is cut
after the provider made the task are adopted from the task's callback push,
verified by a poll; nothing is sent twice. With every push dropped the run
still finishes by polling (the cut ones ``unknown``, as without callbacks)."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections import Counter
from urllib.parse import unquote

import aiohttp
import pandas as pd
import pytest
import yaml

from batch_runner.app import RunRequest, execute

from conftest import sim_env

FAST = {"rpm": 6000, "max_in_flight": 10, "poll_interval_s": 0.05, "timeout_s": 2,
        "backoff_base_s": 0.05, "max_attempts": 3, "task_timeout_s": 10, "typical_generation_s": 0.3}
PROVIDERS = ("minimax", "gptge")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run_campaign(tmp_path, sim, jobs: int = 24, **request: object) -> pd.DataFrame:
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump({
        "providers": dict.fromkeys(PROVIDERS, FAST),
        "jobs": [{"prompt": f"a lighthouse at dusk, take {i}", "provider": PROVIDERS[i % 2]} for i in range(jobs)],
    }), encoding="utf-8")
    out = tmp_path / "results.csv"
    await execute(RunRequest(manifest=path, output=out, environ=sim_env(sim), speedup=1.0, quiet=True,
                             canary=False, **request))  # type: ignore[arg-type]
    return pd.read_csv(out, dtype=str, keep_default_na=False)


def made_tasks(sim) -> dict[str, list[str]]:
    """job id -> the task ids the providers made for it (from each submit's callback path)."""
    tasks: dict[str, list[str]] = {}
    for provider in PROVIDERS:
        for s in sim.store.submissions[provider]:
            job_id = unquote(s.body["callback_url"].rstrip("/").split("/")[-3])
            tasks.setdefault(job_id, []).append(s.task_id)
    return tasks


def cut(sim) -> int:
    return sum(1 for r in sim.store.requests if r.reason == "cut_after_create")


def cut_answers(sim, **knobs: float) -> None:
    for provider in PROVIDERS:
        cfg = sim.config.providers[provider]
        cfg.cut_after_create_rate = 0.3
        for name, value in knobs.items():
            setattr(cfg, name, value)


async def test_lost_submit_answers_are_adopted_from_callbacks(tmp_path, sim):
    cut_answers(sim)
    port = free_port()
    df = await run_campaign(tmp_path, sim, callback_url=f"http://127.0.0.1:{port}/hooks/",
                            callback_listen=f"127.0.0.1:{port}")
    assert cut(sim) >= 2  # the case this is about happened (seeded; 30 % of 24)
    assert Counter(df["status"]) == {"succeeded": 24}
    tasks = made_tasks(sim)
    assert sorted(tasks) == sorted(df["job_id"])
    assert all(len(ids) == 1 for ids in tasks.values())  # 0 submits sent twice
    assert {row.job_id: row.task_id for row in df.itertuples()} == {j: ids[0] for j, ids in tasks.items()}


async def test_every_push_dropped_still_finishes_by_polling(tmp_path, sim):
    cut_answers(sim, callback_drop_rate=1.0)
    port = free_port()
    df = await run_campaign(tmp_path, sim, callback_url=f"http://127.0.0.1:{port}/hooks",
                            callback_listen=f"127.0.0.1:{port}")
    lost = cut(sim)
    assert lost >= 2
    assert Counter(df["status"]) == {"succeeded": 24 - lost, "unknown": lost}
    assert all(len(ids) == 1 for ids in made_tasks(sim).values())
    assert not [p for p in sim.store.pushes if p[1] == "push" and p[4] != "dropped"]


async def test_with_callbacks_each_task_is_polled_about_once(tmp_path, sim):
    port = free_port()
    df = await run_campaign(tmp_path, sim, jobs=8, callback_url=f"http://127.0.0.1:{port}/hooks",
                            callback_listen=f"127.0.0.1:{port}")
    assert Counter(df["status"]) == {"succeeded": 8}
    polls = sum(1 for r in sim.store.requests if r.kind == "poll")
    # one at the push of its end (the `processing` push wakes none: a poll would only read that),
    # none wasted before; a push late under load may let the backstop poll once more (3 slack).
    # Polling alone takes 4-6 a job here (bench/callbacks.py --smoke)
    assert polls <= 8 + 3


async def test_a_transient_failure_of_the_checking_poll_does_not_lose_the_task(tmp_path, sim):
    # 70 % of all answers are a proxy's 502 page: the poll that checks a pushed task id
    # often fails once or twice before it reads the task; the job is adopted all the same
    cut_answers(sim, html_error_rate=0.7)
    port = free_port()
    df = await run_campaign(tmp_path, sim, callback_url=f"http://127.0.0.1:{port}/hooks",
                            callback_listen=f"127.0.0.1:{port}")
    # the case happened (with 70 % of answers refused before a task is made, fewer submits get
    # as far as a task whose answer is then cut: one is enough)
    assert cut(sim) >= 1
    tasks = made_tasks(sim)
    assert all(len(ids) == 1 for ids in tasks.values())
    # every task the providers made is a succeeded job's (a submit refused by 502s three
    # times made none: that job may end failed, never unknown)
    done = {row.job_id: row.task_id for row in df.itertuples() if row.status == "succeeded"}
    assert {j: ids[0] for j, ids in tasks.items()} == done
    assert "unknown" not in set(df["status"])


async def test_forged_and_foreign_pushes_during_a_run_change_nothing(tmp_path, sim):
    # every real push dropped; an attacker who sees each submit's callback path pushes
    # another job's task id to it with a wrong token, and to another campaign's path
    cut_answers(sim, callback_drop_rate=1.0)
    port = free_port()
    sent: list[int] = []

    async def attacker() -> None:
        seen = 0
        async with aiohttp.ClientSession() as session:
            while True:
                subs = [s for p in PROVIDERS for s in sim.store.submissions[p]]
                for i in range(seen, len(subs)):
                    path, _, _ = subs[i].body["callback_url"].rpartition("/")
                    other = subs[i - 1].task_id if i else "123456789012345"
                    campaign = path.split("/")[-3]
                    for url in (f"{path}/{'0' * 32}", subs[i].body["callback_url"].replace(
                            f"/{campaign}/", "/another.yaml/")):
                        async with session.post(url, json={"task_id": other, "status": "success"}) as resp:
                            sent.append(resp.status)
                seen = len(subs)
                await asyncio.sleep(0.02)

    attack = asyncio.ensure_future(attacker())
    try:
        df = await run_campaign(tmp_path, sim, callback_url=f"http://127.0.0.1:{port}/hooks",
                                callback_listen=f"127.0.0.1:{port}")
    finally:
        attack.cancel()
    lost = cut(sim)
    assert lost >= 2 and len(sent) >= 2 * 24 - 4 and set(sent) == {404}
    assert Counter(df["status"]) == {"succeeded": 24 - lost, "unknown": lost}  # nothing adopted from a forgery
    tasks = made_tasks(sim)
    assert all(row.task_id == tasks[row.job_id][0] for row in df.itertuples() if row.status == "succeeded")


async def test_duplicated_and_late_pushes_are_harmless(tmp_path, sim):
    cut_answers(sim, callback_duplicate_rate=1.0, callback_delay_s=0.2)
    port = free_port()
    df = await run_campaign(tmp_path, sim, jobs=12, callback_url=f"http://127.0.0.1:{port}/hooks",
                            callback_listen=f"127.0.0.1:{port}")
    assert cut(sim) >= 1
    assert Counter(df["status"]) == {"succeeded": 12}
    assert all(len(ids) == 1 for ids in made_tasks(sim).values())


@pytest.mark.parametrize("attempts", [1, 3])
async def test_apiframe_lost_submit_answers_are_adopted_from_its_signed_webhooks(tmp_path, sim, attempts):
    # apiframe replays a job for the same Idempotency-Key, so a retried submit (attempts 3)
    # finds the task again by itself, whether its push came first or not; adoption matters
    # when no retry is left (attempts 1 here; else the provider's outage after the task was
    # made). The push is checked against the key's signature (x-webhook-signature), then
    # the task it names is polled and adopted.
    cfg = sim.config.providers["apiframe"]
    cfg.cut_after_create_rate = 0.3
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump({
        "providers": {"apiframe": {**FAST, "max_attempts": attempts}},
        "jobs": [{"prompt": f"a lighthouse at dusk, take {i}", "provider": "apiframe"} for i in range(20)],
    }), encoding="utf-8")
    port = free_port()
    out = tmp_path / "results.csv"
    await execute(RunRequest(manifest=path, output=out, environ=sim_env(sim), speedup=1.0, quiet=True, canary=False,
                             callback_url=f"http://127.0.0.1:{port}/hooks/", callback_listen=f"127.0.0.1:{port}"))
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert cut(sim) >= 2
    subs = sim.store.submissions["apiframe"]
    assert all(s.body["webhookEvents"] == ["progress", "completed", "failed"] for s in subs)
    tasks: dict[str, list[str]] = {}
    for s in subs:
        tasks.setdefault(unquote(s.body["webhookUrl"].rstrip("/").split("/")[-3]), []).append(s.task_id)
    assert Counter(df["status"]) == {"succeeded": 20}  # 0 unknown
    assert all(len(ids) == 1 for ids in tasks.values())  # 0 sent twice
    assert {row.job_id: row.task_id for row in df.itertuples()} == {j: ids[0] for j, ids in tasks.items()}
    pushed = [p for p in sim.store.pushes if p[0] == "apiframe" and p[1] == "push"]
    assert len(pushed) >= 20 and {p[3] for p in pushed} == {200}  # each signature accepted


async def test_a_task_whose_polls_fail_at_its_deadline_is_polled_again_not_timed_out(tmp_path, sim):
    # apiframe's 429 carries a Retry-After (1 s at least). Here every answer is a 429 from just
    # after the task is made until 2 s later, past the task's 1.5 s deadline: its `completed`
    # push wakes a poll that is refused, and so is the one at the deadline. The task succeeded at
    # the provider; the job must not end `timeout` on a refused poll (bench/callbacks.py
    # --providers apiframe lost 2-4 results of 100 this way), it is polled again after the wait
    cfg = sim.config.providers["apiframe"]
    cfg.window_s = 1.0  # its rate window: a Retry-After of 1 s
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump({
        "providers": {"apiframe": {**FAST, "task_timeout_s": 1.5}},
        "jobs": [{"prompt": "a lighthouse at dusk", "provider": "apiframe"}],
    }), encoding="utf-8")

    async def refuse_for_a_while() -> None:
        for _ in range(1000):  # until the task is made (10 s at most)
            if sim.store.submissions["apiframe"]:
                break
            await asyncio.sleep(0.01)
        cfg.rate_limit_rate = 1.0
        await asyncio.sleep(2.0)
        cfg.rate_limit_rate = 0.0

    refusals = asyncio.ensure_future(refuse_for_a_while())
    port = free_port()
    out = tmp_path / "results.csv"
    try:
        await execute(RunRequest(manifest=path, output=out, environ=sim_env(sim), speedup=1.0, quiet=True,
                                 canary=False, callback_url=f"http://127.0.0.1:{port}/hooks/",
                                 callback_listen=f"127.0.0.1:{port}"))
    finally:
        refusals.cancel()
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    refused = [r for r in sim.store.requests if r.kind == "poll" and r.reason == "rate_limit"]
    assert len(refused) >= 2  # the case happened: the woken poll and the one at the deadline refused
    (task,) = sim.store.submissions["apiframe"]
    assert list(df["status"]) == ["succeeded"] and list(df["task_id"]) == [task.task_id]


def late_campaign(tmp_path, jobs: int, long_job: bool) -> RunRequest:
    """MiniMax jobs (their pushes come late), and with ``long_job`` one gpt-proto job
    (polled only) whose 3 s task keeps the run up after they end."""
    rows = [{"prompt": f"a lighthouse at dusk, take {i}", "provider": "minimax"} for i in range(jobs)]
    if long_job:
        rows.append({"prompt": "a slow harbour pan", "provider": "gptproto"})
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump({"providers": {"minimax": FAST, "gptproto": {**FAST, "typical_generation_s": 3}},
                                    "jobs": rows}), encoding="utf-8")
    return RunRequest(manifest=path, output=tmp_path / "results.csv", environ={}, speedup=1.0, quiet=True,
                      canary=False)


def minimax_tasks(sim) -> dict[str, list[str]]:
    tasks: dict[str, list[str]] = {}
    for s in sim.store.submissions["minimax"]:
        tasks.setdefault(unquote(s.body["callback_url"].rstrip("/").split("/")[-3]), []).append(s.task_id)
    return tasks


async def test_a_push_after_its_job_ended_unknown_adopts_the_task_while_the_run_is_up(tmp_path, sim):
    # every MiniMax push comes 2 s late, after the backstop (0.9 s): the jobs whose submit
    # answer was cut end `unknown` first; the gpt-proto job keeps the run up until their
    # pushes come, and then each is adopted (a poll of the named task with the job's key)
    cfg = sim.config.providers["minimax"]
    cfg.cut_after_create_rate, cfg.callback_delay_s = 0.3, 2.0
    sim.config.providers["gptproto"].generation_s = 3.0
    port = free_port()
    request = late_campaign(tmp_path, 10, long_job=True)
    request = dataclasses.replace(request, environ=sim_env(sim), callback_url=f"http://127.0.0.1:{port}/hooks/",
                                  callback_listen=f"127.0.0.1:{port}")
    await execute(request)
    df = pd.read_csv(request.output, dtype=str, keep_default_na=False)
    assert cut(sim) >= 1  # the case happened (seeded)
    assert Counter(df["status"]) == {"succeeded": 11}
    tasks = minimax_tasks(sim)
    assert all(len(ids) == 1 for ids in tasks.values())  # nothing sent again
    assert {r.job_id: r.task_id for r in df.itertuples() if r.provider == "minimax"} == \
        {j: ids[0] for j, ids in tasks.items()}


async def test_a_push_that_comes_after_the_run_ended_is_adopted_by_the_next_run(tmp_path, sim):
    # the first run ends with its cut jobs `unknown` before their (3 s late) pushes come; the
    # next run, started at once with the same callback URL and kept up by a new gpt-proto row,
    # receives them: each is recorded in the journal and its task adopted, nothing sent again
    cfg = sim.config.providers["minimax"]
    cfg.cut_after_create_rate, cfg.callback_delay_s = 0.3, 3.0
    sim.config.providers["gptproto"].generation_s = 4.0
    port = free_port()
    def hooked(request: RunRequest) -> RunRequest:
        return dataclasses.replace(request, environ=sim_env(sim), callback_url=f"http://127.0.0.1:{port}/hooks/",
                                   callback_listen=f"127.0.0.1:{port}")

    await execute(hooked(late_campaign(tmp_path, 10, long_job=False)))
    first = pd.read_csv(tmp_path / "results.csv", dtype=str, keep_default_na=False)
    lost = cut(sim)
    assert lost >= 1 and Counter(first["status"]) == {"succeeded": 10 - lost, "unknown": lost}
    await execute(hooked(late_campaign(tmp_path, 10, long_job=True)))
    df = pd.read_csv(tmp_path / "results.csv", dtype=str, keep_default_na=False)
    assert Counter(df["status"]) == {"succeeded": 11}
    tasks = minimax_tasks(sim)
    assert all(len(ids) == 1 for ids in tasks.values())  # nothing sent again
    assert {r.job_id: r.task_id for r in df.itertuples() if r.provider == "minimax"} == \
        {j: ids[0] for j, ids in tasks.items()}


async def test_a_failed_files_retrieve_is_asked_again_not_the_query_before_it(tmp_path, sim):
    # MiniMax's poll is a query, then files/retrieve for the video's URL; 40 % of answers are a
    # proxy's 502 page. A retrieve that fails is asked again by the next poll: the task is not
    # queried again once its query read it finished (each such query was a poll more per job)
    cfg = sim.config.providers["minimax"]
    cfg.html_error_rate = 0.4
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump({"providers": {"minimax": FAST}, "jobs": [
        {"prompt": f"a lighthouse at dusk, take {i}", "provider": "minimax"} for i in range(12)]}), encoding="utf-8")
    port = free_port()
    await execute(RunRequest(manifest=path, output=tmp_path / "results.csv", environ=sim_env(sim), speedup=1.0,
                             quiet=True, canary=False, callback_url=f"http://127.0.0.1:{port}/hooks/",
                             callback_listen=f"127.0.0.1:{port}"))
    asked = [r for r in sim.store.requests if r.kind in ("poll", "retrieve") and r.task_id]
    assert any(r.kind == "retrieve" and r.reason == "html" for r in asked)  # the case happened
    for task_id in {r.task_id for r in asked}:
        kinds = [r.kind for r in asked if r.task_id == task_id]
        assert "poll" not in kinds[kinds.index("retrieve"):] if "retrieve" in kinds else True, kinds


@pytest.mark.parametrize("callbacks", [False, True])
async def test_a_task_made_by_a_try_whose_answer_was_lost_is_not_undone_by_later_refusals(tmp_path, sim, callbacks):
    # apiframe (it replays a job for the same Idempotency-Key, so its submits are retried even
    # when a try may have been taken): the first try makes the task but its answer comes too
    # late; the two retries get 503s. The job is not `failed` (nothing paid, free to submit
    # again with a new key: a second paid task): it is `unknown`, sent again under the same key
    # by the next run; with callbacks its push names the task and it is adopted at once
    cfg = sim.config.providers["apiframe"]
    cfg.slow_rate, cfg.slow_s = 1.0, 1.0
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump({
        "providers": {"apiframe": {**FAST, "timeout_s": 0.5}},
        "jobs": [{"prompt": "a lighthouse at dusk", "provider": "apiframe"}],
    }), encoding="utf-8")

    async def refuse_the_retries() -> None:
        for _ in range(1000):  # until the first try made the task (10 s at most)
            if sim.store.submissions["apiframe"]:
                break
            await asyncio.sleep(0.01)
        cfg.slow_rate, cfg.error_rate = 0.0, 1.0
        for _ in range(1000):  # until the two retries were refused
            if sum(1 for r in sim.store.requests if r.kind == "submit" and r.reason == "server_error") >= 2:
                break
            await asyncio.sleep(0.01)
        cfg.error_rate = 0.0

    refusals = asyncio.ensure_future(refuse_the_retries())
    port = free_port()
    hooks = {"callback_url": f"http://127.0.0.1:{port}/hooks/", "callback_listen": f"127.0.0.1:{port}"}
    try:
        await execute(RunRequest(manifest=path, output=tmp_path / "results.csv", environ=sim_env(sim), speedup=1.0,
                                 quiet=True, canary=False, **(hooks if callbacks else {})))  # type: ignore[arg-type]
    finally:
        refusals.cancel()
    df = pd.read_csv(tmp_path / "results.csv", dtype=str, keep_default_na=False)
    (task,) = sim.store.submissions["apiframe"]  # one task made, never a second
    assert sum(1 for r in sim.store.requests if r.kind == "submit" and r.reason == "server_error") == 2
    if callbacks:
        assert list(df["status"]) == ["succeeded"] and list(df["task_id"]) == [task.task_id]
    else:
        assert list(df["status"]) == ["unknown"]
