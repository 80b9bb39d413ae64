"""Adapter behaviour beyond the contract suite (tests/contract/), which reads every
documented example body in tests/fixtures/<provider>/: the exact request body
each provider documents, MiniMax's HTTP-200 errors, and keys kept out of reprs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from batch_runner.errors import ProviderError
from batch_runner.jobs.model import Job
from batch_runner.keys import Secret
from batch_runner.providers import ADAPTERS, HttpResponse

KEY = "test-key-123456"


def adapter(name: str):
    return ADAPTERS[name]("https://example.test", Secret(KEY))


def job(**kw) -> Job:
    base: dict[str, Any] = {"job_id": "abc123", "index": 0, "row": 2, "name": "n", "variant": 1, "provider": "minimax",
            "model": "hailuo-2.3", "scene": "text-to-video", "prompt": "a cat [推进]", "image": None,
            "end_image": None, "duration": 6, "resolution": "768P"}
    base.update(kw)
    return Job(**base)


@pytest.mark.parametrize("provider", ["minimax", "gptge"])
@pytest.mark.parametrize(
    "status, code, error_code",
    [
        ("Success", 1027, "content_policy"),  # must not be read as success (no files/retrieve)
        ("Processing", 1004, "auth"),          # must not be read as still running
        ("", 2049, "auth"),                    # must not be read as pending
        ("Queueing", 1002, "rate_limited"),
    ],
)
def test_minimax_query_with_nonzero_base_resp_is_an_error(provider, status, code, error_code):
    # HTTP 200 with a non-zero base_resp.status_code is an error whatever the
    # status word says; only "Fail" is terminal regardless, as MiniMax's own client
    # reads it (https://github.com/MiniMax-AI/MiniMax-MCP, minimax_mcp/server.py).
    body = {"task_id": "1", "status": status, "file_id": "2" if status == "Success" else "",
            "base_resp": {"status_code": code, "status_msg": "x"}}
    with pytest.raises(ProviderError) as info:
        adapter(provider).read_poll(HttpResponse(200, {}, json.dumps(body).encode()))
    assert (info.value.error_code, info.value.provider_code) == (error_code, str(code))


@pytest.mark.parametrize("provider", ["minimax", "gptge"])
def test_minimax_fail_is_terminal_whatever_base_resp_says(provider):
    for code, error_code in ((1027, "content_policy"), (0, "task_failed")):
        body = {"task_id": "1", "status": "Fail", "base_resp": {"status_code": code, "status_msg": "m"}}
        state = adapter(provider).read_poll(HttpResponse(200, {}, json.dumps(body).encode()))
        assert (state.status, state.error_code) == ("failed", error_code)


def test_request_shapes_follow_each_spec():
    j = job(image="https://x.test/a.jpg", scene="image-to-video", duration=10, prompt_optimizer=False)
    mm = adapter("minimax").build_submit(j)
    assert mm.url == "https://example.test/v1/video_generation"
    assert mm.headers["Authorization"] == f"Bearer {KEY}"
    assert mm.json["model"] == "MiniMax-Hailuo-2.3" and mm.json["first_frame_image"] == "https://x.test/a.jpg"
    assert mm.json["resolution"] == "768P" and mm.json["duration"] == 10

    ge = adapter("gptge").build_submit(j)
    assert ge.url.endswith("/task/minimax/v1/video_generation")
    assert {"duration", "resolution"} <= set(ge.json)
    assert adapter("gptge").build_poll("77").url == "https://example.test/task/77"

    gc = adapter("gccai").build_submit(j)
    assert gc.json["resolution"] == "768p" and gc.json["prompt_optimizer"] is False

    gp = adapter("gptproto").build_submit(j)
    assert gp.url.endswith("/api/v3/minimax/hailuo-2.3-standard/image-to-video")
    assert gp.headers["Authorization"] == KEY  # raw key, as the documented examples
    assert gp.json["image"] == "https://x.test/a.jpg" and gp.json["enable_prompt_expansion"] is False

    ai = adapter("apiinone").build_submit(j)
    assert ai.json == {"model": "hailuo/2-3-image-to-video-standard", "prompt": "a cat [推进]",
                       "image": "https://x.test/a.jpg", "duration": "10", "resolution": "768P"}

    af = adapter("apiframe").build_submit(j)
    assert af.headers["X-API-Key"] == KEY and af.headers["Idempotency-Key"].endswith("abc123")
    assert af.json == {"model": "hailuo-2.3", "prompt": "a cat [推进]",
                       "hailuoParams": {"duration": 10, "resolution": "768p",
                                        "image": "https://x.test/a.jpg", "prompt_optimizer": False}}


def test_reprs_hide_the_key():
    for name in ADAPTERS:
        a = adapter(name)
        model = "hailuo-2.3" if "hailuo-2.3" in a.info.models else next(iter(a.info.models))
        req = a.build_submit(job(provider=name, model=model, image="https://x.test/a.jpg", scene="image-to-video"))
        assert KEY not in repr(a) and KEY not in repr(req) and KEY not in json.dumps(req.json)


@pytest.mark.parametrize("status", [400, 503])
def test_gptproto_content_policy_is_permanent_even_as_its_documented_503(status):
    """gptproto documents "503 Content policy violation (actual status code is
    400)": either way it is content_policy, never retried as a 5xx."""
    body = json.dumps({"error": {"message": "Content policy violation: content blocked due to safety concerns",
                                 "type": "invalid_request_error", "code": "content_policy_violation"}}).encode()
    with pytest.raises(ProviderError) as info:
        adapter("gptproto").parse_submit(HttpResponse(status, {}, body))
    assert info.value.error_code == "content_policy" and info.value.retryable is False
    plain = json.dumps({"error": {"message": "internal server error", "type": "server_error"}}).encode()
    with pytest.raises(ProviderError) as info:
        adapter("gptproto").parse_submit(HttpResponse(503, {}, plain))
    assert info.value.error_code == "provider_error" and info.value.retryable is True
