"""Each documented variant of a provider's answers (simulator knob ``answer_variant``,
``refusal_code``) read right through the CLI, over HTTP on 127.0.0.1."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from batch_runner.journal import Journal

from conftest import run_cli

FAST = {"rpm": 6000, "max_in_flight": 10, "poll_interval_s": 0.05, "timeout_s": 2,
        "backoff_base_s": 0.05, "max_attempts": 2, "task_timeout_s": 8, "typical_generation_s": 0.3}
IMAGE = "https://images.example/first.jpg"




def campaign(tmp_path: Path, provider: str, n: int = 1, image: str | None = None) -> Path:
    job = {"prompt": "a lighthouse at dusk", "provider": provider, **({"image": image} if image else {})}
    manifest = tmp_path / "campaign.yaml"
    manifest.write_text(yaml.safe_dump({"providers": {provider: FAST}, "jobs": [dict(job, name=f"j{i}")
                                                                               for i in range(n)]}),
                        encoding="utf-8")
    return manifest


@pytest.mark.parametrize("provider, variant", [("gccai", "v2"), ("gptge", "wrapped"), ("minimax", "unknown"),
                                               ("gptge", "unknown")])
async def test_a_documented_answer_variant_gives_the_video(tmp_path, sim, provider, variant):
    sim.config.providers[provider].answer_variant = variant
    out = tmp_path / "results.csv"
    code, err = await run_cli(campaign(tmp_path, provider), out, sim)
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert code == 0 and list(df["status"]) == ["succeeded"], err
    assert f"/videos/{provider}/" in df["video_url"][0]
    if provider == "gccai":  # no expires_at in the answer: 72 h from its completion
        left = pd.Timestamp(df["url_expires_at"][0]).timestamp() - time.time()
        assert 72 * 3600 - 60 < left <= 72 * 3600
        with Journal(tmp_path / "campaign.yaml.journal.sqlite", lock=False) as journal:
            (record,) = journal.records()
        assert record.idempotency_key == f"batch-runner-{df['job_id'][0]}"  # sent; gccai not trusted to dedupe


async def test_a_gccai_success_false_answer_is_read_as_its_error(tmp_path, sim):
    sim.config.providers["gccai"].answer_variant = "v2"
    sim.config.providers["gccai"].balance = 0  # HTTP 200 {"success": false, "code": 402, ...}
    out = tmp_path / "results.csv"
    code, err = await run_cli(campaign(tmp_path, "gccai", 3), out, sim)
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert code == 1 and set(df["error_code"]) == {"insufficient_balance"}, err
    assert len(sim.store.submissions["gccai"]) == 0


@pytest.mark.parametrize("code, error_code", [(1028, "quota_exhausted"), (1030, "quota_exhausted"),
                                              (2061, "not_on_plan")])
async def test_a_minimax_quota_or_plan_refusal_opens_the_breaker_after_one_request(tmp_path, sim, code,
                                                                                     error_code):
    sim.config.providers["minimax"].refusal_code = code
    out = tmp_path / "results.csv"
    status, err = await run_cli(campaign(tmp_path, "minimax", 4), out, sim)
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert status == 1 and set(df["error_code"]) == {error_code}, err
    sent = [r for r in sim.store.requests if r.provider == "minimax" and r.kind == "submit"]
    assert len(sent) == 1  # one request, not one per job


async def test_an_expired_apiframe_job_is_recorded_expired_and_its_download_fails_clearly(tmp_path, sim):
    sim.config.providers["apiframe"].answer_variant = "expired"
    out = tmp_path / "results.csv"
    code, err = await run_cli(campaign(tmp_path, "apiframe"), out, sim, "--download", str(tmp_path / "videos"),
                              "--no-canary")  # a purged video is what the canary would stop on
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(df["status"]) == ["succeeded"], err
    assert pd.Timestamp(df["url_expires_at"][0]).timestamp() <= time.time()  # recorded as already expired
    assert code != 0 and "expired" in err.lower(), err  # the download fails, saying why
    assert not list(tmp_path.rglob("*.mp4"))
    assert [r.reason for r in sim.store.requests if r.kind == "video"] in ([], ["expired"])


async def test_apiinone_refusing_the_default_model_value_says_which_model(tmp_path, sim):
    sim.config.providers["apiinone"].answer_variant = "short_model"
    out = tmp_path / "results.csv"
    code, err = await run_cli(campaign(tmp_path, "apiinone", image=IMAGE), out, sim)
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert code == 1 and list(df["error_code"]) == ["invalid_request"], err
    assert "hailuo-2-3" in df["error_message"][0]
