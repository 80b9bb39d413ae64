"""The canary: on first contact with a provider one job goes alone, its video's first
bytes are checked, then the others go; against the simulator over HTTP on 127.0.0.1."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
import yaml

from batch_runner.app import RunRequest, execute

from conftest import sim_env, simulator_in_thread

FAST = {"rpm": 6000, "max_in_flight": 10, "poll_interval_s": 0.05, "timeout_s": 2,
        "backoff_base_s": 0.05, "max_attempts": 3, "task_timeout_s": 5, "typical_generation_s": 0.2}


async def run_yaml(tmp_path, sim, data: dict, env: dict | None = None, **options) -> tuple[int, pd.DataFrame]:
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    out = tmp_path / "results.csv"
    request = RunRequest(manifest=path, output=out, environ={**sim_env(sim), **(env or {})},
                         speedup=1.0, quiet=True, **options)
    status = await execute(request)
    return status, pd.read_csv(out, dtype=str, keep_default_na=False)


def requests_of(sim, provider: str, kind: str) -> list:
    return [r for r in sim.store.requests if r.provider == provider and r.kind == kind]


def summary_text(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records)


async def test_first_contact_sends_one_job_then_the_rest_after_its_video_is_seen(tmp_path, sim):
    jobs = [{"prompt": f"shot {i}", "provider": "gccai"} for i in range(4)]
    jobs += [{"prompt": f"other {i}", "provider": "minimax"} for i in range(2)]
    status, df = await run_yaml(tmp_path, sim, {"providers": {"gccai": FAST, "minimax": FAST}, "jobs": jobs})
    assert status == 0 and set(df["status"]) == {"succeeded"}
    submits = [r for r in requests_of(sim, "gccai", "submit") if r.accepted]
    (video,) = requests_of(sim, "gccai", "video")  # the canary's first bytes, nothing else (no --download)
    assert video.range_start == 0 and video.task_id == submits[0].task_id
    assert len(submits) == 4
    assert all(s.t > video.t for s in submits[1:])  # the others only after the canary's video was read
    assert len(requests_of(sim, "minimax", "video")) == 1  # each provider has its own canary


async def test_a_content_policy_canary_passes_the_role_to_the_next_job(tmp_path, sim):
    marker = sim.config.providers["gptproto"].content_policy_marker
    jobs = [{"prompt": f"bad {marker}", "provider": "gptproto"}]
    jobs += [{"prompt": f"shot {i}", "provider": "gptproto"} for i in range(3)]
    status, df = await run_yaml(tmp_path, sim, {"providers": {"gptproto": FAST}, "jobs": jobs})
    assert status == 1  # the refused job
    assert df.loc[0, "error_code"] == "content_policy"
    assert set(df.loc[1:, "status"]) == {"succeeded"}
    submits = requests_of(sim, "gptproto", "submit")
    (video,) = requests_of(sim, "gptproto", "video")
    accepted = [s for s in submits if s.accepted]
    assert video.task_id == accepted[0].task_id  # the second job was the canary
    assert [s.accepted for s in submits[:2]] == [False, True]
    assert all(s.t > video.t for s in submits[2:])


async def test_a_bad_key_canary_stops_that_provider_while_the_others_finish(tmp_path, sim, caplog):
    jobs = [{"prompt": f"shot {i}", "provider": "apiframe"} for i in range(5)]
    jobs += [{"prompt": f"other {i}", "provider": "minimax"} for i in range(3)]
    with caplog.at_level(logging.INFO, logger="batch_runner"):
        status, df = await run_yaml(tmp_path, sim, {"providers": {"apiframe": FAST, "minimax": FAST}, "jobs": jobs},
                                    env={"APIFRAME_API_KEY": "wrong-key-000"})
    assert status == 1
    assert len(requests_of(sim, "apiframe", "submit")) == 1  # one failing submit, no other job sent
    apiframe = df[df["provider"] == "apiframe"]
    assert apiframe.iloc[0]["error_code"] == "auth"
    assert set(apiframe.iloc[1:]["status"]) == {"pending"}
    assert set(df[df["provider"] == "minimax"]["status"]) == {"succeeded"}
    text = summary_text(caplog)
    assert "apiframe: the canary (first job) failed (auth:" in text
    assert "4 other jobs not submitted (pending): check the API key in APIFRAME_API_KEY, then run again" in text


async def test_a_video_url_that_serves_a_web_page_stops_the_provider_and_fallbacks_take_over(tmp_path, sim, caplog):
    sim.config.providers["gccai"].not_video = True
    jobs: list[dict[str, object]] = [{"prompt": f"shot {i}", "provider": "gccai"} for i in range(3)]
    jobs += [{"prompt": f"moved {i}", "provider": ["gccai", "apiframe"]} for i in range(2)]
    with caplog.at_level(logging.INFO, logger="batch_runner"):
        status, df = await run_yaml(tmp_path, sim, {"providers": {"gccai": FAST, "apiframe": FAST}, "jobs": jobs})
    assert status == 1
    assert len(requests_of(sim, "gccai", "submit")) == 1  # the canary's video was a page: nothing more sent
    assert df.loc[0, "status"] == "failed" and df.loc[0, "error_code"] == "not_video"
    assert df.loc[0, "task_id"]  # the paid task is kept
    assert list(df.loc[1:2, "status"]) == ["pending", "pending"]
    moved = df[df["prompt"].str.startswith("moved")]
    assert set(moved["status"]) == {"succeeded"} and set(moved["provider"]) == {"apiframe"}
    text = summary_text(caplog)
    assert "gccai: the canary (first job) failed (not_video: the video URL served an HTML page" in text
    assert "2 other jobs not submitted (pending), 2 moved to their fallback provider" in text
    assert "check GCCAI_BASE_URL" in text


async def test_a_journal_with_a_video_from_the_provider_sends_no_canary(tmp_path, sim):
    first = [{"prompt": "shot 0", "provider": "gccai"}]
    status, _ = await run_yaml(tmp_path, sim, {"providers": {"gccai": FAST}, "jobs": first})
    assert status == 0 and len(requests_of(sim, "gccai", "video")) == 1
    more = first + [{"prompt": f"shot {i}", "provider": "gccai"} for i in range(1, 5)]
    status, df = await run_yaml(tmp_path, sim, {"providers": {"gccai": FAST}, "jobs": more})
    assert status == 0 and set(df["status"]) == {"succeeded"}
    assert len(requests_of(sim, "gccai", "video")) == 1  # no new canary fetch
    second = [r for r in requests_of(sim, "gccai", "submit") if r.accepted][1:]
    assert len(second) == 4 and max(r.t for r in second) - min(r.t for r in second) < 0.2  # sent together


async def test_no_canary_sends_every_job_at_once(tmp_path, sim):
    jobs = [{"prompt": f"shot {i}", "provider": "gccai"} for i in range(4)]
    status, df = await run_yaml(tmp_path, sim, {"providers": {"gccai": FAST}, "jobs": jobs}, canary=False)
    assert status == 0 and set(df["status"]) == {"succeeded"}
    assert not requests_of(sim, "gccai", "video")
    submits = requests_of(sim, "gccai", "submit")
    assert len(submits) == 4 and max(r.t for r in submits) - min(r.t for r in submits) < 0.2


def test_cli_no_canary_and_the_plan_counts_the_canary(cli, tmp_path):
    path = tmp_path / "m.yaml"
    slow = {**FAST, "typical_generation_s": 100, "max_in_flight": 10}
    path.write_text(yaml.safe_dump({"providers": {"gccai": slow},
                                    "jobs": [{"prompt": f"s {i}", "provider": "gccai"} for i in range(4)]}))
    with_canary = cli("plan", path, "--format", "json")
    without = cli("plan", path, "--format", "json", "--no-canary")
    assert with_canary.exit_code == 0 and without.exit_code == 0, with_canary.output
    wall = [yaml.safe_load(r.stdout)["total"]["wall_s"] for r in (with_canary, without)]
    assert wall[0] - wall[1] >= 99  # one more generation time
    fast = tmp_path / "fast.yaml"
    fast.write_text(yaml.safe_dump({"providers": {"gccai": FAST},
                                    "jobs": [{"prompt": f"s {i}", "provider": "gccai"} for i in range(4)]}))
    with simulator_in_thread() as running:
        result = cli("run", fast, "--no-canary", "-o", tmp_path / "r.csv", env=sim_env(running))
        assert result.exit_code == 0, result.output
        assert not [r for r in running.store.requests if r.kind == "video"]


IMAGE_URL = "https://images.example/first.jpg"  # apiframe and apiinone take image URLs; apiinone is i2v only


@pytest.mark.parametrize(("provider", "variant"), [
    ("minimax", ""), ("gptge", ""), ("gccai", ""), ("gptproto", ""), ("apiinone", ""), ("apiframe", ""),
    ("gccai", "v2"), ("gptge", "wrapped"), ("minimax", "unknown"), ("gptge", "unknown")])
async def test_every_provider_and_documented_variant_passes_its_canary_first(tmp_path, sim, provider, variant):
    sim.config.providers[provider].answer_variant = variant
    job = {"provider": provider, **({"image": IMAGE_URL} if provider == "apiinone" else {})}
    jobs = [{**job, "prompt": f"shot {i}"} for i in range(3)]
    status, df = await run_yaml(tmp_path, sim, {"providers": {provider: FAST}, "jobs": jobs})
    assert status == 0 and set(df["status"]) == {"succeeded"}, df[["status", "error_message"]]
    submits = [r for r in requests_of(sim, provider, "submit") if r.accepted]
    first_video = min(r.t for r in requests_of(sim, provider, "video"))
    assert len(submits) == 3 and submits[0].t < first_video < min(s.t for s in submits[1:])
